using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Kiln.Profiles.Selectors;

/// <summary>
/// Parses Parca-style queries (<c>name:st:su:pt:pu[:delta]{comm="python3", pod=~"api-.*"}</c>) and PromQL
/// matcher lists (<c>{a="x"}</c>, <c>metric{a="x"}</c>, <c>metric</c>). Label names follow Prometheus rules;
/// values are quoted with ", ' (Go escapes) or ` (raw); whitespace may surround any token and a trailing comma
/// is allowed. Every error is a <see cref="SelectorParseException"/> with the 0-based position at fault.
/// </summary>
public static class SelectorParser
{
    private const string TypeShape = "name:sample_type:sample_unit:period_type:period_unit[:delta]";

    /// <summary>
    /// Parses a query: a profile type in colon notation, then optionally matchers in braces
    /// (<c>{}</c> is the same as none).
    /// </summary>
    public static ProfileSelector ParseQuery(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var p = new Parser(text);
        p.SkipSpace();
        if (p.AtEnd)
        {
            throw new SelectorParseException(p.Pos, $"the query is empty; expected {TypeShape}, optionally followed by {{label=\"value\", ...}}");
        }
        var start = p.Pos;
        while (!p.AtEnd && p.Current != '{' && !char.IsWhiteSpace(p.Current))
        {
            p.Pos++;
        }
        var token = text[start..p.Pos];
        if (token.Length == 0)
        {
            throw new SelectorParseException(start, $"missing profile type before '{{'; expected {TypeShape}{{...}}");
        }
        var type = ParseType(token, start);
        p.SkipSpace();
        var matchers = new List<LabelMatcher>();
        if (!p.AtEnd)
        {
            if (p.Current != '{')
            {
                throw new SelectorParseException(p.Pos, $"expected '{{' or the end of the query after profile type '{token}', found {p.Describe()}");
            }
            p.ParseBlock(matchers);
        }
        return new ProfileSelector(type, matchers);
    }

    /// <summary>
    /// Parses a PromQL series selector as used in <c>match[]</c>: <c>{a="x", b=~"y.*"}</c>, <c>metric{...}</c>
    /// or a bare <c>metric</c>. A metric name becomes the matcher <c>__name__="metric"</c>; metric names may
    /// contain ':' as in Prometheus, so a full profile type id is kept whole as the name.
    /// </summary>
    public static IReadOnlyList<LabelMatcher> ParseMatchers(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var p = new Parser(text);
        var matchers = new List<LabelMatcher>();
        p.SkipSpace();
        if (p.AtEnd)
        {
            throw new SelectorParseException(p.Pos, "the selector is empty; expected {label=\"value\", ...} or a metric name");
        }
        if (p.Current != '{')
        {
            var start = p.Pos;
            if (!IsMetricStart(p.Current))
            {
                throw new SelectorParseException(p.Pos, $"expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or '{{', found {p.Describe()}");
            }
            while (!p.AtEnd && (IsMetricStart(p.Current) || char.IsAsciiDigit(p.Current)))
            {
                p.Pos++;
            }
            var name = text[start..p.Pos];
            matchers.Add(new LabelMatcher(LabelSet.MetricName, MatchOp.Equal, name));
            p.SkipSpace();
            if (p.AtEnd)
            {
                return matchers;
            }
            if (p.Current != '{')
            {
                throw new SelectorParseException(p.Pos, $"expected '{{' or the end of the selector after metric name '{name}', found {p.Describe()}");
            }
        }
        p.ParseBlock(matchers);
        return matchers;
    }

    private static bool IsMetricStart(char c) => char.IsAsciiLetter(c) || c is '_' or ':';

    private static bool IsLabelStart(char c) => char.IsAsciiLetter(c) || c == '_';

    private static bool IsLabelChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private static ProfileType ParseType(string token, int start)
    {
        var parts = token.Split(':');
        string? problem = null;
        if (parts.Length is not (5 or 6))
        {
            problem = $"it has {parts.Length} part(s)";
        }
        else if (parts.Length == 6 && parts[5] != "delta")
        {
            problem = $"the sixth part is '{parts[5]}' but may only be 'delta'";
        }
        else
        {
            for (var i = 0; i < 5; i++)
            {
                if (parts[i].Length == 0)
                {
                    problem = $"part {i + 1} is empty";
                    break;
                }
            }
        }
        if (problem is not null)
        {
            throw new SelectorParseException(start,
                $"unknown profile type '{token}': expected {TypeShape}, e.g. parca_agent:samples:count:cpu:nanoseconds:delta ({problem})");
        }
        return new ProfileType(parts[0], parts[1], parts[2], parts[3], parts[4], parts.Length == 6);
    }

