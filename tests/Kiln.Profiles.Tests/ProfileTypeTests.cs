namespace Kiln.Profiles.Tests;

public class ProfileTypeTests
{
    [Theory]
    [InlineData("parca_agent:samples:count:cpu:nanoseconds:delta", "parca_agent", "samples", "count", "cpu", "nanoseconds", true)]
    [InlineData("memory:inuse_space:bytes:space:bytes", "memory", "inuse_space", "bytes", "space", "bytes", false)]
    public void Parses_and_prints_the_same_id(string text, string name, string st, string su, string pt, string pu, bool delta)
    {
        var type = ProfileType.Parse(text);

        Assert.Equal(new ProfileType(name, st, su, pt, pu, delta), type);
        Assert.Equal(text, type.ToString());
    }

    [Theory]
    [InlineData("a:b:c:d", "profile type 'a:b:c:d' has 4 part(s)")]
    [InlineData("a:b:c:d:e:f:g", "profile type 'a:b:c:d:e:f:g' has 7 part(s)")]
    [InlineData("a:b:c:d:e:cumulative", "profile type 'a:b:c:d:e:cumulative' ends in 'cumulative'")]
    [InlineData("a:b::d:e", "profile type 'a:b::d:e' has an empty part 3 (sample_unit)")]
    public void Rejects_malformed_ids(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => ProfileType.Parse(text));

        Assert.StartsWith(expected, e.Message, StringComparison.Ordinal);
        Assert.False(ProfileType.TryParse(text, out var none));
        Assert.Null(none);
    }
}
