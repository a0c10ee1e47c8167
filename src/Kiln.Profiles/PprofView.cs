using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;

namespace Kiln.Profiles;

/// <summary>
/// A read-only, allocation-free view of raw (decompressed) pprof bytes for the ingest hot path: every table is
/// parsed into pooled arrays of structs and strings stay UTF-8 slices of the input, so reading a profile
/// allocates nothing per sample, location, function or string. <see cref="Parse(ReadOnlySpan{byte}, PprofLimits?)"/> checks the same rules as
/// <see cref="PprofCodec.Validate"/>. Reuse one instance per thread; parsing resets it.
/// </summary>
public sealed class PprofView : IDisposable
{
    // Holds the protobuf that the string slices point into: pooled (a copy, or the decompressed bytes) when
    // _dataPooled, else the caller's array, read in place.
    private byte[] _data = [];
    private bool _dataPooled;
    private readonly Grow<Slice> _strings = new();
    private readonly Grow<(long Type, long Unit)> _sampleTypes = new();
    private readonly Grow<ViewMapping> _mappings = new();
    private readonly Grow<ViewFunction> _functions = new();
    private readonly Grow<ViewLocation> _locations = new();
    private readonly Grow<(ulong FunctionId, long Line)> _lines = new();
    private readonly Grow<ViewSample> _samples = new();
    private readonly Grow<ulong> _sampleLocations = new();
    private readonly Grow<int> _sampleLocationIndices = new();
    private readonly Grow<long> _sampleValues = new();
    private readonly Grow<ViewLabel> _labels = new();

    // Gathered while parsing the locations, so that validation checks them with a few comparisons instead of a second
    // pass: whether their ids run 1..N in order, the largest mapping id they name, and the largest function id - 1
    // their lines name (id 0 wraps around to the largest value, and so counts as outside). For the functions, the same
    // bookkeeping cost more than the pass it saved.
    private bool _locationsInOrder = true;
    private ulong _maxLocationMapping;
    private ulong _maxLineFunction;

    // Id → table position, filled by validation; reused across parses.
    private readonly IdLookup _mappingIndex = new();
    private readonly IdLookup _functionIndex = new();
    private readonly IdLookup _locationIndex = new();

    /// <summary>A string table entry: a slice of the input.</summary>
    public readonly record struct Slice(int Offset, int Length);

    public readonly record struct ViewMapping(ulong Id, ulong MemoryStart, ulong MemoryLimit, ulong FileOffset, long Filename, long BuildId, bool HasFunctions, bool HasFilenames, bool HasLineNumbers, bool HasInlineFrames) : IHasId;

    public readonly record struct ViewFunction(ulong Id, long Name, long SystemName, long Filename, long StartLine) : IHasId;

    public readonly record struct ViewLocation(ulong Id, ulong MappingId, ulong Address, bool IsFolded, int LineStart, int LineCount) : IHasId;

    public readonly record struct ViewSample(int LocationStart, int LocationCount, int ValueStart, int ValueCount, int LabelStart, int LabelCount);

    public readonly record struct ViewLabel(long Key, long Str, long Num, long NumUnit);

    public long TimeNanos { get; private set; }
    public long DurationNanos { get; private set; }
    public long Period { get; private set; }
    public long PeriodType { get; private set; }
    public long PeriodUnit { get; private set; }
    public bool HasPeriodType { get; private set; }

    public int StringCount => _strings.Count;
    public ReadOnlySpan<(long Type, long Unit)> SampleTypes => _sampleTypes.Span;
    public ReadOnlySpan<ViewMapping> Mappings => _mappings.Span;
    public ReadOnlySpan<ViewFunction> Functions => _functions.Span;
    public ReadOnlySpan<ViewLocation> Locations => _locations.Span;
    public ReadOnlySpan<ViewSample> Samples => _samples.Span;

    /// <summary>The UTF-8 bytes of string table entry <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> Utf8(long index)
    {
        var s = _strings.Span[(int)index];
        return _data.AsSpan(s.Offset, s.Length);
    }