    private sealed class Parser(string text)
    {
        public int Pos { get; set; }

        public bool AtEnd => Pos >= text.Length;

        public char Current => text[Pos];

        public void SkipSpace()
        {
            while (!AtEnd && char.IsWhiteSpace(text[Pos]))
            {
                Pos++;
            }
        }

        /// <summary>How the character at the cursor reads in a message.</summary>
        public string Describe() => AtEnd ? "the end of the text" : $"'{text[Pos]}'";

        /// <summary>Parses <c>{ matcher, ... }</c> at the cursor, which must then be the end of the text.</summary>
        public void ParseBlock(List<LabelMatcher> matchers)
        {
            var open = Pos;
            Pos++;
            while (true)
            {
                SkipSpace();
                if (AtEnd)
                {
                    throw new SelectorParseException(Pos, $"expected a label name or '}}' to close the '{{' at position {open}, found the end of the text");
                }
                if (Current == '}')
                {
                    Pos++;
                    break;
                }
                matchers.Add(ParseMatcher());
                SkipSpace();
                if (AtEnd)
                {
                    throw new SelectorParseException(Pos, $"expected ',' or '}}' to close the '{{' at position {open}, found the end of the text");
                }
                if (Current == ',')
                {
                    Pos++;
                }
                else if (Current != '}')
                {
                    throw new SelectorParseException(Pos, $"expected ',' or '}}' after a matcher, found {Describe()}");
                }
            }
            SkipSpace();
            if (!AtEnd)
            {
                throw new SelectorParseException(Pos, $"unexpected {Describe()} after the closing '}}'");
            }
        }

        private LabelMatcher ParseMatcher()
        {
            if (!IsLabelStart(Current))
            {
                throw new SelectorParseException(Pos, $"expected a label name ([a-zA-Z_][a-zA-Z0-9_]*), found {Describe()}");
            }
            var nameStart = Pos;
            while (!AtEnd && IsLabelChar(Current))
            {
                Pos++;
            }
            var name = text[nameStart..Pos];
            SkipSpace();
            var op = ParseOp(name);
            SkipSpace();
            var valueStart = Pos;
            var value = ParseString(name);
            return Create(name, op, value, valueStart);
        }

        private MatchOp ParseOp(string name)
        {
            var c = AtEnd ? '\0' : Current;
            var next = Pos + 1 < text.Length ? text[Pos + 1] : '\0';
            MatchOp? op = (c, next) switch
            {
                ('=', '~') => MatchOp.Regex,
                ('!', '=') => MatchOp.NotEqual,
                ('!', '~') => MatchOp.NotRegex,
                ('=', _) => MatchOp.Equal,
                _ => null,
            };
            if (op is null)
            {
                var hint = c is '-' or '.' or ':' ? $" (label names may only contain letters, digits and '_')" : "";
                throw new SelectorParseException(Pos, $"expected one of =, !=, =~, !~ after label name '{name}', found {Describe()}{hint}");
            }
            Pos += op == MatchOp.Equal ? 1 : 2;
            return op.Value;
        }

