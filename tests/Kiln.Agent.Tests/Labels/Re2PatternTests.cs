using System.Text;
using Kiln.Agent.Labels;

namespace Kiln.Agent.Tests.Labels;

public class Re2PatternTests
{
    // Expected values follow Go's regexp.Expand: a bare name is the longest run of letters, digits and '_'.
    [Theory]
    [InlineData("$1", "aa")]
    [InlineData("$1x", "")]
    [InlineData("${1}x", "aax")]
    [InlineData("$2$1", "bbbaa")]
    [InlineData("$0", "aabbb")]
    [InlineData("${0}", "aabbb")]
    [InlineData("$$1", "$1")]
    [InlineData("$$", "$")]
    [InlineData("$", "$")]
    [InlineData("x$", "x$")]
    [InlineData("$-", "$-")]
    [InlineData("a$.b", "a$.b")]
    [InlineData("${1", "${1")]
    [InlineData("${}", "${}")]
    [InlineData("${1 }", "${1 }")]
    [InlineData("$3", "")]
    [InlineData("$01", "")]
    [InlineData("$1é", "")]
    [InlineData("$1_", "")]
    [InlineData("$1-$2", "aa-bbb")]
    [InlineData("plain", "plain")]
    [InlineData("", "")]
    public void Templates_expand_by_go_rules(string template, string expected)
    {
        Assert.Equal(expected, Expand("(a+)(b+)", "aabbb", template));
    }

    [Theory]
    [InlineData("${first}", "aa")]
    [InlineData("$first", "aa")]
    [InlineData("$first_", "")]
    [InlineData("${second}-${first}", "bbb-aa")]
    [InlineData("$2", "bbb")]
    [InlineData("$3", "c")]
    [InlineData("${missing}", "")]
    public void Named_groups_keep_re2_numbering(string template, string expected)
    {
        // .NET would number the named groups after the unnamed one; RE2 numbers all groups left to right.
        Assert.Equal(expected, Expand("(?P<first>a+)(?<second>b+)(c)", "aabbbc", template));
    }

    [Fact]
    public void An_unmatched_optional_group_expands_to_nothing()
    {
        Assert.Equal("<>", Expand("(x)?(a+)", "aa", "<$1>"));
    }

    [Theory]
    [InlineData("foo", "foo", true)]
    [InlineData("foo", "foobar", false)]
    [InlineData("foo", "barfoo", false)]
    [InlineData("foo", "foo\n", false)]
    [InlineData("foo|bar", "bar", true)]
    [InlineData("foo|bar", "foobar", false)]
    [InlineData("", "", true)]
    [InlineData("", "x", false)]
    [InlineData("(.*)", "", true)]
    [InlineData("kworker.*", "kworker/0:1H", true)]
    [InlineData("KWORKER.*", "kworker/0:1H", false)]
    [InlineData("(?i)KWORKER.*", "kworker/0:1H", true)]
    [InlineData(@"\d+", "123", true)]
    [InlineData(@"\d+", "١٢٣", false)]
    [InlineData(@"\w+", "héllo", false)]
    [InlineData(@"\w+", "hello_1", true)]
    [InlineData(@"\s", "\u00a0", false)]
    [InlineData(@"\S+", "ab", true)]
    [InlineData(@"[\d.]+", "1.2", true)]
    [InlineData("[[:alpha:]]+", "abcXYZ", true)]
    [InlineData("[[:alpha:]]+", "abc1", false)]
    [InlineData("[^[:digit:]]+", "abc", true)]
    [InlineData("[]a]+", "]a]", true)]
    [InlineData("[a-z-[aeiou]]", "b]", true)]
    [InlineData(@"\Qa.b\E", "a.b", true)]
    [InlineData(@"\Qa.b\E", "axb", false)]
    [InlineData(@"\pL+", "héllo", true)]
    [InlineData(@"(?s).+", "a\nb", true)]
    [InlineData(".+", "a\nb", false)]
    public void Matches_are_anchored_with_re2_classes(string pattern, string input, bool matches)
    {
        Assert.Equal(matches, Re2Pattern.Compile(pattern).IsMatch(input));
    }

    [Theory]
    [InlineData("(", "Not enough )'s")]
    [InlineData("a)", "Too many )'s")]
    [InlineData("[a", "missing closing ]: \"[a\"")]
    [InlineData("x[^]", "missing closing ]: \"[^]\"")]
    [InlineData(@"(a)\1", "not supported by RE2 syntax")]
    [InlineData("(?=a)", "invalid or unsupported Perl syntax: \"(?=\"")]
    [InlineData("a(?!b)", "invalid or unsupported Perl syntax: \"(?!\"")]
    [InlineData("(?<=a)b", "invalid or unsupported Perl syntax: \"(?<\"")]
    [InlineData("(?U)a+", "invalid or unsupported Perl syntax: \"(?U\" (the ungreedy flag U is not supported)")]
    [InlineData("(?x)a", "invalid or unsupported Perl syntax: \"(?x\"")]
    [InlineData("(?'n'a)", "invalid or unsupported Perl syntax: \"(?'\"")]
    [InlineData("(?P<a-b>x)", "invalid named capture: \"(?P<a-b>\"")]
    [InlineData("(?P<n>x)(?P<n>y)", "duplicate capture group name: \"n\"")]
    [InlineData("[[:nope:]]", "invalid character class range: \"[:nope:]\"")]
    [InlineData("[[:^alpha:]]", "negated POSIX class \"[:^alpha:]\" is not supported; negate the whole class instead")]
    public void Invalid_patterns_are_refused_with_the_reason(string pattern, string reason)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => Re2Pattern.Compile(pattern));
        Assert.StartsWith(reason, e.Message);
    }

    [Theory]
    [InlineData("service", true)]
    [InlineData("_x1", true)]
    [InlineData("${1}", true)]
    [InlineData("$1", true)]
    [InlineData("proc_$1", true)]
    [InlineData("${1}_suffix", true)]
    [InlineData("$name", true)]
    [InlineData("1abc", false)]
    [InlineData("foo-bar", false)]
    [InlineData("", false)]
    [InlineData("$", false)]
    [InlineData("a$-", false)]
    [InlineData("${1", false)]
    public void Label_name_templates_are_checked(string template, bool valid)
    {
        Assert.Equal(valid, Re2Pattern.IsLabelNameTemplate(template));
    }

    private static string Expand(string pattern, string input, string template)
    {
        var re = Re2Pattern.Compile(pattern);
        var match = re.Match(input);
        Assert.True(match.Success);
        var sb = new StringBuilder();
        re.Expand(sb, template, match);
        return sb.ToString();
    }
}
