using Kiln.Profiles.Selectors;

namespace Kiln.Profiles.Tests;

public class SelectorParserTests
{
    [Fact]
    public void Parses_a_parca_query()
    {
        var s = SelectorParser.ParseQuery("parca_agent:samples:count:cpu:nanoseconds:delta{comm=\"python3\",namespace=~\"prod-.*\"}");

        Assert.Equal(new ProfileType("parca_agent", "samples", "count", "cpu", "nanoseconds", true), s.Type);
        Assert.Equal(2, s.Matchers.Count);
        Assert.Equal(("comm", MatchOp.Equal, "python3"), (s.Matchers[0].Name, s.Matchers[0].Op, s.Matchers[0].Value));
        Assert.Equal(("namespace", MatchOp.Regex, "prod-.*"), (s.Matchers[1].Name, s.Matchers[1].Op, s.Matchers[1].Value));
        Assert.True(s.Matches(LabelSet.From(("comm", "python3"), ("namespace", "prod-eu"))));
        Assert.False(s.Matches(LabelSet.From(("comm", "python3"), ("namespace", "xprod-eu"))));
    }

    [Theory]
    [InlineData("process_cpu:cpu:nanoseconds:cpu:nanoseconds")]
    [InlineData("process_cpu:cpu:nanoseconds:cpu:nanoseconds{}")]
    [InlineData("  process_cpu:cpu:nanoseconds:cpu:nanoseconds  { }  ")]
    public void Braces_are_optional(string text)
    {
        var s = SelectorParser.ParseQuery(text);

        Assert.Equal("process_cpu:cpu:nanoseconds:cpu:nanoseconds", s.Type.ToString());
        Assert.False(s.Type.Delta);
        Assert.Empty(s.Matchers);
    }

    [Fact]
    public void Whitespace_trailing_comma_and_all_quote_styles()
    {
        var s = SelectorParser.ParseQuery("  t:a:b:c:d:delta  {  a = \"x\" , b!=\"y\",\tc !~ 'z.*', d=~`raw\\d+`, }  ");

        Assert.Equal(
            new[] { "a=\"x\"", "b!=\"y\"", "c!~\"z.*\"", "d=~\"raw\\\\d+\"" },
            s.Matchers.Select(m => m.ToString()));
        Assert.Equal("raw\\d+", s.Matchers[3].Value);
        Assert.True(s.Matchers[3].Matches("raw42"));
    }

    [Fact]
    public void Escapes_follow_go()
    {
        var m = SelectorParser.ParseMatchers("{a=\"q\\\"uote\\\\back\\nnl\\ttab\", b='it\\'s', c=\"\\xc3\\xa9\\u00e9\\101\"}");

        Assert.Equal("q\"uote\\back\nnl\ttab", m[0].Value);
        Assert.Equal("it's", m[1].Value);
        Assert.Equal("ééA", m[2].Value);
    }

    [Fact]
    public void Matchers_alone_and_prometheus_metric_form()
    {
        var plain = SelectorParser.ParseMatchers("{a=\"x\", b=~\"y.*\"}");
        var metric = SelectorParser.ParseMatchers("parca_agent{job=\"api\"}");
        var bare = SelectorParser.ParseMatchers(" up ");
        var empty = SelectorParser.ParseMatchers("{}");

        Assert.Equal(new[] { "a=\"x\"", "b=~\"y.*\"" }, plain.Select(m => m.ToString()));
        Assert.Equal(new[] { "__name__=\"parca_agent\"", "job=\"api\"" }, metric.Select(m => m.ToString()));
        Assert.Equal(new[] { "__name__=\"up\"" }, bare.Select(m => m.ToString()));
        Assert.Empty(empty);
    }

