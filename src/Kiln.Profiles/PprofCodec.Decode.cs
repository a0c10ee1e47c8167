using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using Google.Protobuf;
using Kiln.Profiles.Pprof;

namespace Kiln.Profiles;

public static partial class PprofCodec
{
    private static readonly string[] s_profileFieldNames =
    [
        "", "sample_type", "sample", "mapping", "location", "function", "string_table", "drop_frames", "keep_frames",
        "time_nanos", "duration_nanos", "period_type", "period", "comment", "default_sample_type", "doc_url",
    ];

    /// <summary>True when <paramref name="data"/> starts with the gzip magic bytes 1f 8b.</summary>
    public static bool IsGzip(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == 0x1f && data[1] == 0x8b;

    /// <summary>
    /// Decodes a pprof profile, gzip-compressed or raw protobuf, and validates it: string indices in range,
    /// ids non-zero and unique, every id reference resolvable, one value per sample type, sizes within
    /// <paramref name="limits"/> (<see cref="PprofLimits.Default"/> when null). Throws
    /// <see cref="PprofFormatException"/> naming the field and value at fault; a profile returned is safe to
    /// index without further checks.
    /// </summary>
    public static Profile Decode(ReadOnlySpan<byte> data, PprofLimits? limits = null)
    {
        limits ??= PprofLimits.Default;
        var cap = Math.Min(limits.MaxDecompressedBytes, Array.MaxLength - 1);
        Profile profile;
        if (IsGzip(data))
        {
            var buffer = Gunzip(data, (int)cap, out var length);
            try
            {
                profile = ParseProtobuf(buffer.AsSpan(0, length));
            }
            finally
            {
                // Safe to return at once: Profile has no bytes fields, so nothing parsed aliases the buffer.
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        else
        {
            if (data.Length > cap)
            {
                throw new PprofFormatException(
                    $"profile is {data.Length} bytes, more than the limit of {cap} bytes (PprofLimits.MaxDecompressedBytes); split the profile or raise the limit");
            }
            profile = ParseProtobuf(data);
        }
        Validate(profile, limits);
        return profile;
    }

    /// <summary>
    /// Checks the invariants <see cref="Decode"/> promises on an already parsed profile; throws
    /// <see cref="PprofFormatException"/> for the first violation found.
    /// </summary>
    public static void Validate(Profile profile, PprofLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        limits ??= PprofLimits.Default;
        CheckCount(profile.Sample.Count, limits.MaxSamples, "sample", nameof(PprofLimits.MaxSamples));
        CheckCount(profile.Location.Count, limits.MaxLocations, "location", nameof(PprofLimits.MaxLocations));
        CheckCount(profile.Function.Count, limits.MaxFunctions, "function", nameof(PprofLimits.MaxFunctions));
        CheckCount(profile.Mapping.Count, limits.MaxMappings, "mapping", nameof(PprofLimits.MaxMappings));
        CheckCount(profile.StringTable.Count, limits.MaxStringTableEntries, "string_table", nameof(PprofLimits.MaxStringTableEntries));
        CheckCount(profile.SampleType.Count, limits.MaxSampleTypes, "sample_type", nameof(PprofLimits.MaxSampleTypes));

        var strings = (ulong)profile.StringTable.Count;
        if (strings == 0)
        {
            if (!IsEmpty(profile))
            {
                throw new PprofFormatException(
                    $"string_table is empty but the profile is not ({profile.SampleType.Count} sample_type(s), {profile.Sample.Count} sample(s), " +
                    $"{profile.Location.Count} location(s), {profile.Function.Count} function(s), {profile.Mapping.Count} mapping(s)); " +
                    "string_table[0] must be \"\"");
            }
            return;
        }
        if (profile.StringTable[0].Length != 0)
        {
            throw new PprofFormatException($"string_table[0] must be \"\" but is \"{Truncate(profile.StringTable[0])}\"");
        }

        for (var i = 0; i < profile.SampleType.Count; i++)
        {
            var vt = profile.SampleType[i];
            if ((ulong)vt.Type >= strings)
            {
                throw StringIndexError($"sample_type[{i}].type", vt.Type, strings);
            }
            if ((ulong)vt.Unit >= strings)
            {
                throw StringIndexError($"sample_type[{i}].unit", vt.Unit, strings);
            }
        }
        if (profile.PeriodType is { } period)
        {
            if ((ulong)period.Type >= strings)
            {
                throw StringIndexError("period_type.type", period.Type, strings);
            }
            if ((ulong)period.Unit >= strings)
            {
                throw StringIndexError("period_type.unit", period.Unit, strings);
            }
        }
        for (var i = 0; i < profile.Comment.Count; i++)
        {
            if ((ulong)profile.Comment[i] >= strings)
            {
                throw StringIndexError($"comment[{i}]", profile.Comment[i], strings);
            }
        }
        if ((ulong)profile.DropFrames >= strings)
        {
            throw StringIndexError("drop_frames", profile.DropFrames, strings);
        }
        if ((ulong)profile.KeepFrames >= strings)
        {
            throw StringIndexError("keep_frames", profile.KeepFrames, strings);
        }
        if ((ulong)profile.DefaultSampleType >= strings)
        {
            throw StringIndexError("default_sample_type", profile.DefaultSampleType, strings);
        }
        if ((ulong)profile.DocUrl >= strings)
        {
            throw StringIndexError("doc_url", profile.DocUrl, strings);
        }

        for (var i = 0; i < profile.Mapping.Count; i++)
        {
            var m = profile.Mapping[i];
            if ((ulong)m.Filename >= strings)
            {
                throw StringIndexError($"mapping[{i}].filename", m.Filename, strings);
            }
            if ((ulong)m.BuildId >= strings)
            {
                throw StringIndexError($"mapping[{i}].build_id", m.BuildId, strings);
            }
        }
        for (var i = 0; i < profile.Function.Count; i++)
        {
            var f = profile.Function[i];
            if ((ulong)f.Name >= strings)
            {
                throw StringIndexError($"function[{i}].name", f.Name, strings);
            }
            if ((ulong)f.SystemName >= strings)
            {
                throw StringIndexError($"function[{i}].system_name", f.SystemName, strings);
            }
            if ((ulong)f.Filename >= strings)
            {
                throw StringIndexError($"function[{i}].filename", f.Filename, strings);
            }
        }

        var mappings = IdIndex.Build(profile.Mapping, static m => m.Id, "mapping");
        var functions = IdIndex.Build(profile.Function, static f => f.Id, "function");
        var locations = IdIndex.Build(profile.Location, static l => l.Id, "location");

        for (var i = 0; i < profile.Location.Count; i++)
        {
            var loc = profile.Location[i];
            if (loc.MappingId != 0 && !mappings.TryGetIndex(loc.MappingId, out _))
            {
                throw new PprofFormatException(
                    $"location[{i}].mapping_id = {loc.MappingId} refers to no mapping ({mappings.Describe()}); use 0 for a location without a mapping");
            }
            if (loc.Line.Count > limits.MaxLinesPerLocation)
            {
                throw new PprofFormatException(
                    $"location[{i}] has {loc.Line.Count} line(s), more than the limit of {limits.MaxLinesPerLocation} (PprofLimits.MaxLinesPerLocation)");
            }
            for (var j = 0; j < loc.Line.Count; j++)
            {
                var fid = loc.Line[j].FunctionId;
                if (fid != 0 && !functions.TryGetIndex(fid, out _))
                {
                    throw new PprofFormatException(
                        $"location[{i}].line[{j}].function_id = {fid} refers to no function ({functions.Describe()})");
                }
            }
        }

        var valueCount = profile.SampleType.Count;
        for (var i = 0; i < profile.Sample.Count; i++)
        {
            var s = profile.Sample[i];
            if (s.Value.Count != valueCount)
            {
                throw new PprofFormatException(
                    $"sample[{i}] has {s.Value.Count} value(s) but the profile declares {valueCount} sample_type(s); every sample needs one value per sample_type");
            }
            var ids = s.LocationId;
            if (ids.Count > limits.MaxStackDepth)
            {
                throw new PprofFormatException(
                    $"sample[{i}] has {ids.Count} location_id(s), more than the limit of {limits.MaxStackDepth} (PprofLimits.MaxStackDepth)");
            }
            for (var j = 0; j < ids.Count; j++)
            {
                if (!locations.TryGetIndex(ids[j], out _))
                {
                    throw new PprofFormatException(
                        $"sample[{i}].location_id[{j}] = {ids[j]} refers to no location ({locations.Describe()})");
                }
            }
            var labels = s.Label;
            if (labels.Count > limits.MaxLabelsPerSample)
            {
                throw new PprofFormatException(
                    $"sample[{i}] has {labels.Count} label(s), more than the limit of {limits.MaxLabelsPerSample} (PprofLimits.MaxLabelsPerSample)");
            }
            for (var j = 0; j < labels.Count; j++)
            {
                var l = labels[j];
                if ((ulong)l.Key >= strings)
                {
                    throw StringIndexError($"sample[{i}].label[{j}].key", l.Key, strings);
                }
                if ((ulong)l.Str >= strings)
                {
                    throw StringIndexError($"sample[{i}].label[{j}].str", l.Str, strings);
                }
                if ((ulong)l.NumUnit >= strings)
                {
                    throw StringIndexError($"sample[{i}].label[{j}].num_unit", l.NumUnit, strings);
                }
            }
        }
    }

    private static bool IsEmpty(Profile p) =>
        p.SampleType.Count == 0 && p.Sample.Count == 0 && p.Mapping.Count == 0 && p.Location.Count == 0 &&
        p.Function.Count == 0 && p.Comment.Count == 0 && (p.PeriodType is null || (p.PeriodType.Type == 0 && p.PeriodType.Unit == 0)) &&
        p.DropFrames == 0 && p.KeepFrames == 0 && p.DefaultSampleType == 0 && p.DocUrl == 0;

    // Callers test the index inline and only then format the field name, so valid profiles pay no formatting.
    private static PprofFormatException StringIndexError(string field, long index, ulong size) =>
        new($"{field} = {index} is outside string_table (size {size}); string indices must be in 0..{size - 1}");

    private static void CheckCount(int count, int limit, string field, string limitName)
    {
        if (count > limit)
        {
            throw new PprofFormatException(
                $"profile has {count} {field} entries, more than the limit of {limit} (PprofLimits.{limitName}); split the profile or raise the limit");
        }
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : string.Concat(s.AsSpan(0, 64), "…");

    internal static byte[] Gunzip(ReadOnlySpan<byte> data, int cap, out int length)
    {
        var pool = ArrayPool<byte>.Shared;
        var buffer = pool.Rent((int)Math.Min((long)cap + 1, Math.Max(64 * 1024, (long)data.Length * 4)));
        var total = 0;
        try
        {
            using var input = new MemoryStream(data.ToArray(), writable: false);
            using var gzip = new GZipStream(input, CompressionMode.Decompress);
            while (true)
            {
                if (total == buffer.Length)
                {
                    // Grow to at most cap + 1 bytes: one byte past the cap is enough to know the cap is exceeded.
                    var bigger = pool.Rent((int)Math.Min((long)buffer.Length * 2, (long)cap + 1));
                    buffer.AsSpan(0, total).CopyTo(bigger);
                    pool.Return(buffer);
                    buffer = bigger;
                }
                var n = gzip.Read(buffer, total, buffer.Length - total);
                if (n == 0)
                {
                    break;
                }
                total += n;
                if (total > cap)
                {
                    throw new PprofFormatException(
                        $"gzip stream decompresses to more than {cap} bytes (PprofLimits.MaxDecompressedBytes) from {data.Length} compressed bytes; " +
                        "refusing it as a possible gzip bomb — split the profile or raise the limit");
                }
            }
        }
        catch (InvalidDataException e)
        {
            pool.Return(buffer);
            throw new PprofFormatException($"not a valid pprof: gzip stream is corrupt ({e.Message})", e);
        }
        catch
        {
            pool.Return(buffer);
            throw;
        }
        // .NET's GZipStream ends quietly when the input stops mid-stream, so check the trailer: it holds the size of
        // the last member, which can never exceed the total unless the stream was cut short (bytes read as the
        // trailer are then arbitrary). Multi-member streams pass, since their last member is smaller than the total.
        var declared = data.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(data[^4..]) : uint.MaxValue;
        if (declared > (uint)total)
        {
            pool.Return(buffer);
            throw new PprofFormatException(
                $"not a valid pprof: gzip stream is truncated (it inflated to {total} bytes but its trailer declares {declared}); " +
                "the upload was probably cut short — send the whole file");
        }
        length = total;
        return buffer;
    }

    private static Profile ParseProtobuf(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return Profile.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PprofFormatException($"not a valid pprof: protobuf is truncated or malformed at {LocateDamage(bytes)} ({e.Message})", e);
        }
    }

    /// <summary>
    /// Walks the top-level fields of a Profile that failed to parse to say where the damage is. Only runs on
    /// the error path, so it favours a precise message over speed.
    /// </summary>
    internal static string LocateDamage(ReadOnlySpan<byte> bytes)
    {
        Span<int> seen = stackalloc int[16];
        var pos = 0;
        while (pos < bytes.Length)
        {
            var start = pos;
            if (!TryReadVarint(bytes, ref pos, out var key))
            {
                return $"byte {start} (a field tag is cut off)";
            }
            var number = key >> 3;
            var name = number < (ulong)s_profileFieldNames.Length && number > 0 ? s_profileFieldNames[number] : $"field {number}";
            var element = number < 16 ? $"{name}[{seen[(int)number]}]" : name;
            if (number == 0)
            {
                return $"byte {start} (field number 0 is invalid)";
            }
            switch (key & 7)
            {
                case 0:
                    if (!TryReadVarint(bytes, ref pos, out _))
                    {
                        return $"byte {start} ({name}: varint is cut off)";
                    }
                    break;
                case 1:
                    if (bytes.Length - pos < 8)
                    {
                        return $"byte {start} ({name}: 8-byte value is cut off)";
                    }
                    pos += 8;
                    break;
                case 5:
                    if (bytes.Length - pos < 4)
                    {
                        return $"byte {start} ({name}: 4-byte value is cut off)";
                    }
                    pos += 4;
                    break;
                case 2:
                    if (!TryReadVarint(bytes, ref pos, out var length))
                    {
                        return $"byte {start} ({element}: length is cut off)";
                    }
                    if (length > (ulong)(bytes.Length - pos))
                    {
                        return $"byte {start} ({element}: declares {length} bytes but only {bytes.Length - pos} remain)";
                    }
                    var body = bytes.Slice(pos, (int)length);
                    var inner = TryParseElement(number, body);
                    if (inner is not null)
                    {
                        return $"byte {start} ({element}: {inner})";
                    }
                    pos += (int)length;
                    break;
                default:
                    return $"byte {start} ({name}: wire type {key & 7} is not valid here)";
            }
            if (number < 16)
            {
                seen[(int)number]++;
            }
        }
        return "an undetermined position";
    }

    private static string? TryParseElement(ulong fieldNumber, ReadOnlySpan<byte> body)
    {
        try
        {
            switch (fieldNumber)
            {
                case 1:
                case 11:
                    Pprof.ValueType.Parser.ParseFrom(body);
                    break;
                case 2:
                    Sample.Parser.ParseFrom(body);
                    break;
                case 3:
                    Mapping.Parser.ParseFrom(body);
                    break;
                case 4:
                    Location.Parser.ParseFrom(body);
                    break;
                case 5:
                    Function.Parser.ParseFrom(body);
                    break;
                default:
                    break;
            }
            return null;
        }
        catch (InvalidProtocolBufferException e)
        {
            return e.Message;
        }
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> bytes, ref int pos, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && pos < bytes.Length; shift += 7)
        {
            var b = bytes[pos++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }
        return false;
    }
}
