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
        Assert.Equal(copied.LocationIds(copied.Samples[0]).ToArray().Select(id => copied.LocationIndex(id)), inPlace.LocationIndices(inPlace.Samples[0]).ToArray());
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
    public void Varints_of_every_length_and_sparse_ids_read_as_the_protobuf_decoder_reads_them()
    {
        var profile = new Profile { TimeNanos = -1, DurationNanos = long.MaxValue, Period = 1 };
        profile.StringTable.Add("");
        profile.StringTable.Add("samples");
        profile.StringTable.Add("count");
        profile.SampleType.Add(new Pprof.ValueType { Type = 1, Unit = 2 });
        // Ids out of order and far apart, so positions come from the id map rather than arithmetic.
        var ids = new List<ulong>();
        for (var bits = 0; bits <= 64; bits += 7)
        {
            var address = bits == 0 ? 0 : bits == 63 ? ulong.MaxValue : (1UL << bits) - 1;
            foreach (var a in new[] { address, address + 1 })
            {
                var id = (ulong)(ids.Count * 977 % 4096) + (1UL << (ids.Count % 9 * 7));
                ids.Add(id);
                profile.Location.Add(new Location { Id = id, Address = a });
            }
        }
        for (var i = 0; i < ids.Count; i++)
        {
            var sample = new Pprof.Sample();
            sample.LocationId.Add(ids[i]);
            sample.LocationId.Add(ids[(i * 5 + 3) % ids.Count]);
            sample.Value.Add(i % 2 == 0 ? (long)profile.Location[i].Address : -i);
            profile.Sample.Add(sample);
        }
        using var view = new PprofView();
        view.Parse(profile.ToByteArray());

        Assert.Equal((-1L, long.MaxValue), (view.TimeNanos, view.DurationNanos));
        Assert.Equal(profile.Location.Select(l => (l.Id, l.Address)), view.Locations.ToArray().Select(l => (l.Id, l.Address)));
        for (var i = 0; i < profile.Sample.Count; i++)
        {
            var s = view.Samples[i];
            Assert.Equal(profile.Sample[i].LocationId, view.LocationIds(s).ToArray());
            Assert.Equal(profile.Sample[i].LocationId.Select(id => profile.Location.ToList().FindIndex(l => l.Id == id)), view.LocationIndices(s).ToArray());
            Assert.Equal(profile.Sample[i].Value, view.Values(s).ToArray());
        }
    }

    [Fact]
    public void Fields_out_of_order_or_repeated_read_as_the_protobuf_decoder_reads_them()
    {
        // The parser reads a function's, location's and line's fields in the order encoders write them first:
        // other orders, repeats (the last one counts) and unknown fields must come out the same.
        static byte[] Message(Action<CodedOutputStream> write)
        {
            using var buffer = new MemoryStream();
            var output = new CodedOutputStream(buffer);
            write(output);
            output.Flush();
            return buffer.ToArray();
        }
        static void Varint(CodedOutputStream o, int field, ulong value)
        {
            o.WriteTag(field, WireFormat.WireType.Varint);
            o.WriteUInt64(value);
        }
        static void Bytes(CodedOutputStream o, int field, byte[] value)
        {
            o.WriteTag(field, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(ByteString.CopyFrom(value));
        }
        var line = Message(o => { Varint(o, 2, 42); Varint(o, 1, 1); });
        var bytes = Message(o =>
        {
            Bytes(o, 1, Message(t => { Varint(t, 1, 1); Varint(t, 2, 2); }));
            // A sample: location ids unpacked, one by one.
            Bytes(o, 2, Message(s => { Varint(s, 1, 7); Varint(s, 2, 5); Varint(s, 1, 7); }));
            Bytes(o, 3, Message(m => { Varint(m, 5, 3); Varint(m, 1, 1); }));
            // Location 7: fields backwards, the address twice, an unknown field 9, an inline frame of two lines.
            Bytes(o, 4, Message(l =>
            {
                Varint(l, 3, 0x999); Varint(l, 9, 1); Bytes(l, 4, line); Bytes(l, 4, Message(x => Varint(x, 1, 1)));
                Varint(l, 2, 1); Varint(l, 3, 0x7f_1234_5678); Varint(l, 1, 7);
            }));
            // Function 1: fields backwards, the name twice.
            Bytes(o, 5, Message(f => { Varint(f, 5, 12); Varint(f, 2, 4); Varint(f, 3, 3); Varint(f, 2, 3); Varint(f, 1, 1); }));
            foreach (var text in new[] { "", "samples", "count", "main", "other" })
            {
                Bytes(o, 6, System.Text.Encoding.UTF8.GetBytes(text));
            }
        });
        var expected = Profile.Parser.ParseFrom(bytes);
        using var view = new PprofView();
        view.Parse(bytes);

        var location = Assert.Single(view.Locations.ToArray());
        Assert.Equal((7UL, 1UL, 0x7f_1234_5678UL), (location.Id, location.MappingId, location.Address));
        Assert.Equal(expected.Location[0].Line.Select(x => (x.FunctionId, x.Line_)), view.Lines(location).ToArray());
        var function = Assert.Single(view.Functions.ToArray());
        Assert.Equal((expected.Function[0].Id, expected.Function[0].Name, expected.Function[0].SystemName, expected.Function[0].StartLine),
            (function.Id, function.Name, function.SystemName, function.StartLine));
        Assert.Equal("main", view.String(function.Name));
        Assert.Equal((1UL, 3L), (view.Mappings[0].Id, view.Mappings[0].Filename));
        Assert.Equal(expected.Sample[0].LocationId, view.LocationIds(view.Samples[0]).ToArray());
        Assert.Equal([0, 0], view.LocationIndices(view.Samples[0]).ToArray());
    }

    [Fact]
    public void A_varint_running_past_the_end_of_its_message_is_refused_even_when_bytes_follow()
    {
        // Profile.location (field 4) of 3 bytes: address (field 3) = 0x80 0x80, cut short by the message's end;
        // the string table's bytes after it would complete the varint if the reader looked past the end.
        byte[] bytes = [0x22, 0x03, 0x18, 0x80, 0x80, 0x32, 0x00, 0x32, 0x01, 0x61, 0x32, 0x01, 0x62, 0x32, 0x01, 0x63];
        using var view = new PprofView();
        var e = Assert.Throws<PprofFormatException>(() => view.Parse(bytes));
        Assert.Contains("truncated or malformed", e.Message, StringComparison.Ordinal);
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

    [Theory]
    [InlineData(-1, 0UL)]
    [InlineData(0, 0UL)]
    [InlineData(5, 6UL)]
    [InlineData(12, (1UL << 32) + 1)]
    [InlineData(26, 6UL)]
    public void Every_sample_location_id_of_a_numbered_table_is_checked_and_resolved(int broken, ulong id)
    {
        // 27 ids over three samples: the ids are resolved eight at a time and the last three one by one.
        var builder = new ProfileBuilder().AddSampleType("samples", "count");
        var frames = Enumerable.Range(0, 5).Select(i => new FrameSpec($"f{i}", Address: (ulong)(0x1000 + i))).ToArray();
        for (var s = 0; s < 3; s++)
        {
            builder.AddSample(Enumerable.Range(0, 9).Select(i => frames[(s + i * 2) % 5]).ToArray(), [1]);
        }
        var profile = builder.Build();
        Assert.Equal(5, profile.Location.Count);
        if (broken >= 0)
        {
            profile.Sample[broken / 9].LocationId[broken % 9] = id;
        }
        using var view = new PprofView();
        if (broken >= 0)
        {
            var e = Assert.Throws<PprofFormatException>(() => view.Parse(profile.ToByteArray()));
            Assert.StartsWith($"sample[{broken / 9}].location_id[{broken % 9}] = {id} refers to no location", e.Message, StringComparison.Ordinal);
            return;
        }
        view.Parse(profile.ToByteArray());
        for (var s = 0; s < 3; s++)
        {
            Assert.Equal(profile.Sample[s].LocationId.Select(l => (int)l - 1), view.LocationIndices(view.Samples[s]).ToArray());
        }
    }

    public static TheoryData<string, Action<Profile>, string> DanglingReferences => new()
    {
        { "mapping in a numbered table", p => p.Location[1].MappingId = 7, "location[1].mapping_id = 7 refers to no mapping" },
        { "function in a numbered table", p => p.Location[2].Line[0].FunctionId = 42, "location[2].line[0].function_id = 42 refers to no function" },
        { "function id 0", p => p.Location[0].Line[0].FunctionId = 0, "location[0].line[0].function_id = 0 refers to no function" },
        { "location id 0", p => p.Sample[0].LocationId[1] = 0, "sample[0].location_id[1] = 0 refers to no location" },
        { "location just past the table", p => p.Sample[1].LocationId[0] = 4, "sample[1].location_id[0] = 4 refers to no location" },
        {
            "function in a sparse table", p =>
            {
                p.Function[0].Id = 100;
                foreach (var line in p.Location.SelectMany(l => l.Line).Where(l => l.FunctionId == 1))
                {
                    line.FunctionId = 100;
                }
                p.Location[1].Line[0].FunctionId = 1;
            },
            "location[1].line[0].function_id = 1 refers to no function"
        },
    };

    // Tables numbered 1..N (as Go numbers them) are checked by comparing with their sizes, others through a dictionary.
    [Theory]
    [MemberData(nameof(DanglingReferences))]
    public void A_reference_to_a_missing_entry_is_refused_naming_it(string what, Action<Profile> breakIt, string expected)
    {
        var profile = Sample();
        Assert.Equal([1UL, 2UL, 3UL], profile.Location.Select(l => l.Id));
        breakIt(profile);
        using var view = new PprofView();
        var e = Assert.Throws<PprofFormatException>(() => view.Parse(profile.ToByteArray()));
        Assert.True(e.Message.StartsWith(expected, StringComparison.Ordinal), $"{what}: expected '{expected}' at the start of '{e.Message}'");
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
