using Google.Protobuf;
using Kiln.Profiles.Pprof;

namespace Kiln.Profiles.Tests;

public class PprofViewTests
{
    private static Profile Sample() => new ProfileBuilder()
        .AddSampleType("samples", "count").AddSampleType("cpu", "nanoseconds")
        .SetPeriod("cpu", "nanoseconds", 10_000_000)
        .SetTime(1_700_000_000_000_000_000, 10_000_000_000)
        .AddSample([new FrameSpec("leaf", "a.c", 3, MappingFile: "/bin/app", BuildId: "abc", Address: 0x1000), new FrameSpec("main", "a.c", 1, MappingFile: "/bin/app", BuildId: "abc", Address: 0x2000)], [2, 20_000_000], [("thread_id", "7")])
        .AddSample([new FrameSpec("other", "b.c", 9, MappingFile: "/bin/app", BuildId: "abc", Address: 0x3000), new FrameSpec("main", "a.c", 1, MappingFile: "/bin/app", BuildId: "abc", Address: 0x2000)], [1, 10_000_000])
        .Build();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Parse_reads_the_same_tables_and_values_as_the_protobuf_decoder(bool gzip)
    {
        var profile = Sample();
        using var view = new PprofView();
        view.Parse(PprofCodec.Encode(profile, gzip));

        Assert.Equal(profile.StringTable.Count, view.StringCount);
        for (var i = 0; i < profile.StringTable.Count; i++)
        {
            Assert.Equal(profile.StringTable[i], view.String(i));
        }
        Assert.Equal(profile.SampleType.Select(t => (t.Type, t.Unit)), view.SampleTypes.ToArray());
        Assert.Equal(("cpu", "nanoseconds"), (view.String(view.PeriodType), view.String(view.PeriodUnit)));
        Assert.Equal(10_000_000, view.Period);
        Assert.Equal(1_700_000_000_000_000_000, view.TimeNanos);
        Assert.Equal(10_000_000_000, view.DurationNanos);
        Assert.Equal(profile.Mapping.Select(m => (m.Id, m.Filename, m.BuildId)), view.Mappings.ToArray().Select(m => (m.Id, m.Filename, m.BuildId)));
        Assert.Equal(profile.Function.Select(f => (f.Id, f.Name, f.Filename)), view.Functions.ToArray().Select(f => (f.Id, f.Name, f.Filename)));
        Assert.Equal(profile.Location.Count, view.Locations.Length);
        for (var i = 0; i < profile.Location.Count; i++)
        {
            var l = view.Locations[i];
            Assert.Equal((profile.Location[i].Id, profile.Location[i].MappingId, profile.Location[i].Address), (l.Id, l.MappingId, l.Address));
            Assert.Equal(profile.Location[i].Line.Select(x => (x.FunctionId, x.Line_)), view.Lines(l).ToArray());
        }
        Assert.Equal(2, view.Samples.Length);
        for (var i = 0; i < 2; i++)
        {
            var s = view.Samples[i];
            Assert.Equal(profile.Sample[i].LocationId, view.LocationIds(s).ToArray());
            Assert.Equal(profile.Sample[i].Value, view.Values(s).ToArray());
            Assert.Equal(profile.Sample[i].Label.Select(l => (l.Key, l.Str)), view.Labels(s).ToArray().Select(l => (l.Key, l.Str)));
        }
    }

    [Fact]
    public void Parsing_memory_in_place_reads_the_same_as_parsing_a_copy()
    {
        var bytes = PprofCodec.Encode(Sample(), gzip: false);
        // Inside a larger array, as a gRPC request's bytes field may be.
        var padded = new byte[bytes.Length + 7];
        bytes.CopyTo(padded, 3);
        using var inPlace = new PprofView();
        inPlace.Parse(padded.AsMemory(3, bytes.Length));
        using var copied = new PprofView();
        copied.Parse(bytes.AsSpan());

        Assert.Equal(copied.StringCount, inPlace.StringCount);
        for (var i = 0; i < copied.StringCount; i++)
        {
            Assert.Equal(copied.String(i), inPlace.String(i));
        }
        Assert.Equal(copied.Locations.ToArray(), inPlace.Locations.ToArray());
        Assert.Equal(copied.Samples.ToArray(), inPlace.Samples.ToArray());
        Assert.Equal(2, inPlace.LocationIndex(copied.Locations[2].Id));
    }

    [Fact]
    public void A_view_can_be_reused_for_another_profile()
    {
        using var view = new PprofView();
        view.Parse(PprofCodec.Encode(Sample()));
        var small = new ProfileBuilder().AddSampleType("samples", "count").AddSample([new FrameSpec("f")], [5]).Build();
        view.Parse(PprofCodec.Encode(small, gzip: false));
        Assert.Single(view.Samples.ToArray());
        Assert.Equal([5L], view.Values(view.Samples[0]).ToArray());
        Assert.Equal("f", view.String(view.Functions[0].Name));
    }

    [Fact]
    public void Truncated_protobuf_is_refused_with_the_element_at_fault()
    {
        var bytes = Sample().ToByteArray();
        using var view = new PprofView();
        var e = Assert.Throws<PprofFormatException>(() => view.Parse(bytes.AsSpan(0, bytes.Length - 3)));
        Assert.Contains("truncated or malformed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Out_of_range_string_index_is_refused_naming_the_field()
    {
        var profile = Sample();
        profile.Function[0].Name = 999;
        using var view = new PprofView();
        var e = Assert.Throws<PprofFormatException>(() => view.Parse(profile.ToByteArray()));
        Assert.Equal($"function[0].name = 999 is outside string_table (size {profile.StringTable.Count})", e.Message);
    }

    [Fact]
    public void Sample_referring_to_a_missing_location_is_refused()
    {
        var profile = Sample();
        profile.Sample[1].LocationId[0] = 77;
        using var view = new PprofView();
        var e = Assert.Throws<PprofFormatException>(() => view.Parse(profile.ToByteArray()));
        Assert.StartsWith("sample[1].location_id[0] = 77 refers to no location", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_value_count_is_refused()
    {
        var profile = Sample();
        profile.Sample[0].Value.RemoveAt(1);
        using var view = new PprofView();
        var e = Assert.Throws<PprofFormatException>(() => view.Parse(profile.ToByteArray()));
        Assert.StartsWith("sample[0] has 1 value(s) but the profile declares 2 sample_type(s)", e.Message, StringComparison.Ordinal);
    }
}
