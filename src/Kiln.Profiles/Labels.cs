using System.Collections;
using System.Text;

namespace Kiln.Profiles;

/// <summary>One label: a name and a value.</summary>
public readonly record struct Label(string Name, string Value);

/// <summary>
/// An immutable label set, kept sorted by name with unique names, so that equal sets compare and hash equal.
/// The reserved name <c>__name__</c> carries the profile name.
/// </summary>
public sealed class LabelSet : IReadOnlyList<Label>, IEquatable<LabelSet>
{
    public const string MetricName = "__name__";

    private readonly Label[] _labels;
    private readonly int _hash;

    public static LabelSet Empty { get; } = new([]);

    private LabelSet(Label[] sortedUnique)
    {
        _labels = sortedUnique;
        var hash = new HashCode();
        foreach (var l in _labels)
        {
            hash.Add(l.Name, StringComparer.Ordinal);
            hash.Add(l.Value, StringComparer.Ordinal);
        }
        _hash = hash.ToHashCode();
    }

    /// <summary>Builds a set; a later duplicate name replaces an earlier one, and empty values are dropped (Prometheus semantics).</summary>
    public static LabelSet From(IEnumerable<Label> labels)
    {
        var byName = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var l in labels)
        {
            if (l.Value.Length == 0)
            {
                byName.Remove(l.Name);
            }
            else
            {
                byName[l.Name] = l.Value;
            }
        }
        var array = new Label[byName.Count];
        var i = 0;
        foreach (var (k, v) in byName)
        {
            array[i++] = new Label(k, v);
        }
        return new LabelSet(array);
    }

    public static LabelSet From(params (string Name, string Value)[] labels) =>
        From(labels.Select(l => new Label(l.Name, l.Value)));

    public int Count => _labels.Length;

    public Label this[int index] => _labels[index];

    /// <summary>The value of <paramref name="name"/>, or "" when absent (an absent label matches "" in selectors).</summary>
    public string Get(string name)
    {
        foreach (var l in _labels)
        {
            if (string.Equals(l.Name, name, StringComparison.Ordinal))
            {
                return l.Value;
            }
        }
        return "";
    }

    /// <summary>A copy without the named labels.</summary>
    public LabelSet Without(params string[] names) => From(_labels.Where(l => Array.IndexOf(names, l.Name) < 0));

    /// <summary>A copy that keeps only the named labels.</summary>
    public LabelSet Keep(IReadOnlyCollection<string> names) => From(_labels.Where(l => names.Contains(l.Name)));

    public bool Equals(LabelSet? other) =>
        other is not null && _hash == other._hash && _labels.AsSpan().SequenceEqual(other._labels);

    public override bool Equals(object? obj) => Equals(obj as LabelSet);

    public override int GetHashCode() => _hash;

    public IEnumerator<Label> GetEnumerator() => ((IEnumerable<Label>)_labels).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _labels.GetEnumerator();

    /// <summary>Prometheus notation: <c>{a="1", b="2"}</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("{");
        for (var i = 0; i < _labels.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }
            sb.Append(_labels[i].Name).Append("=\"").Append(_labels[i].Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
        }
        return sb.Append('}').ToString();
    }
}
