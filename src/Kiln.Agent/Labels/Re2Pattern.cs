using System.Text;
using System.Text.RegularExpressions;

namespace Kiln.Agent.Labels;

/// <summary>
/// A relabeling regex with Prometheus's meaning: RE2 syntax, anchored at both ends of the whole value, and
/// <c>$</c>-templates expanded by Go's <c>regexp.Expand</c> rules. The pattern is translated to a .NET
/// NonBacktracking regex (linear time, no backreferences or lookarounds, as in RE2).
/// </summary>
/// <remarks>
/// Translated so that .NET agrees with RE2: <c>(?P&lt;name&gt;…)</c> and <c>(?&lt;name&gt;…)</c> become plain groups
/// with the name kept here (.NET would renumber named groups after the unnamed ones); <c>\d \w \s</c> and their
/// negations are ASCII classes; POSIX classes <c>[[:alpha:]]</c>; <c>\Q…\E</c>; <c>\pL</c>; a literal <c>[</c> inside a
/// class (not .NET class subtraction). Still .NET's: <c>\D \W \S</c> inside a class and <c>\b</c> are Unicode-aware,
/// and an unanchored <c>$</c> inside the pattern also matches before a final newline.
/// </remarks>
internal sealed class Re2Pattern
{
    private const string AsciiDigit = "0-9";
    private const string AsciiWord = "0-9A-Za-z_";
    private const string AsciiSpace = @"\t\n\f\r ";

    private static readonly Dictionary<string, string> s_posixClasses = new(StringComparer.Ordinal)
    {
        ["alnum"] = "0-9A-Za-z",
        ["alpha"] = "A-Za-z",
        ["ascii"] = @"\x00-\x7F",
        ["blank"] = @"\t ",
        ["cntrl"] = @"\x00-\x1F\x7F",
        ["digit"] = "0-9",
        ["graph"] = "!-~",
        ["lower"] = "a-z",
        ["print"] = " -~",
        ["punct"] = @"!-/:-@\[-`{-~",
        ["space"] = @"\t\n\v\f\r ",
        ["upper"] = "A-Z",
        ["word"] = "0-9A-Za-z_",
        ["xdigit"] = "0-9A-Fa-f",
    };

    private readonly Regex _regex;

    // Capture-group name → group number, numbered left to right by opening parenthesis as RE2 does; null when none.
    private readonly Dictionary<string, int>? _names;

    private Re2Pattern(string pattern, Regex regex, Dictionary<string, int>? names)
    {
        Pattern = pattern;
        _regex = regex;
        _names = names;
    }

    /// <summary>The pattern as written in the configuration, without the implicit anchors.</summary>
    public string Pattern { get; }

    /// <summary>Compiles <paramref name="pattern"/>; throws <see cref="ArgumentException"/> with the reason when it is not valid RE2.</summary>
    public static Re2Pattern Compile(string pattern)
    {
        var translated = Translate(pattern, out var names);
        try
        {
            var regex = new Regex(@"\A(?:" + translated + @")\z", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            return new Re2Pattern(pattern, regex, names);
        }
        catch (RegexParseException e)
        {
            // "Invalid pattern '…' at offset N. Reason." names the translated, anchored pattern: keep only the reason.
            var marker = $"at offset {e.Offset}. ";
            var at = e.Message.IndexOf(marker, StringComparison.Ordinal);
            throw new ArgumentException(at < 0 ? e.Message : e.Message[(at + marker.Length)..].TrimEnd('.'), e);
        }
        catch (NotSupportedException e)
        {
            throw new ArgumentException($"not supported by RE2 syntax ({e.Message})", e);
        }
    }

    /// <summary>Whether the whole of <paramref name="input"/> matches.</summary>
    public bool IsMatch(string input) => _regex.IsMatch(input);

    /// <summary>The match over the whole of <paramref name="input"/>; check <see cref="Group.Success"/>.</summary>
    public Match Match(string input) => _regex.Match(input);

    /// <summary>
    /// Appends <paramref name="template"/> to <paramref name="destination"/> with <c>$name</c>, <c>${name}</c> and
    /// <c>$$</c> expanded from <paramref name="match"/> by Go's rules: a bare name is the longest run of letters,
    /// digits and '_' (so <c>$1x</c> is the group named <c>1x</c>, empty when there is none); an unknown or
    /// unmatched group expands to nothing; a <c>$</c> not followed by a name is kept as is.
    /// </summary>
    public void Expand(StringBuilder destination, string template, Match match)
    {
        var i = 0;
        while (i < template.Length)
        {
            var dollar = template.IndexOf('$', i);
            if (dollar < 0)
                break;
            destination.Append(template, i, dollar - i);
            i = dollar + 1;
            if (i < template.Length && template[i] == '$')
            {
                destination.Append('$');
                i++;
                continue;
            }
            if (!TryReadReference(template, i, out var name, out var number, out var next))
            {
                destination.Append('$');
                continue;
            }
            i = next;
            var group = number >= 0 ? number : GroupNumber(name);
            if (group >= 0 && group < match.Groups.Count && match.Groups[group].Success)
                destination.Append(match.Groups[group].ValueSpan);
        }
        destination.Append(template, i, template.Length - i);
    }

    /// <summary>
    /// Whether <paramref name="template"/> expands to a valid label name whatever the groups hold: label-name
    /// characters and references, starting with a letter, '_' or a reference (Prometheus's check of target_label).
    /// </summary>
    public static bool IsLabelNameTemplate(string template)
    {
        if (template.Length == 0)
            return false;
        var i = 0;
        var first = true;
        while (i < template.Length)
        {
            var c = template[i];
            if (c == '$')
            {
                if (!TryReadReference(template, i + 1, out _, out _, out var next))
                    return false;
                i = next;
            }
            else if (char.IsAsciiLetter(c) || c == '_' || (!first && char.IsAsciiDigit(c)))
            {
                i++;
            }
            else
            {
                return false;
            }
            first = false;
        }
        return true;
    }

    private int GroupNumber(ReadOnlySpan<char> name) =>
        _names is not null && _names.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out var number) ? number : -1;