    [Theory]
    [InlineData("{comm>\"x\"}", 5, "expected one of =, !=, =~, !~ after label name 'comm', found '>'")]
    [InlineData("{my-label=\"x\"}", 3, "expected one of =, !=, =~, !~ after label name 'my', found '-' (label names may only contain letters, digits and '_')")]
    [InlineData("{1a=\"x\"}", 1, "expected a label name ([a-zA-Z_][a-zA-Z0-9_]*), found '1'")]
    [InlineData("{a=x}", 3, "expected a quoted value for label 'a' (\"...\", '...' or `...`), found 'x'")]
    [InlineData("{a=\"x\"", 6, "expected ',' or '}' to close the '{' at position 0, found the end of the text")]
    [InlineData("{a=\"x\" b=\"y\"}", 7, "expected ',' or '}' after a matcher, found 'b'")]
    [InlineData("{a=\"x\"} foo", 8, "unexpected 'f' after the closing '}'")]
    [InlineData("{a=\"x\\qy\"}", 5, "unknown escape sequence '\\q' in the string starting at position 3")]
    [InlineData("{a=\"x\ny\"}", 3, "unterminated string starting at position 3")]
    [InlineData("{a='x}", 3, "unterminated string starting at position 3")]
    [InlineData("{a=\"\\x4\"}", 4, "escape sequence '\\x4\"' needs 2 hex digits")]
    [InlineData("{a!\"x\"}", 2, "expected one of =, !=, =~, !~ after label name 'a', found '!'")]
    [InlineData("", 0, "the selector is empty")]
    [InlineData("up job", 3, "expected '{' or the end of the selector after metric name 'up', found 'j'")]
    [InlineData("=\"x\"", 0, "expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or '{', found '='")]
    public void Matcher_errors_have_exact_positions(string text, int position, string detail)
    {
        var e = Assert.Throws<SelectorParseException>(() => SelectorParser.ParseMatchers(text));

        Assert.Equal(position, e.Position);
        Assert.StartsWith($"bad selector at position {position}: {detail}", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("t:a:b:c:d{pod=\"abc", 14, "unterminated string starting at position 14")]
    [InlineData("foo:bar{a=\"b\"}", 0, "unknown profile type 'foo:bar': expected name:sample_type:sample_unit:period_type:period_unit[:delta], e.g. parca_agent:samples:count:cpu:nanoseconds:delta (it has 2 part(s))")]
    [InlineData("  a:b:c:d:e:cumulative", 2, "unknown profile type 'a:b:c:d:e:cumulative': expected name:sample_type:sample_unit:period_type:period_unit[:delta], e.g. parca_agent:samples:count:cpu:nanoseconds:delta (the sixth part is 'cumulative' but may only be 'delta')")]
    [InlineData("a::c:d:e", 0, "unknown profile type 'a::c:d:e'")]
    [InlineData("{a=\"b\"}", 0, "missing profile type before '{'")]
    [InlineData("   ", 3, "the query is empty")]
    [InlineData("t:a:b:c:d:delta x", 16, "expected '{' or the end of the query after profile type 't:a:b:c:d:delta', found 'x'")]
    [InlineData("t:a:b:c:d{a=\"b\"}{", 16, "unexpected '{' after the closing '}'")]
    public void Query_errors_have_exact_positions(string text, int position, string detail)
    {
        var e = Assert.Throws<SelectorParseException>(() => SelectorParser.ParseQuery(text));

        Assert.Equal(position, e.Position);
        Assert.StartsWith($"bad selector at position {position}: {detail}", e.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<FormatException>(e);
    }

    [Theory]
    [InlineData("{pod=~\"a(\"}", "invalid regex for label 'pod': ")]
    [InlineData("{pod!~\"a)|(b\"}", "invalid regex for label 'pod': ")]
    [InlineData("{pod=~\"(a)\\\\1\"}", "backreferences")]
    [InlineData("{pod=~\"(?=a)b\"}", "lookarounds")]
    public void Bad_regexes_point_at_the_value(string text, string expected)
    {
        var e = Assert.Throws<SelectorParseException>(() => SelectorParser.ParseMatchers(text));

        Assert.Equal(6, e.Position);
        Assert.StartsWith("bad selector at position 6: invalid regex for label 'pod': ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