    /// <summary>String table entry <paramref name="index"/> as a new string (allocates; not for hot loops).</summary>
    public string String(long index) => Encoding.UTF8.GetString(Utf8(index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<(ulong FunctionId, long Line)> Lines(in ViewLocation location) => _lines.Span.Slice(location.LineStart, location.LineCount);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<ulong> LocationIds(in ViewSample sample) => _sampleLocations.Span.Slice(sample.LocationStart, sample.LocationCount);

    /// <summary>The sample's locations as positions in <see cref="Locations"/> (what <see cref="LocationIds"/> refer to).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<int> LocationIndices(in ViewSample sample) => _sampleLocationIndices.Span.Slice(sample.LocationStart, sample.LocationCount);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<long> Values(in ViewSample sample) => _sampleValues.Span.Slice(sample.ValueStart, sample.ValueCount);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<ViewLabel> Labels(in ViewSample sample) => _labels.Span.Slice(sample.LabelStart, sample.LabelCount);

    /// <summary>The position in <see cref="Mappings"/> of the mapping with id <paramref name="id"/> (validated to exist).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int MappingIndex(ulong id) => _mappingIndex.Get(id);

    /// <summary>The position in <see cref="Functions"/> of the function with id <paramref name="id"/> (validated to exist).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int FunctionIndex(ulong id) => _functionIndex.Get(id);

    /// <summary>The position in <see cref="Locations"/> of the location with id <paramref name="id"/> (validated to exist).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int LocationIndex(ulong id) => _locationIndex.Get(id);

    /// <summary>
    /// Parses pprof bytes (gzip-compressed or raw protobuf) and validates them like <see cref="PprofCodec.Decode"/>;
    /// throws <see cref="PprofFormatException"/> naming the field and value at fault. The view copies what it needs.
    /// </summary>
    public void Parse(ReadOnlySpan<byte> data, PprofLimits? limits = null)
    {
        limits ??= PprofLimits.Default;
        if (PprofCodec.IsGzip(data))
        {
            var buffer = PprofCodec.Gunzip(data, MaxBytes(limits), out var length);
            Parse(buffer, 0, length, pooled: true, limits);
        }
        else
        {
            CheckSize(data.Length, limits);
            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(data.Length, 1));
            data.CopyTo(buffer);
            Parse(buffer, 0, data.Length, pooled: true, limits);
        }
    }

    /// <summary>
    /// Like <see cref="Parse(ReadOnlySpan{byte}, PprofLimits?)"/>, but raw (not compressed) bytes backed by an array
    /// are read in place rather than copied: the caller must leave <paramref name="data"/> unchanged for as long as
    /// the view is used.
    /// </summary>
    public void Parse(ReadOnlyMemory<byte> data, PprofLimits? limits = null)
    {
        limits ??= PprofLimits.Default;
        if (!PprofCodec.IsGzip(data.Span) && MemoryMarshal.TryGetArray(data, out var segment))
        {
            CheckSize(segment.Count, limits);
            Parse(segment.Array!, segment.Offset, segment.Count, pooled: false, limits);
        }
        else
        {
            Parse(data.Span, limits);
        }
    }

    private void Parse(byte[] buffer, int offset, int length, bool pooled, PprofLimits limits)
    {
        Reset(buffer, pooled);
        try
        {
            ParseProfile(new ProtobufReader(buffer, offset, offset + length));
        }
        catch (MalformedProtobufException)
        {
            throw new PprofFormatException($"not a valid pprof: protobuf is truncated or malformed at {PprofCodec.LocateDamage(buffer.AsSpan(offset, length))}");
        }
        Validate(limits);
    }

    private static int MaxBytes(PprofLimits limits) => (int)Math.Min(limits.MaxDecompressedBytes, Array.MaxLength - 1);

    private static void CheckSize(int length, PprofLimits limits)
    {
        var cap = MaxBytes(limits);
        if (length > cap)
        {
            throw new PprofFormatException(
                $"profile is {length} bytes, more than the limit of {cap} bytes (PprofLimits.MaxDecompressedBytes); split the profile or raise the limit");
        }
    }

    /// <summary>
    /// Forgets the parsed profile and lets go of its bytes (a pooled copy goes back to the pool), but keeps the
    /// tables' arrays for the next <see cref="Parse(ReadOnlySpan{byte}, PprofLimits?)"/>.
    /// </summary>
    public void Clear() => Reset([], pooled: false);

    /// <summary>Bytes held by the tables' arrays, which grow to the largest profile parsed.</summary>
    public long RetainedBytes =>
        _strings.RetainedBytes + _sampleTypes.RetainedBytes + _mappings.RetainedBytes + _functions.RetainedBytes + _locations.RetainedBytes
        + _lines.RetainedBytes + _samples.RetainedBytes + _sampleLocations.RetainedBytes + _sampleLocationIndices.RetainedBytes
        + _sampleValues.RetainedBytes + _labels.RetainedBytes;

    /// <summary>Returns the pooled buffers; the view must not be used afterwards.</summary>
    public void Dispose()
    {
        Reset([], pooled: false);
        _strings.Dispose();
        _sampleTypes.Dispose();
        _mappings.Dispose();
        _functions.Dispose();
        _locations.Dispose();
        _lines.Dispose();
        _samples.Dispose();
        _sampleLocations.Dispose();
        _sampleLocationIndices.Dispose();
        _sampleValues.Dispose();
        _labels.Dispose();
    }

    private void ParseProfile(ProtobufReader reader)
    {
        while (!reader.End)
        {
            var (field, wire) = reader.Tag();
            switch (field)
            {
                case 1: ParseSampleType(reader.Message(wire)); break;
                case 2: ParseSamples(ref reader, reader.Bytes(wire)); break;
                case 3: ParseMapping(reader.Message(wire)); break;
                case 4: ParseLocations(ref reader, reader.Bytes(wire)); break;
                case 5: ParseFunctions(ref reader, reader.Bytes(wire)); break;
                case 6: ParseStrings(ref reader, reader.Bytes(wire)); break;
                case 9: TimeNanos = (long)reader.Varint(wire); break;
                case 10: DurationNanos = (long)reader.Varint(wire); break;
                case 11:
                    var period = reader.Message(wire);
                    HasPeriodType = true;
                    while (!period.End)
                    {
                        var (f, w) = period.Tag();
                        if (f == 1) { PeriodType = (long)period.Varint(w); }
                        else if (f == 2) { PeriodUnit = (long)period.Varint(w); }
                        else { period.Skip(w); }
                    }
                    break;
                case 12: Period = (long)reader.Varint(wire); break;
                default: reader.Skip(wire); break;
            }
        }
    }

    private void Reset(byte[] buffer, bool pooled)
    {
        if (_dataPooled && _data.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_data);
        }
        _data = buffer;
        _dataPooled = pooled;
        _strings.Clear();
        _sampleTypes.Clear();
        _mappings.Clear();
        _functions.Clear();
        _locations.Clear();
        _lines.Clear();
        _samples.Clear();
        _sampleLocations.Clear();
        _sampleLocationIndices.Clear();
        _sampleValues.Clear();
        _labels.Clear();
        _mappingIndex.Clear();
        _functionIndex.Clear();
        _locationIndex.Clear();
        _locationsInOrder = true;
        _maxLocationMapping = _maxLineFunction = 0;
        TimeNanos = DurationNanos = Period = PeriodType = PeriodUnit = 0;
        HasPeriodType = false;
    }

