using System.IO.Compression;
using Google.Protobuf;
using Kiln.Profiles.Pprof;

namespace Kiln.Profiles.Tests;

public class PprofDecodeTests
{
    [Fact]
    public void Gzip_round_trip_gives_an_equal_profile()
    {
        var profile = TestProfiles.Cpu();
        var bytes = PprofCodec.Encode(profile);

        Assert.True(PprofCodec.IsGzip(bytes));
        var decoded = PprofCodec.Decode(bytes);

        Assert.Equal(profile, decoded);
        Assert.Equal(3, decoded.Sample.Count);
        Assert.Equal("cpu", decoded.StringTable[(int)decoded.SampleType[1].Type]);
    }

    [Fact]
    public void Raw_round_trip_gives_an_equal_profile()
    {
        var profile = TestProfiles.Cpu();
        var bytes = PprofCodec.Encode(profile, gzip: false);

        Assert.False(PprofCodec.IsGzip(bytes));
        Assert.Equal(profile, PprofCodec.Decode(bytes));
    }

    [Fact]
    public void Empty_input_is_an_empty_profile()
    {
        var decoded = PprofCodec.Decode([]);

        Assert.Empty(decoded.Sample);
        Assert.Empty(decoded.StringTable);
    }

    [Fact]
    public void Sparse_unordered_ids_are_accepted()
    {
        var profile = TestProfiles.Cpu();
        // Renumber locations 1,2,3 -> 30,20,10 and fix the references.
        foreach (var loc in profile.Location)
        {
            loc.Id = 40 - loc.Id * 10;
        }
        foreach (var s in profile.Sample)
        {
            for (var i = 0; i < s.LocationId.Count; i++)
            {
                s.LocationId[i] = 40 - s.LocationId[i] * 10;
            }
        }

        var decoded = PprofCodec.Decode(PprofCodec.Encode(profile, gzip: false));

        Assert.Equal(new ulong[] { 30, 20, 10 }, decoded.Sample[0].LocationId);
    }

    public static TheoryData<string, Action<Profile>, string> Violations => new()
    {
        { "string table head", p => p.StringTable[0] = "foo", "string_table[0] must be \"\" but is \"foo\"" },
        { "function name", p => p.Function[2].Name = 812, "function[2].name = 812 is outside string_table (size 15)" },
        { "negative index", p => p.Mapping[0].Filename = -1, "mapping[0].filename = -1 is outside string_table (size 15)" },
        { "system name", p => p.Function[0].SystemName = 15, "function[0].system_name = 15 is outside string_table (size 15)" },
        { "function file", p => p.Function[1].Filename = 99, "function[1].filename = 99 is outside string_table" },
        { "build id", p => p.Mapping[0].BuildId = 20, "mapping[0].build_id = 20 is outside string_table" },
        { "sample type", p => p.SampleType[1].Type = 50, "sample_type[1].type = 50 is outside string_table" },
        { "period unit", p => p.PeriodType.Unit = 77, "period_type.unit = 77 is outside string_table" },
        { "label key", p => p.Sample[0].Label[0].Key = 100, "sample[0].label[0].key = 100 is outside string_table" },
        { "label str", p => p.Sample[0].Label[0].Str = -5, "sample[0].label[0].str = -5 is outside string_table" },
        { "label num unit", p => p.Sample[0].Label[0].NumUnit = 16, "sample[0].label[0].num_unit = 16 is outside string_table" },
        { "comment", p => p.Comment.Add(33), "comment[0] = 33 is outside string_table" },
        { "drop frames", p => p.DropFrames = 40, "drop_frames = 40 is outside string_table" },
        { "keep frames", p => p.KeepFrames = 41, "keep_frames = 41 is outside string_table" },
        { "default sample type", p => p.DefaultSampleType = 42, "default_sample_type = 42 is outside string_table" },
        { "doc url", p => p.DocUrl = 43, "doc_url = 43 is outside string_table" },
        { "value count", p => p.Sample[1].Value.RemoveAt(1), "sample[1] has 1 value(s) but the profile declares 2 sample_type(s)" },
        {
            "location ref", p => p.Sample[0].LocationId[2] = 99,
            "sample[0].location_id[2] = 99 refers to no location (profile has 3 location(s) with ids 1..3)"
        },
        { "zero location ref", p => p.Sample[2].LocationId[0] = 0, "sample[2].location_id[0] = 0 refers to no location" },
        { "mapping ref", p => p.Location[1].MappingId = 7, "location[1].mapping_id = 7 refers to no mapping (profile has 1 mapping(s) with ids 1..1)" },
        { "function ref", p => p.Location[2].Line[0].FunctionId = 42, "location[2].line[0].function_id = 42 refers to no function (profile has 3 function(s) with ids 1..3)" },
        { "zero id", p => p.Function[1].Id = 0, "function[1].id is 0" },
        { "duplicate id", p => p.Location[2].Id = 1, "location[2].id = 1 duplicates location[0].id" },
        { "duplicate mapping id", p => p.Mapping.Add(new Mapping { Id = 1 }), "mapping[1].id = 1 duplicates mapping[0].id" },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public void Each_violation_is_named_with_its_field_and_value(string what, Action<Profile> breakIt, string expected)
    {
        var profile = TestProfiles.Cpu();
        Assert.Equal(15, profile.StringTable.Count);
        breakIt(profile);

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(PprofCodec.Encode(profile)));

        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{what}: expected '{expected}' in '{e.Message}'");
    }

