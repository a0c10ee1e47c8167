using Kiln.Profiles.Pprof;

namespace Kiln.Profiles.Tests;

public class ProfileMergerTests
{
    [Fact]
    public void Merging_sums_equal_samples_and_deduplicates_tables()
    {
        var a = TestProfiles.Cpu(timeNanos: 1_000, durationNanos: 500);
        var b = TestProfiles.Cpu(timeNanos: 2_000, durationNanos: 700);

        var merged = ProfileMerger.Merge([a, b]);

        Assert.Equal(3, merged.Sample.Count);
        Assert.Equal(3, merged.Location.Count);
        Assert.Equal(3, merged.Function.Count);
        Assert.Single(merged.Mapping);
        Assert.Equal("main 6\nmain;work 4\nmain;work;hash 2\n", FoldedStacks.ToFolded(merged, 0));
        Assert.Equal("main 60\nmain;work 40\nmain;work;hash 20\n", FoldedStacks.ToFolded(merged, 1));
        Assert.Equal(1_000, merged.TimeNanos);
        Assert.Equal(1_700, merged.DurationNanos);
        Assert.Equal(10_000_000, merged.Period);
        Assert.Equal("", merged.StringTable[0]);
        Assert.Equal(merged.StringTable.Count, merged.StringTable.Distinct().Count());
        PprofCodec.Validate(merged);
    }

    [Fact]
    public void Ids_are_dense_and_values_exact()
    {
        var merged = ProfileMerger.Merge([TestProfiles.Cpu(), TestProfiles.Cpu(), TestProfiles.Cpu()]);

        Assert.Equal(new ulong[] { 1, 2, 3 }, merged.Location.Select(l => l.Id));
        Assert.Equal(new ulong[] { 1, 2, 3 }, merged.Function.Select(f => f.Id));
        Assert.Equal(new long[] { 3, 30 }, merged.Sample[0].Value);
        Assert.Equal(new long[] { 6, 60 }, merged.Sample[1].Value);
        Assert.Equal(new long[] { 9, 90 }, merged.Sample[2].Value);
        Assert.Equal(new ulong[] { 1, 2, 3 }, merged.Sample[0].LocationId);
        var label = Assert.Single(merged.Sample[0].Label);
        Assert.Equal("comm", merged.StringTable[(int)label.Key]);
        Assert.Equal("app", merged.StringTable[(int)label.Str]);
    }

    [Fact]
    public void Deduplicates_by_value_across_different_string_tables_and_ids()
    {
        // Same frames, but interned in a different order, so every index and id differs between the inputs.
        var a = new ProfileBuilder().AddSampleType("samples", "count")
            .AddSample([TestProfiles.Work, TestProfiles.Main], [5])
            .Build();
        var b = new ProfileBuilder().AddSampleType("samples", "count")
            .AddSample([TestProfiles.Hash], [1])
            .AddSample([TestProfiles.Work, TestProfiles.Main], [7])
            .Build();

        var merged = ProfileMerger.Merge([a, b]);

        Assert.Equal("hash 1\nmain;work 12\n", FoldedStacks.ToFolded(merged));
        Assert.Equal(3, merged.Location.Count);
        Assert.Equal(3, merged.Function.Count);
        Assert.Single(merged.Mapping);
    }

    [Fact]
    public void Labels_keep_samples_apart_but_label_order_does_not()
    {
        var a = new ProfileBuilder().AddSampleType("samples", "count")
            .AddSample([TestProfiles.Main], [1], [("a", "1"), ("b", "2")])
            .AddSample([TestProfiles.Main], [10], [("b", "2"), ("a", "1")])
            .AddSample([TestProfiles.Main], [100], [("a", "other")])
            .AddSample([TestProfiles.Main], [1000])
            .Build();

        var merged = ProfileMerger.Merge([a]);

        Assert.Equal(new long[] { 11, 100, 1000 }, merged.Sample.Select(s => s.Value[0]));
        Assert.Equal(2, merged.Sample[0].Label.Count);
    }

    [Fact]
    public void Zero_samples_and_their_frames_are_dropped()
    {
        var a = new ProfileBuilder().AddSampleType("samples", "count")
            .AddSample([TestProfiles.Hash], [0])
            .AddSample([TestProfiles.Main], [4])
            .Build();

        var merged = ProfileMerger.Merge([a]);

        Assert.Single(merged.Sample);
        Assert.Single(merged.Location);
        Assert.Equal("main", merged.StringTable[(int)merged.Function[0].Name]);
    }

    [Fact]
    public void Different_sample_types_are_refused_naming_both()
    {
        var heap = new ProfileBuilder().AddSampleType("alloc_space", "bytes").AddSample([TestProfiles.Main], [1]).Build();

        var e = Assert.Throws<ArgumentException>(() => ProfileMerger.Merge([TestProfiles.Cpu(), heap]));

        Assert.StartsWith("profile 1 has sample types [alloc_space/bytes] but profile 0 has [samples/count, cpu/nanoseconds]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Different_period_types_are_refused()
    {
        var other = new ProfileBuilder().AddSampleType("samples", "count").AddSampleType("cpu", "nanoseconds")
            .SetPeriod("wall", "nanoseconds", 1).Build();

        var e = Assert.Throws<ArgumentException>(() => ProfileMerger.Merge([TestProfiles.Cpu(), other]));

        Assert.StartsWith("profile 1 has period type wall/nanoseconds but an earlier profile has cpu/nanoseconds", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Period_is_the_maximum_and_untimed_profiles_keep_the_longest_duration()
    {
        var a = new ProfileBuilder().AddSampleType("s", "c").SetPeriod("cpu", "ns", 5).SetTime(0, 300).Build();
        var b = new ProfileBuilder().AddSampleType("s", "c").SetPeriod("cpu", "ns", 9).SetTime(0, 200).Build();

        var merged = ProfileMerger.Merge([a, b]);

        Assert.Equal(9, merged.Period);
        Assert.Equal(0, merged.TimeNanos);
        Assert.Equal(300, merged.DurationNanos);
    }

    [Fact]
    public void Inlined_locations_and_address_only_frames_survive()
    {
        var p = new ProfileBuilder().AddSampleType("samples", "count")
            .AddSample([new FrameSpec("inner", InlinedIntoCaller: true), new FrameSpec("outer", Address: 0x10), new FrameSpec(null, Address: 0xbeef)], [2])
            .Build();

        var merged = ProfileMerger.Merge([p, p]);

        Assert.Equal("0xbeef;outer;inner 4\n", FoldedStacks.ToFolded(merged));
        Assert.Equal(2, merged.Location[0].Line.Count);
    }

    [Fact]
    public void Empty_input_gives_an_empty_valid_profile()
    {
        var merged = ProfileMerger.Merge(Array.Empty<Profile>());

        Assert.Equal(new[] { "" }, merged.StringTable);
        PprofCodec.Validate(merged);
    }
}