    // Encoders write a table's entries one after another. Each of these reads the run of entries that starts with
    // `first` in one loop, rather than going back to ParseProfile's loop for every entry's tag. One method per table on
    // purpose: a single one with a switch inside its loop parsed 15 % slower (--phases 2), as the three inlined
    // parsers then shared its registers.

    private void ParseSamples(ref ProtobufReader reader, (int Offset, int Length) first)
    {
        var (offset, length) = first;
        do
        {
            ParseSample(reader.At(offset, length));
        }
        while (reader.TryBytes(2 << 3 | 2, out offset, out length));
    }

    private void ParseLocations(ref ProtobufReader reader, (int Offset, int Length) first)
    {
        var (offset, length) = first;
        do
        {
            ParseLocation(reader.At(offset, length));
        }
        while (reader.TryBytes(4 << 3 | 2, out offset, out length));
    }

    private void ParseFunctions(ref ProtobufReader reader, (int Offset, int Length) first)
    {
        var (offset, length) = first;
        do
        {
            ParseFunction(reader.At(offset, length));
        }
        while (reader.TryBytes(5 << 3 | 2, out offset, out length));
    }

    private void ParseStrings(ref ProtobufReader reader, (int Offset, int Length) first)
    {
        var (offset, length) = first;
        do
        {
            _strings.Add(new Slice(offset, length));
        }
        while (reader.TryBytes(6 << 3 | 2, out offset, out length));
    }

