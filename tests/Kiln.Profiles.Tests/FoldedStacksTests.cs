using Kiln.Profiles.Pprof;

namespace Kiln.Profiles.Tests;

public class FoldedStacksTests
{
    [Fact]
    public void Writes_root_first_sorted_and_uses_the_last_sample_type_by_default()
    {
        Assert.Equal("main 30\nmain;work 20\nmain;work;hash 10\n", FoldedStacks.ToFolded(TestProfiles.Cpu()));
        Assert.Equal("main 3\nmain;work 2\nmain;work;hash 1\n", FoldedStacks.ToFolded(TestProfiles.Cpu(), 0));
    }

    [Fact]
    public void Default_sample_type_is_honoured()
    {
        var p = new ProfileBuilder().AddSampleType("alloc_space", "bytes").AddSampleType("inuse_space", "bytes")
            .SetDefaultSampleType("alloc_space")
            .AddSample([TestProfiles.Main], [7, 3])
            .Build();

        Assert.Equal("main 7\n", FoldedStacks.ToFolded(p));
    }

    [Fact]
    public void Same_stacks_are_summed_and_inlined_frames_expand_caller_first()
    {
        var p = new ProfileBuilder().AddSampleType("samples", "count")
            .AddSample([new FrameSpec("leafInlined", InlinedIntoCaller: true), new FrameSpec("caller"), new FrameSpec(null, Address: 0x4a2f)], [2])
            .AddSample([new FrameSpec("leafInlined", InlinedIntoCaller: true), new FrameSpec("caller"), new FrameSpec(null, Address: 0x4a2f)], [5])
            .Build();

        Assert.Equal("0x4a2f;caller;leafInlined 7\n", FoldedStacks.ToFolded(p));
    }

    [Fact]
    public void Round_trip_through_a_profile_is_exact()
    {
        const string Text = "main;parse;0x7f00 12\nmain;run 3\nmain;run;hash 40\nmain;run;sort 1\n";

        var profile = FromText(Text);

        Assert.Equal(Text, FoldedStacks.ToFolded(profile));
        PprofCodec.Validate(profile);
        Assert.Equal(6, profile.Location.Count);
        Assert.Equal("samples", profile.StringTable[(int)profile.SampleType[0].Type]);
    }

    [Fact]
    public void Reading_tolerates_blank_lines_crlf_and_repeats()
    {
        var profile = FromText("a;b 1\r\n\r\n  a;b 2  \nc 0\n", "cpu", "nanoseconds");

        Assert.Equal("a;b 3\n", FoldedStacks.ToFolded(profile));
        Assert.Equal("nanoseconds", profile.StringTable[(int)profile.SampleType[0].Unit]);
    }

    [Theory]
    [InlineData("a;b 1\nmain\n", "folded stacks line 2: missing count")]
    [InlineData("a;b 1\n\na;b x12\n", "folded stacks line 3: count 'x12' is not an integer")]
    [InlineData("a;b -4\n", "folded stacks line 1: count -4 is negative")]
    [InlineData("a;b 1.5\n", "folded stacks line 1: count '1.5' is not an integer")]
    [InlineData("a;;b 1\n", "folded stacks line 1: empty frame at character 3 of the stack")]
    public void Errors_name_the_line(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => FromText(text));

        Assert.StartsWith(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Out_of_range_sample_type_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FoldedStacks.ToFolded(TestProfiles.Cpu(), 2));
    }

    private static Profile FromText(string text, string type = "samples", string unit = "count")
    {
        using var reader = new StringReader(text);
        return FoldedStacks.FromFolded(reader, type, unit);
    }
}