    // A reference after '$' at text[start]: "name" or "{name}", name being letters, digits and '_'. An all-digit name
    // without a leading zero (below 1e8) is a group number; anything else is a group name (number = -1).
    private static bool TryReadReference(string text, int start, out ReadOnlySpan<char> name, out int number, out int next)
    {
        name = default;
        number = -1;
        next = start;
        var i = start;
        var braced = i < text.Length && text[i] == '{';
        if (braced)
            i++;
        var nameStart = i;
        while (i < text.Length && Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out var length) == System.Buffers.OperationStatus.Done
               && (Rune.IsLetter(rune) || Rune.IsDigit(rune) || rune.Value == '_'))
            i += length;
        if (i == nameStart)
            return false;
        name = text.AsSpan(nameStart, i - nameStart);
        if (braced)
        {
            if (i >= text.Length || text[i] != '}')
                return false;
            i++;
        }
        next = i;
        if (name.Length == 1 || name[0] != '0')
        {
            var n = 0;
            foreach (var c in name)
            {
                if (!char.IsAsciiDigit(c) || n >= 100_000_000)
                {
                    n = -1;
                    break;
                }
                n = (n * 10) + (c - '0');
            }
            number = n;
        }
        return true;
    }

    /// <summary>Rewrites RE2 syntax into the .NET equivalent (see the type's remarks) and collects group names.</summary>
    internal static string Translate(string pattern, out Dictionary<string, int>? names)
    {
        names = null;
        var sb = new StringBuilder(pattern.Length + 8);
        var groups = 0;
        var i = 0;
        while (i < pattern.Length)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                i = TranslateEscape(pattern, i, sb, inClass: false);
            }
            else if (c == '[')
            {
                i = TranslateClass(pattern, i, sb);
            }
            else if (c == '(' && i + 1 < pattern.Length && pattern[i + 1] == '?')
            {
                i = TranslateGroup(pattern, i, sb, ref groups, ref names);
            }
            else
            {
                if (c == '(')
                    groups++;
                sb.Append(c);
                i++;
            }
        }
        return sb.ToString();
    }

    // pattern[i] is '(' and pattern[i + 1] is '?'.
    private static int TranslateGroup(string pattern, int i, StringBuilder sb, ref int groups, ref Dictionary<string, int>? names)
    {
        var rest = pattern.AsSpan(i + 2);
        var nameStart = rest.StartsWith("P<") ? 2 : rest.StartsWith("<") && !rest.StartsWith("<=") && !rest.StartsWith("<!") ? 1 : -1;
        if (nameStart >= 0)
        {
            var close = rest.IndexOf('>');
            var name = close < 0 ? rest[nameStart..] : rest[nameStart..close];
            if (close < 0 || !IsCaptureName(name))
                throw new ArgumentException($"invalid named capture: \"{pattern[i..(close < 0 ? pattern.Length : i + 2 + close + 1)]}\"");
            names ??= new Dictionary<string, int>(StringComparer.Ordinal);
            if (!names.TryAdd(name.ToString(), ++groups))
                throw new ArgumentException($"duplicate capture group name: \"{name}\"");
            sb.Append('(');
            return i + 2 + close + 1;
        }
        // Flags "(?flags)" or "(?flags:": RE2 knows i, m, s and U; .NET's n and x would change numbering or syntax.
        var end = rest.IndexOfAny(')', ':');
        if (end >= 0 && (end > 0 || rest[0] != ':'))
        {
            var flags = rest[..end];
            var bad = flags.IndexOfAnyExcept("imsU-");
            var ungreedy = flags.IndexOf('U');
            if (bad >= 0 || ungreedy >= 0)
            {
                var at = bad >= 0 && (ungreedy < 0 || bad < ungreedy) ? bad : ungreedy;
                var unsupported = at == ungreedy ? " (the ungreedy flag U is not supported)" : "";
                throw new ArgumentException($"invalid or unsupported Perl syntax: \"(?{flags[..(at + 1)]}\"{unsupported}");
            }
        }
        else if (end < 0 || rest[0] != ':')
        {
            throw new ArgumentException($"invalid or unsupported Perl syntax: \"{pattern[i..Math.Min(pattern.Length, i + 3)]}\"");
        }
        sb.Append("(?");
        return i + 2;
    }

    private static bool IsCaptureName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty)
            return false;
        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
                return false;
        }
        return true;
    }

    // pattern[i] is '\\' with a character after it; returns the index after the escape.
    private static int TranslateEscape(string pattern, int i, StringBuilder sb, bool inClass)
    {
        var c = pattern[i + 1];
        switch (c)
        {
            case 'd' or 'w' or 's':
                var set = c == 'd' ? AsciiDigit : c == 'w' ? AsciiWord : AsciiSpace;
                sb.Append(inClass ? set : $"[{set}]");
                return i + 2;
            case ('D' or 'W' or 'S') when !inClass:
                sb.Append("[^").Append(c == 'D' ? AsciiDigit : c == 'W' ? AsciiWord : AsciiSpace).Append(']');
                return i + 2;
            case 'Q' when !inClass:
                var endQuote = pattern.IndexOf(@"\E", i + 2, StringComparison.Ordinal);
                var literal = endQuote < 0 ? pattern[(i + 2)..] : pattern[(i + 2)..endQuote];
                sb.Append(Regex.Escape(literal));
                return endQuote < 0 ? pattern.Length : endQuote + 2;
            case 'p' or 'P' when i + 2 < pattern.Length && pattern[i + 2] != '{':
                sb.Append('\\').Append(c).Append('{').Append(pattern[i + 2]).Append('}');
                return i + 3;
            default:
                sb.Append('\\').Append(c);
                return i + 2;
        }
    }

    // pattern[i] is '['; copies the class through its closing ']' and returns the index after it.
    private static int TranslateClass(string pattern, int i, StringBuilder sb)
    {
        var start = i;
        sb.Append('[');
        i++;
        if (i < pattern.Length && pattern[i] == '^')
        {
            sb.Append('^');
            i++;
        }
        if (i < pattern.Length && pattern[i] == ']')
        {
            sb.Append(@"\]");
            i++;
        }
        while (i < pattern.Length)
        {
            var c = pattern[i];
            if (c == ']')
            {
                sb.Append(']');
                return i + 1;
            }
            if (c == '\\' && i + 1 < pattern.Length)
            {
                i = TranslateEscape(pattern, i, sb, inClass: true);
            }
            else if (c == '[' && i + 1 < pattern.Length && pattern[i + 1] == ':')
            {
                var close = pattern.IndexOf(":]", i + 2, StringComparison.Ordinal);
                if (close < 0)
                {
                    sb.Append(@"\[");
                    i++;
                    continue;
                }
                var name = pattern[(i + 2)..close];
                if (name.StartsWith('^'))
                    throw new ArgumentException($"negated POSIX class \"[:{name}:]\" is not supported; negate the whole class instead");
                if (!s_posixClasses.TryGetValue(name, out var ranges))
                    throw new ArgumentException($"invalid character class range: \"[:{name}:]\"");
                sb.Append(ranges);
                i = close + 2;
            }
            else
            {
                // A literal '[' in RE2; escaped so that .NET does not read "-[…]" as class subtraction.
                sb.Append(c == '[' ? @"\[" : c.ToString());
                i++;
            }
        }
        throw new ArgumentException($"missing closing ]: \"{pattern[start..]}\"");
    }
}