    private void ParseSampleType(ProtobufReader r)
    {
        long type = 0, unit = 0;
        while (!r.End)
        {
            var (f, w) = r.Tag();
            if (f == 1) { type = (long)r.Varint(w); }
            else if (f == 2) { unit = (long)r.Varint(w); }
            else { r.Skip(w); }
        }
        _sampleTypes.Add((type, unit));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ParseSample(ProtobufReader r)
    {
        var locationStart = _sampleLocations.Count;
        var valueStart = _sampleValues.Count;
        var labelStart = _labels.Count;
        while (!r.End)
        {
            var (f, w) = r.Tag();
            switch (f)
            {
                case 1: RepeatedVarint(ref r, w, _sampleLocations); break;
                case 2: RepeatedVarintSigned(ref r, w, _sampleValues); break;
                case 3:
                    var l = r.Message(w);
                    long key = 0, str = 0, num = 0, numUnit = 0;
                    while (!l.End)
                    {
                        var (lf, lw) = l.Tag();
                        switch (lf)
                        {
                            case 1: key = (long)l.Varint(lw); break;
                            case 2: str = (long)l.Varint(lw); break;
                            case 3: num = (long)l.Varint(lw); break;
                            case 4: numUnit = (long)l.Varint(lw); break;
                            default: l.Skip(lw); break;
                        }
                    }
                    _labels.Add(new ViewLabel(key, str, num, numUnit));
                    break;
                default: r.Skip(w); break;
            }
        }
        _samples.Add(new ViewSample(locationStart, _sampleLocations.Count - locationStart, valueStart, _sampleValues.Count - valueStart, labelStart, _labels.Count - labelStart));
    }

    private void ParseMapping(ProtobufReader r)
    {
        ulong id = 0, start = 0, limit = 0, offset = 0;
        long filename = 0, buildId = 0;
        bool functions = false, filenames = false, lineNumbers = false, inlineFrames = false;
        while (!r.End)
        {
            var (f, w) = r.Tag();
            switch (f)
            {
                case 1: id = r.Varint(w); break;
                case 2: start = r.Varint(w); break;
                case 3: limit = r.Varint(w); break;
                case 4: offset = r.Varint(w); break;
                case 5: filename = (long)r.Varint(w); break;
                case 6: buildId = (long)r.Varint(w); break;
                case 7: functions = r.Varint(w) != 0; break;
                case 8: filenames = r.Varint(w) != 0; break;
                case 9: lineNumbers = r.Varint(w) != 0; break;
                case 10: inlineFrames = r.Varint(w) != 0; break;
                default: r.Skip(w); break;
            }
        }
        _mappings.Add(new ViewMapping(id, start, limit, offset, filename, buildId, functions, filenames, lineNumbers, inlineFrames));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ParseLocation(ProtobufReader r)
    {
        ulong id = 0, mappingId = 0, address = 0, folded = 0;
        var lineStart = _lines.Count;
        // The fields in the order encoders write them, then any others (or repeated ones) the general way.
        r.TryVarint(1 << 3, ref id);
        r.TryVarint(2 << 3, ref mappingId);
        r.TryWideVarint(3 << 3, ref address);
        while (!r.End)
        {
            // Compares in field order rather than a switch: the JIT makes a switch an indirect jump through a table.
            var (f, w) = r.Tag();
            if (f == 4) { ParseLine(r.Message(w)); }
            else if (f == 1) { id = r.Varint(w); }
            else if (f == 2) { mappingId = r.Varint(w); }
            else if (f == 3) { address = r.Varint(w); }
            else if (f == 5) { folded = r.Varint(w); }
            else { r.Skip(w); }
        }
        _locationsInOrder &= id == (ulong)_locations.Count + 1;
        _maxLocationMapping = Math.Max(_maxLocationMapping, mappingId);
        _locations.Add(new ViewLocation(id, mappingId, address, folded != 0, lineStart, _lines.Count - lineStart));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ParseLine(ProtobufReader l)
    {
        ulong functionId = 0, line = 0;
        l.TryVarint(1 << 3, ref functionId);
        l.TryVarint(2 << 3, ref line);
        while (!l.End)
        {
            var (lf, lw) = l.Tag();
            if (lf == 1) { functionId = l.Varint(lw); }
            else if (lf == 2) { line = l.Varint(lw); }
            else { l.Skip(lw); }
        }
        _maxLineFunction = Math.Max(_maxLineFunction, functionId - 1);
        _lines.Add((functionId, (long)line));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ParseFunction(ProtobufReader r)
    {
        ulong id = 0, name = 0, systemName = 0, filename = 0, startLine = 0;
        // The fields in the order encoders write them, then any others (or repeated ones) the general way.
        r.TryVarint(1 << 3, ref id);
        r.TryVarint(2 << 3, ref name);
        r.TryVarint(3 << 3, ref systemName);
        r.TryVarint(4 << 3, ref filename);
        r.TryVarint(5 << 3, ref startLine);
        while (!r.End)
        {
            var (f, w) = r.Tag();
            switch (f)
            {
                case 1: id = r.Varint(w); break;
                case 2: name = r.Varint(w); break;
                case 3: systemName = r.Varint(w); break;
                case 4: filename = r.Varint(w); break;
                case 5: startLine = r.Varint(w); break;
                default: r.Skip(w); break;
            }
        }
        _functions.Add(new ViewFunction(id, (long)name, (long)systemName, (long)filename, (long)startLine));
    }

    private void Validate(PprofLimits limits)
    {
        var strings = _strings.Count;
        CheckCount("sample", _samples.Count, limits.MaxSamples);
        CheckCount("location", _locations.Count, limits.MaxLocations);
        CheckCount("function", _functions.Count, limits.MaxFunctions);
        CheckCount("mapping", _mappings.Count, limits.MaxMappings);
        CheckCount("string_table", strings, limits.MaxStringTableEntries);
        CheckCount("sample_type", _sampleTypes.Count, limits.MaxSampleTypes);
        if (strings == 0)
        {
            if (_samples.Count > 0 || _sampleTypes.Count > 0 || _functions.Count > 0 || _mappings.Count > 0)
            {
                throw new PprofFormatException("string_table is empty; it must start with \"\" and hold every name the profile uses");
            }
            return;
        }
        if (_strings.Span[0].Length != 0)
        {
            throw new PprofFormatException($"string_table[0] must be \"\" but is \"{String(0)}\"");
        }
        var sampleTypes = _sampleTypes.Span;
        for (var i = 0; i < sampleTypes.Length; i++)
        {
            CheckString("sample_type", i, "type", sampleTypes[i].Type, strings);
            CheckString("sample_type", i, "unit", sampleTypes[i].Unit, strings);
        }
        if (HasPeriodType)
        {
            CheckString("period_type", -1, "type", PeriodType, strings);
            CheckString("period_type", -1, "unit", PeriodUnit, strings);
        }
        var mappings = _mappings.Span;
        var mappingIds = _mappingIndex;
        mappingIds.Build("mapping", mappings);
        for (var i = 0; i < mappings.Length; i++)
        {
            CheckString("mapping", i, "filename", mappings[i].Filename, strings);
            CheckString("mapping", i, "build_id", mappings[i].BuildId, strings);
        }
        var functions = _functions.Span;
        var functionIds = _functionIndex;
        functionIds.Build("function", functions);
        for (var i = 0; i < functions.Length; i++)
        {
            CheckString("function", i, "name", functions[i].Name, strings);
            CheckString("function", i, "system_name", functions[i].SystemName, strings);
            CheckString("function", i, "filename", functions[i].Filename, strings);
        }
        var locations = _locations.Span;
        var locationIds = _locationIndex;
        locationIds.Build("location", locations, _locationsInOrder);
        // Producers such as Go's runtime number every table 1..N: then the largest references decide for all of them.
        var referencesInRange = mappingIds.IsDense && functionIds.IsDense
            && _maxLocationMapping <= (ulong)mappings.Length && _maxLineFunction < (ulong)functions.Length;
        for (var i = 0; !referencesInRange && i < locations.Length; i++)
        {
            ref readonly var l = ref locations[i];
            var lines = Lines(l);
            if (l.MappingId != 0 && !mappingIds.Contains(l.MappingId))
            {
                throw new PprofFormatException($"location[{i}].mapping_id = {l.MappingId} refers to no mapping (the profile has {mappings.Length} mapping(s))");
            }
            for (var j = 0; j < lines.Length; j++)
            {
                if (!functionIds.Contains(lines[j].FunctionId))
                {
                    throw new PprofFormatException($"location[{i}].line[{j}].function_id = {lines[j].FunctionId} refers to no function (the profile has {functions.Length} function(s))");
                }
            }
        }
        // Every sample's location ids become positions in the location table, in one pass over all of them.
        var allIds = _sampleLocations.Span;
        var indices = _sampleLocationIndices.Reserve(allIds.Length);
        var valid = locationIds.IsDense ? DenseIndices(allIds, indices, locations.Length) : locationIds.IndicesOf(allIds, indices);
        _sampleLocationIndices.Commit(allIds.Length);
        var samples = _samples.Span;
        for (var i = 0; i < samples.Length; i++)
        {
            ref readonly var s = ref samples[i];
            if (s.ValueCount != sampleTypes.Length)
            {
                throw new PprofFormatException($"sample[{i}] has {s.ValueCount} value(s) but the profile declares {sampleTypes.Length} sample_type(s); every sample needs one value per sample type");
            }
            if (s.LocationCount > limits.MaxStackDepth)
            {
                throw new PprofFormatException($"sample[{i}] has {s.LocationCount} locations, more than the limit of {limits.MaxStackDepth}");
            }
            if (!valid)
            {
                var ids = LocationIds(s);
                for (var j = 0; j < ids.Length; j++)
                {
                    if (!locationIds.Contains(ids[j]))
                    {
                        throw new PprofFormatException($"sample[{i}].location_id[{j}] = {ids[j]} refers to no location (the profile has {locations.Length} location(s))");
                    }
                }
            }
            var labels = Labels(s);
            for (var j = 0; j < labels.Length; j++)
            {
                CheckString($"sample[{i}].label", j, "key", labels[j].Key, strings);
                CheckString($"sample[{i}].label", j, "str", labels[j].Str, strings);
                CheckString($"sample[{i}].label", j, "num_unit", labels[j].NumUnit, strings);
                if (labels[j].Key == 0)
                {
                    throw new PprofFormatException($"sample[{i}].label[{j}].key is 0 (the empty string); a label needs a name");
                }
            }
        }
    }

    /// <summary>
    /// Ids 1..<paramref name="count"/> as positions 0..count-1, for a table numbered in order; false if any id is
    /// outside that range. A loop of its own: inside <see cref="Validate"/> its variables lived on the stack. Eight
    /// ids at a time where the CPU has 256-bit vectors (a profile's samples hold ~12,000 ids).
    /// </summary>
    private static bool DenseIndices(ReadOnlySpan<ulong> ids, Span<int> indices, int count)
    {
        indices = indices[..ids.Length];
        var k = 0;
        var outside = Vector256<ulong>.Zero;
        if (Vector256.IsHardwareAccelerated)
        {
            var one = Vector256.Create(1UL);
            var limit = Vector256.Create((ulong)count);
            for (; k + 8 <= ids.Length; k += 8)
            {
                // id 0 becomes ulong.MaxValue here, outside like any id past the table.
                var low = Vector256.Create(ids.Slice(k, 4)) - one;
                var high = Vector256.Create(ids.Slice(k + 4, 4)) - one;
                outside |= Vector256.GreaterThanOrEqual(low, limit) | Vector256.GreaterThanOrEqual(high, limit);
                Vector256.Narrow(low, high).AsInt32().CopyTo(indices.Slice(k, 8));
            }
        }
        var valid = outside == Vector256<ulong>.Zero;
        for (; k < ids.Length; k++)
        {
            var index = ids[k] - 1;
            indices[k] = (int)index;
            valid &= index < (ulong)count;
        }
        return valid;
    }

    private static void CheckCount(string field, int count, long max)
    {
        if (count > max)
        {
            throw new PprofFormatException($"{field} has {count} entries, more than the limit of {max}");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CheckString(string table, int index, string field, long value, int strings)
    {
        if ((ulong)value >= (ulong)strings)
        {
            ThrowOutsideStrings(table, index, field, value, strings);
        }
    }

    private static void ThrowOutsideStrings(string table, int index, string field, long value, int strings)
    {
        var where = index < 0 ? $"{table}.{field}" : $"{table}[{index}].{field}";
        throw new PprofFormatException($"{where} = {value} is outside string_table (size {strings})");
    }

    /// <summary>An entry of a table that samples or other tables refer to by id.</summary>
    internal interface IHasId
    {
        ulong Id { get; }
    }

    /// <summary>
    /// Id → position in one table. Producers such as Go's runtime number entries 1..N in order; that case is
    /// arithmetic (no hashing), only sparse or shuffled ids pay for a dictionary, which is kept across parses.
    /// </summary>
    private sealed class IdLookup
    {
        // Invariant: when _dense, entry i has id i + 1 for every i < _count; otherwise _map holds every id.
        private bool _dense = true;
        private int _count;
        private readonly Dictionary<ulong, int> _map = [];

        /// <summary>
        /// Indexes the table; throws <see cref="PprofFormatException"/> for a zero or duplicate id. <paramref name="inOrder"/>:
        /// the caller has seen that entry i has id i + 1 for every i.
        /// </summary>
        public void Build<T>(string table, ReadOnlySpan<T> items, bool inOrder = false) where T : struct, IHasId
        {
            _count = items.Length;
            _map.Clear();
            _dense = true;
            for (var i = 0; !inOrder && i < items.Length; i++)
            {
                if (items[i].Id != (ulong)i + 1)
                {
                    _dense = false;
                    break;
                }
            }
            if (_dense)
            {
                return;
            }
            _map.EnsureCapacity(items.Length);
            for (var i = 0; i < items.Length; i++)
            {
                var id = items[i].Id;
                if (id == 0)
                {
                    throw new PprofFormatException($"{table}[{i}].id is 0; ids must be non-zero");
                }
                if (!_map.TryAdd(id, i))
                {
                    throw new PprofFormatException($"{table}[{i}].id = {id} is used twice; ids must be unique");
                }
            }
        }

        /// <summary>True when entry i has id i + 1 for every i.</summary>
        public bool IsDense => _dense;

        public void Clear()
        {
            _dense = true;
            _count = 0;
            _map.Clear();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Contains(ulong id) => _dense ? id - 1 < (ulong)_count : _map.ContainsKey(id);

        /// <summary>The positions of <paramref name="ids"/> (-1 for an id the table lacks); false if any is lacking.</summary>
        public bool IndicesOf(ReadOnlySpan<ulong> ids, Span<int> indices)
        {
            var valid = true;
            for (var k = 0; k < ids.Length; k++)
            {
                var index = IndexOf(ids[k]);
                indices[k] = index;
                valid &= index >= 0;
            }
            return valid;
        }

        /// <summary>The position of <paramref name="id"/>, or -1 when the table has no such id.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int IndexOf(ulong id) => _dense
            ? (id - 1 < (ulong)_count ? (int)(id - 1) : -1)
            : (_map.TryGetValue(id, out var index) ? index : -1);

        /// <summary>The position of <paramref name="id"/>; throws for an id the table does not have.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Get(ulong id) => _dense && id - 1 < (ulong)_count ? (int)(id - 1) : GetSparse(id);

        private int GetSparse(ulong id) => !_dense && _map.TryGetValue(id, out var index)
            ? index
            : throw new KeyNotFoundException($"id {id} is not in the table; the profile was validated, so this is a bug");
    }

    /// <summary>A pooled, growable array that is reused across parses.</summary>
    private sealed class Grow<T>
    {
        private T[] _items = ArrayPool<T>.Shared.Rent(64);

        public int Count { get; private set; }

        public ReadOnlySpan<T> Span => _items.AsSpan(0, Count);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(T item)
        {
            var items = _items;
            var count = Count;
            if ((uint)count < (uint)items.Length)
            {
                items[count] = item;
                Count = count + 1;
            }
            else
            {
                AddGrowing(item);
            }
        }

        private void AddGrowing(T item)
        {
            var grown = ArrayPool<T>.Shared.Rent(_items.Length * 2);
            _items.AsSpan(0, Count).CopyTo(grown);
            ArrayPool<T>.Shared.Return(_items);
            _items = grown;
            _items[Count++] = item;
        }

        public void Clear() => Count = 0;

        public long RetainedBytes => (long)_items.Length * Unsafe.SizeOf<T>();

        /// <summary>Makes room for <paramref name="count"/> more items and returns it, to be filled and then <see cref="Commit"/>ted.</summary>
        public Span<T> Reserve(int count)
        {
            if (Count + count > _items.Length)
            {
                var grown = ArrayPool<T>.Shared.Rent(Math.Max(_items.Length * 2, Count + count));
                _items.AsSpan(0, Count).CopyTo(grown);
                ArrayPool<T>.Shared.Return(_items);
                _items = grown;
            }
            return _items.AsSpan(Count, count);
        }

        /// <summary>Appends the first <paramref name="count"/> items written into the span <see cref="Reserve"/> returned.</summary>
        public void Commit(int count) => Count += count;

        public void Dispose()
        {
            ArrayPool<T>.Shared.Return(_items);
            _items = [];
            Count = 0;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RepeatedVarint(ref ProtobufReader r, int wire, Grow<ulong> into)
    {
        if (wire == 2)
        {
            var packed = r.Message(wire);
            // A packed run of n bytes holds at most n varints.
            into.Commit(packed.PackedVarints(into.Reserve(packed.Remaining)));
        }
        else
        {
            into.Add(r.Varint(wire));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RepeatedVarintSigned(ref ProtobufReader r, int wire, Grow<long> into)
    {
        if (wire == 2)
        {
            var packed = r.Message(wire);
            while (!packed.End)
            {
                into.Add((long)packed.Varint(0));
            }
        }
        else
        {
            into.Add((long)r.Varint(wire));
        }
    }
}