        private string ParseString(string name)
        {
            if (AtEnd || Current is not ('"' or '\'' or '`'))
            {
                throw new SelectorParseException(Pos, $"expected a quoted value for label '{name}' (\"...\", '...' or `...`), found {Describe()}");
            }
            var start = Pos;
            var quote = text[Pos++];
            var sb = new StringBuilder();
            // \x and octal escapes are bytes, as in Go; consecutive ones are decoded together as UTF-8.
            List<byte>? pendingBytes = null;
            while (true)
            {
                if (AtEnd || (quote != '`' && Current == '\n'))
                {
                    throw new SelectorParseException(start, $"unterminated string starting at position {start}");
                }
                var c = text[Pos];
                if (c == quote)
                {
                    Pos++;
                    Flush(sb, pendingBytes);
                    return sb.ToString();
                }
                if (c != '\\' || quote == '`')
                {
                    Flush(sb, pendingBytes);
                    sb.Append(c);
                    Pos++;
                    continue;
                }
                var escape = Pos;
                Pos++;
                if (AtEnd)
                {
                    throw new SelectorParseException(start, $"unterminated string starting at position {start}");
                }
                var e = text[Pos++];
                if (e == 'x' || e is >= '0' and <= '7')
                {
                    var digits = e == 'x' ? 2 : 3;
                    var numberStart = e == 'x' ? Pos : Pos - 1;
                    var b = ReadNumber(numberStart, digits, e == 'x' ? 16 : 8, escape, start);
                    if (b > 255)
                    {
                        throw new SelectorParseException(escape, $"octal escape '{text[escape..(numberStart + digits)]}' is above \\377 in the string starting at position {start}");
                    }
                    Pos = numberStart + digits;
                    (pendingBytes ??= []).Add((byte)b);
                    continue;
                }
                Flush(sb, pendingBytes);
                switch (e)
                {
                    case 'a': sb.Append('\a'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'v': sb.Append('\v'); break;
                    case '\\': sb.Append('\\'); break;
                    case '"': sb.Append('"'); break;
                    case '\'': sb.Append('\''); break;
                    case 'u':
                    case 'U':
                        var length = e == 'u' ? 4 : 8;
                        var code = ReadNumber(Pos, length, 16, escape, start);
                        if (code > 0x10FFFF || code is >= 0xD800 and <= 0xDFFF)
                        {
                            throw new SelectorParseException(escape, $"escape '{text[escape..(Pos + length)]}' is not a valid Unicode code point");
                        }
                        sb.Append(char.ConvertFromUtf32((int)code));
                        Pos += length;
                        break;
                    default:
                        throw new SelectorParseException(escape,
                            $"unknown escape sequence '\\{e}' in the string starting at position {start}; use \\\\ for a backslash or a `raw string`");
                }
            }
        }

        private long ReadNumber(int from, int digits, int radix, int escape, int stringStart)
        {
            if (from + digits > text.Length)
            {
                throw new SelectorParseException(escape, $"incomplete escape sequence '{text[escape..]}' in the string starting at position {stringStart}");
            }
            long value = 0;
            for (var i = from; i < from + digits; i++)
            {
                var d = radix == 16 ? HexDigit(text[i]) : (text[i] is >= '0' and <= '7' ? text[i] - '0' : -1);
                if (d < 0)
                {
                    throw new SelectorParseException(escape,
                        $"escape sequence '{text[escape..(from + digits)]}' needs {digits} {(radix == 16 ? "hex" : "octal")} digits, in the string starting at position {stringStart}");
                }
                value = value * radix + d;
            }
            return value;
        }

        private static int HexDigit(char c) => c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };

        private static void Flush(StringBuilder sb, List<byte>? bytes)
        {
            if (bytes is { Count: > 0 })
            {
                sb.Append(Encoding.UTF8.GetString(bytes.ToArray()));
                bytes.Clear();
            }
        }

        private static LabelMatcher Create(string name, MatchOp op, string value, int position)
        {
            if (op is MatchOp.Regex or MatchOp.NotRegex)
            {
                // Compile the pattern on its own first: LabelMatcher wraps it in ^(?:…)$, which would both shift error
                // offsets and accept unbalanced input such as "a)|(b".
                try
                {
                    _ = new Regex(value, RegexOptions.CultureInvariant | RegexOptions.Singleline | RegexOptions.NonBacktracking);
                }
                catch (NotSupportedException e)
                {
                    throw new SelectorParseException(position,
                        $"invalid regex for label '{name}': {e.Message} Kiln matches regexes in linear time (RE2 semantics), " +
                        "which rules out backreferences, lookarounds, atomic groups and conditionals", e);
                }
                catch (ArgumentException e)
                {
                    throw new SelectorParseException(position, $"invalid regex for label '{name}': {e.Message}", e);
                }
            }
            try
            {
                return new LabelMatcher(name, op, value);
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                throw new SelectorParseException(position, $"invalid regex for label '{name}': {e.Message}", e);
            }
        }
    }
}
