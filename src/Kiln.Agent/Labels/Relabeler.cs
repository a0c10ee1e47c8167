using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Kiln.Profiles;

namespace Kiln.Agent.Labels;

/// <summary>Applies <c>relabel_configs</c> to a label set with Prometheus semantics.</summary>
public static class Relabeler
{
    // Reused for joining source values and expanding templates; Apply may run on several threads.
    [ThreadStatic]
    private static StringBuilder? t_builder;

    /// <summary>
    /// Runs <paramref name="rules"/> in order over <paramref name="labels"/>; null when a keep/drop rule drops the set.
    /// Returns the same instance when no rule changed anything. A label name a rule would produce that is not valid
    /// (<c>[a-zA-Z_][a-zA-Z0-9_]*</c>) is skipped, as Prometheus does.
    /// </summary>
    public static LabelSet? Apply(LabelSet labels, IReadOnlyList<RelabelRule> rules)
    {
        if (rules.Count == 0)
            return labels;
        var work = new WorkingSet(labels);
        for (var i = 0; i < rules.Count; i++)
        {
            if (!ApplyRule(ref work, rules[i]))
                return null;
        }
        return work.Changed ? work.ToLabelSet() : labels;
    }

    // Returns false when the set is dropped.
    private static bool ApplyRule(ref WorkingSet work, RelabelRule rule)
    {
        switch (rule.Action)
        {
            case RelabelAction.Drop:
                return !rule.Pattern.IsMatch(Join(ref work, rule));
            case RelabelAction.Keep:
                return rule.Pattern.IsMatch(Join(ref work, rule));
            case RelabelAction.DropEqual:
                return !string.Equals(work.Get(rule.TargetLabel), Join(ref work, rule), StringComparison.Ordinal);
            case RelabelAction.KeepEqual:
                return string.Equals(work.Get(rule.TargetLabel), Join(ref work, rule), StringComparison.Ordinal);
            case RelabelAction.Replace:
                Replace(ref work, rule);
                return true;
            case RelabelAction.Lowercase:
                work.Set(rule.TargetLabel, Join(ref work, rule).ToLowerInvariant());
                return true;
            case RelabelAction.Uppercase:
                work.Set(rule.TargetLabel, Join(ref work, rule).ToUpperInvariant());
                return true;
            case RelabelAction.HashMod:
                var bucket = HashMod(Join(ref work, rule), rule.Modulus);
                work.Set(rule.TargetLabel, bucket.ToString(CultureInfo.InvariantCulture));
                return true;
            case RelabelAction.LabelMap:
                LabelMap(ref work, rule);
                return true;
            case RelabelAction.LabelDrop:
                work.RemoveWhere(rule.Pattern, matching: true);
                return true;
            case RelabelAction.LabelKeep:
                work.RemoveWhere(rule.Pattern, matching: false);
                return true;
            default:
                throw new InvalidOperationException($"unhandled relabel action {rule.Action}");
        }
    }

    private static void Replace(ref WorkingSet work, RelabelRule rule)
    {
        var value = Join(ref work, rule);
        var match = rule.Pattern.Match(value);
        if (!match.Success)
            return;
        var sb = Builder();
        var target = rule.TargetLabel;
        if (rule.TargetHasReferences)
        {
            rule.Pattern.Expand(sb, rule.TargetLabel, match);
            target = sb.ToString();
            if (!LabelNames.IsValid(target))
                return;
            sb.Clear();
        }
        rule.Pattern.Expand(sb, rule.Replacement, match);
        work.Set(target, sb.ToString());
    }

    private static void LabelMap(ref WorkingSet work, RelabelRule rule)
    {
        // Every label is matched as the set was before this rule: names added here are not mapped again.
        var count = work.Count;
        var snapshot = ArrayPool<Label>.Shared.Rent(count);
        try
        {
            work.CopyTo(snapshot);
            var sb = Builder();
            for (var i = 0; i < count; i++)
            {
                var label = snapshot[i];
                var match = rule.Pattern.Match(label.Name);
                if (!match.Success)
                    continue;
                sb.Clear();
                rule.Pattern.Expand(sb, rule.Replacement, match);
                var name = sb.ToString();
                if (LabelNames.IsValid(name))
                    work.Set(name, label.Value);
            }
        }
        finally
        {
            ArrayPool<Label>.Shared.Return(snapshot, clearArray: true);
        }
    }

