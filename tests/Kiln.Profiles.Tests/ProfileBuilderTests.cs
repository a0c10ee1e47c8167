namespace Kiln.Profiles.Tests;

public class ProfileBuilderTests
{
    [Fact]
    public void Interns_strings_functions_locations_and_mappings()
    {
        var p = TestProfiles.Cpu();

        Assert.Equal(
            new[] { "", "samples", "count", "cpu", "nanoseconds", "/bin/app", "abc123", "hash", "hash.go", "work", "work.go", "main", "main.go", "comm", "app" },
            p.StringTable);
        Assert.Equal(new ulong[] { 1, 2, 3 }, p.Location.Select(l => l.Id));
        Assert.Equal(new ulong[] { 0x3000, 0x2000, 0x1000 }, p.Location.Select(l => l.Address));
        Assert.Equal(new ulong[] { 3, 2, 1 }, p.Sample[0].LocationId.Reverse());
        var mapping = Assert.Single(p.Mapping);
        Assert.True(mapping.HasFunctions && mapping.HasFilenames && mapping.HasLineNumbers);
        Assert.False(mapping.HasInlineFrames);
        Assert.Equal(10_000_000, p.Period);
        PprofCodec.Validate(p);
    }

    [Fact]
    public void Location_ids_can_be_reused_on_the_fast_path()
    {
        var b = new ProfileBuilder().AddSampleType("samples", "count");
        var leaf = b.InternLocation(TestProfiles.Hash);
        var root = b.InternLocation(TestProfiles.Main);

        Assert.Equal(leaf, b.InternLocation(TestProfiles.Hash));
        b.AddSample([leaf, root], [4]);
        b.AddSample([TestProfiles.Hash, TestProfiles.Main], [1]);
        var p = b.Build();

        Assert.Equal(2, p.Location.Count);
        Assert.Equal("main;hash 5\n", FoldedStacks.ToFolded(p));
    }

    [Fact]
    public void Wrong_value_count_is_refused()
    {
        var b = new ProfileBuilder().AddSampleType("samples", "count").AddSampleType("cpu", "nanoseconds");

        var e = Assert.Throws<ArgumentException>(() => b.AddSample([TestProfiles.Main], [1]));

        Assert.StartsWith("sample has 1 value(s) but the profile declares 2 sample type(s)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Builder_is_spent_after_build()
    {
        var b = new ProfileBuilder().AddSampleType("samples", "count");
        b.Build();

        Assert.Throws<InvalidOperationException>(() => b.AddSample([TestProfiles.Main], [1]));
    }
}
