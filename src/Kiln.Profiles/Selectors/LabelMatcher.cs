using System.Text.RegularExpressions;

namespace Kiln.Profiles.Selectors;

/// <summary>The four PromQL matcher operators.</summary>
public enum MatchOp
{
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// <summary>
/// One PromQL-style matcher. Regexes are anchored at both ends, as in Prometheus, and an absent label
/// is matched as the empty string.
/// </summary>
public sealed class LabelMatcher
{
    private readonly Regex? _regex;

    public LabelMatcher(string name, MatchOp op, string value)
    {
        Name = name;
        Op = op;
        Value = value;
        if (op is MatchOp.Regex or MatchOp.NotRegex)
        {
            // Throws ArgumentException for a bad pattern; the parser turns that into a positioned error.
            _regex = new Regex($"^(?:{value})$", RegexOptions.CultureInvariant | RegexOptions.Singleline | RegexOptions.NonBacktracking);
        }
    }

    public string Name { get; }

    public MatchOp Op { get; }

    public string Value { get; }

    public bool Matches(string value) => Op switch
    {
        MatchOp.Equal => string.Equals(value, Value, StringComparison.Ordinal),
        MatchOp.NotEqual => !string.Equals(value, Value, StringComparison.Ordinal),
        MatchOp.Regex => _regex!.IsMatch(value),
        MatchOp.NotRegex => !_regex!.IsMatch(value),
        _ => false,
    };

    public bool Matches(LabelSet labels) => Matches(labels.Get(Name));

    public override string ToString()
    {
        var op = Op switch
        {
            MatchOp.Equal => "=",
            MatchOp.NotEqual => "!=",
            MatchOp.Regex => "=~",
            _ => "!~",
        };
        return $"{Name}{op}\"{Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"";
    }
}