    /// <summary>The hashmod bucket: the low 8 bytes of md5(<paramref name="value"/>) read big-endian, modulo <paramref name="modulus"/>.</summary>
    internal static ulong HashMod(string value, ulong modulus)
    {
        Span<byte> hash = stackalloc byte[MD5.HashSizeInBytes];
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        byte[]? rented = null;
        Span<byte> bytes = max <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var length = Encoding.UTF8.GetBytes(value, bytes);
#pragma warning disable CA5351 // md5 is what Prometheus hashes with: the buckets must agree with it, not resist attack.
            MD5.HashData(bytes[..length], hash);
#pragma warning restore CA5351
        }
        finally
        {
            if (rented is not null)
                ArrayPool<byte>.Shared.Return(rented);
        }
        return BinaryPrimitives.ReadUInt64BigEndian(hash[8..]) % modulus;
    }

    private static string Join(ref WorkingSet work, RelabelRule rule)
    {
        var sources = rule.SourceLabels;
        if (sources.Count == 0)
            return "";
        if (sources.Count == 1)
            return work.Get(sources[0]);
        var sb = Builder();
        for (var i = 0; i < sources.Count; i++)
        {
            if (i > 0)
                sb.Append(rule.Separator);
            sb.Append(work.Get(sources[i]));
        }
        return sb.ToString();
    }

    private static StringBuilder Builder()
    {
        var sb = t_builder ??= new StringBuilder(128);
        sb.Clear();
        return sb;
    }

    /// <summary>The label set being relabeled: unsorted, no empty values (setting "" removes the label).</summary>
    private struct WorkingSet(LabelSet initial)
    {
        private List<Label>? _labels;
        private readonly LabelSet _initial = initial;

        /// <summary>Whether any rule changed the set; until one does, reads go to the original set.</summary>
        public bool Changed { readonly get; private set; }

        public readonly int Count => _labels?.Count ?? _initial.Count;

        public readonly string Get(string name)
        {
            if (_labels is null)
                return _initial.Get(name);
            foreach (var label in _labels)
            {
                if (string.Equals(label.Name, name, StringComparison.Ordinal))
                    return label.Value;
            }
            return "";
        }

        public readonly void CopyTo(Label[] destination)
        {
            if (_labels is null)
            {
                for (var i = 0; i < _initial.Count; i++)
                    destination[i] = _initial[i];
            }
            else
            {
                _labels.CopyTo(destination);
            }
        }

        public void Set(string name, string value)
        {
            var labels = Mutable();
            for (var i = 0; i < labels.Count; i++)
            {
                if (!string.Equals(labels[i].Name, name, StringComparison.Ordinal))
                    continue;
                if (value.Length == 0)
                {
                    labels.RemoveAt(i);
                    Changed = true;
                }
                else if (!string.Equals(labels[i].Value, value, StringComparison.Ordinal))
                {
                    labels[i] = new Label(name, value);
                    Changed = true;
                }
                return;
            }
            if (value.Length > 0)
            {
                labels.Add(new Label(name, value));
                Changed = true;
            }
        }

        public void RemoveWhere(Re2Pattern pattern, bool matching)
        {
            var labels = Mutable();
            for (var i = labels.Count - 1; i >= 0; i--)
            {
                if (pattern.IsMatch(labels[i].Name) == matching)
                {
                    labels.RemoveAt(i);
                    Changed = true;
                }
            }
        }

        public readonly LabelSet ToLabelSet() => _labels is null ? _initial : LabelSet.From(_labels);

        private List<Label> Mutable()
        {
            if (_labels is null)
            {
                _labels = new List<Label>(_initial.Count + 2);
                for (var i = 0; i < _initial.Count; i++)
                    _labels.Add(_initial[i]);
            }
            return _labels;
        }
    }
}