    [Fact]
    public void Mapping_id_zero_and_function_id_zero_mean_none()
    {
        var profile = TestProfiles.Cpu();
        profile.Location[0].MappingId = 0;
        profile.Location[1].Line[0].FunctionId = 0;

        var decoded = PprofCodec.Decode(PprofCodec.Encode(profile));

        Assert.Equal(0UL, decoded.Location[0].MappingId);
    }

    [Fact]
    public void Empty_string_table_is_refused_when_the_profile_has_content()
    {
        var profile = TestProfiles.Cpu();
        profile.StringTable.Clear();

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(PprofCodec.Encode(profile)));

        Assert.StartsWith("string_table is empty but the profile is not (2 sample_type(s), 3 sample(s), 3 location(s)", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MaxSamples", "profile has 3 sample entries, more than the limit of 2 (PprofLimits.MaxSamples)")]
    [InlineData("MaxLocations", "profile has 3 location entries, more than the limit of 2 (PprofLimits.MaxLocations)")]
    [InlineData("MaxStringTableEntries", "profile has 15 string_table entries, more than the limit of 2 (PprofLimits.MaxStringTableEntries)")]
    [InlineData("MaxStackDepth", "sample[0] has 3 location_id(s), more than the limit of 2 (PprofLimits.MaxStackDepth)")]
    public void Size_limits_are_enforced(string limit, string expected)
    {
        var limits = limit switch
        {
            "MaxSamples" => new PprofLimits { MaxSamples = 2 },
            "MaxLocations" => new PprofLimits { MaxLocations = 2 },
            "MaxStringTableEntries" => new PprofLimits { MaxStringTableEntries = 2 },
            _ => new PprofLimits { MaxStackDepth = 2 },
        };

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(PprofCodec.Encode(TestProfiles.Cpu()), limits));

        Assert.StartsWith(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gzip_bomb_is_refused_at_the_cap()
    {
        // 64 MiB of zeros compress to about 64 KiB.
        var bomb = Gzip(new byte[64 * 1024 * 1024]);
        Assert.True(bomb.Length < 1024 * 1024);

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(bomb, new PprofLimits { MaxDecompressedBytes = 1024 * 1024 }));

        Assert.StartsWith("gzip stream decompresses to more than 1048576 bytes (PprofLimits.MaxDecompressedBytes)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Raw_input_over_the_cap_is_refused()
    {
        var raw = PprofCodec.Encode(TestProfiles.Cpu(), gzip: false);

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(raw, new PprofLimits { MaxDecompressedBytes = 10 }));

        Assert.StartsWith($"profile is {raw.Length} bytes, more than the limit of 10 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gzip_exactly_at_the_cap_is_accepted()
    {
        var raw = PprofCodec.Encode(TestProfiles.Cpu(), gzip: false);

        var decoded = PprofCodec.Decode(Gzip(raw), new PprofLimits { MaxDecompressedBytes = raw.Length });

        Assert.Equal(3, decoded.Sample.Count);
    }

    [Fact]
    public void Truncated_protobuf_names_the_damaged_field_and_offset()
    {
        var profile = TestProfiles.Cpu();
        var raw = PprofCodec.Encode(profile, gzip: false);
        var cut = raw.AsSpan(0, raw.Length - 1).ToArray();
        // Fields are written in number order, so the last one is period (12), a multi-byte varint.

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(cut));

        Assert.StartsWith("not a valid pprof: protobuf is truncated or malformed at byte ", e.Message, StringComparison.Ordinal);
        Assert.Contains($"at byte {raw.Length - 5} (period: varint is cut off)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_sample_reports_its_index()
    {
        var profile = new Profile();
        profile.StringTable.Add("");
        var bytes = profile.ToByteArray().Concat(new byte[] { 0x12, 0x05, 0x0a, 0x03, 0x01 }).ToArray();

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(bytes));

        Assert.StartsWith("not a valid pprof: protobuf is truncated or malformed at byte 2 (sample[0]: declares 5 bytes but only 3 remain)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_nested_message_reports_the_element()
    {
        var profile = new Profile();
        profile.StringTable.Add("");
        // sample[0] holds a location_id field (tag 0x08) whose varint never ends within the 2-byte body.
        var bytes = profile.ToByteArray().Concat(new byte[] { 0x12, 0x02, 0x08, 0x80 }).ToArray();

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(bytes));

        Assert.StartsWith("not a valid pprof: protobuf is truncated or malformed at byte 2 (sample[0]: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Corrupt_gzip_is_reported()
    {
        var gz = PprofCodec.Encode(TestProfiles.Cpu());
        for (var i = 12; i < gz.Length - 8; i++)
        {
            gz[i] ^= 0x5a;
        }

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(gz));

        Assert.StartsWith("not a valid pprof: gzip stream is corrupt (", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gzip_with_bad_checksum_is_reported()
    {
        var gz = PprofCodec.Encode(TestProfiles.Cpu());
        gz[^8] ^= 0xff;

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(gz));

        Assert.StartsWith("not a valid pprof: gzip stream is corrupt (", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_gzip_is_refused()
    {
        var gz = PprofCodec.Encode(TestProfiles.Cpu());
        var cut = gz.AsSpan(0, gz.Length / 2).ToArray();

        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(cut));

        Assert.StartsWith("not a valid pprof: gzip stream is truncated (it inflated to ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0x1f, 0x8b })]
    [InlineData(new byte[] { 0x1f, 0x8b, 0x08 })]
    [InlineData(new byte[] { 0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03 })]
    public void Gzip_magic_alone_is_refused(byte[] data)
    {
        var e = Assert.Throws<PprofFormatException>(() => PprofCodec.Decode(data));

        Assert.StartsWith("not a valid pprof: gzip stream is", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Multi_member_gzip_is_accepted()
    {
        var raw = PprofCodec.Encode(TestProfiles.Cpu(), gzip: false);
        var half = raw.Length / 2;
        var twoMembers = Gzip(raw[..half]).Concat(Gzip(raw[half..])).ToArray();

        Assert.Equal(TestProfiles.Cpu(), PprofCodec.Decode(twoMembers));
    }

    [Fact]
    public void Validate_accepts_builder_output()
    {
        PprofCodec.Validate(TestProfiles.Cpu());
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var zip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            zip.Write(data);
        }
        return output.ToArray();
    }
}
