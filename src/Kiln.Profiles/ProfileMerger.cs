using System.Runtime.InteropServices;
using Kiln.Profiles.Pprof;

namespace Kiln.Profiles;

/// <summary>
/// Merges pprof profiles into one, as <c>go tool pprof</c> does with several inputs: mappings, functions,
/// locations and strings are deduplicated by value, and samples with the same stack and labels are summed.
/// All inputs must have the same sample types. Samples whose values are all zero are dropped, and only
/// entries some remaining sample refers to are kept. The result has <c>string_table[0] == ""</c> and dense
/// 1-based ids; its time is the earliest start, its duration spans to the latest end, its period is the largest.
/// Inputs must be valid (as returned by <see cref="PprofCodec.Decode"/> or <see cref="ProfileBuilder"/>); they are
/// not modified. Not thread-safe.
/// </summary>
public sealed class ProfileMerger
{
    private readonly Profile _out = new();
    private readonly Dictionary<string, long> _strings = new(StringComparer.Ordinal) { [""] = 0 };
    private readonly Dictionary<MappingKey, ulong> _mappings = [];
    private readonly Dictionary<FunctionKey, ulong> _functions = [];
    private readonly Dictionary<LocationKey, ulong> _locations;
    private readonly Dictionary<SampleKey, int> _samples;
    private readonly HashSet<long> _comments = [];

    // Arenas hold the variable-length parts of location and sample keys, so keys stay small structs and a probe
    // for an existing entry allocates nothing: a candidate is appended, looked up, and cut off again if found.
    private readonly List<LineKey> _lines = [];
    private readonly List<ulong> _stacks = [];
    private readonly List<LabelKey> _labels = [];
    private readonly List<long> _values = [];
    private readonly List<SampleKey> _sampleOrder = [];

    private string[]? _sampleTypes;
    private string? _periodType;
    private int _profileCount;
    private long _startNanos;
    private long _endNanos;
    private long _maxDuration;
    private bool _built;

    public ProfileMerger()
    {
        _out.StringTable.Add("");
        _locations = new Dictionary<LocationKey, ulong>(new LocationKeyComparer(_lines));
        _samples = new Dictionary<SampleKey, int>(new SampleKeyComparer(_stacks, _labels));
    }

    /// <summary>Merges <paramref name="profiles"/> in one call; an empty input gives an empty profile.</summary>
    public static Profile Merge(IEnumerable<Profile> profiles)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        var merger = new ProfileMerger();
        foreach (var p in profiles)
        {
            merger.Add(p);
        }
        return merger.Build();
    }

    /// <summary>Number of profiles added so far.</summary>
    public int Count => _profileCount;

    /// <summary>
    /// Adds one profile. Throws <see cref="ArgumentException"/> when its sample types or period type differ
    /// from the first profile's, naming both.
    /// </summary>
    public void Add(Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (_built)
        {
            throw new InvalidOperationException("Build() was already called; create a new ProfileMerger");
        }
        CheckCompatible(profile);
        MergeHeader(profile);
        var source = new Source(profile);
        var valueCount = profile.SampleType.Count;
        for (var i = 0; i < profile.Sample.Count; i++)
        {
            var s = profile.Sample[i];
            if (IsZero(s))
            {
                continue;
            }
            var stackStart = _stacks.Count;
            var ids = s.LocationId;
            for (var j = 0; j < ids.Count; j++)
            {
                if (!source.Locations.TryGetIndex(ids[j], out var index))
                {
                    throw new ArgumentException(
                        $"profile {_profileCount}: sample[{i}].location_id[{j}] = {ids[j]} refers to no location ({source.Locations.Describe()})", nameof(profile));
                }
                var mapped = source.LocationMap[index];
                if (mapped == 0)
                {
                    mapped = MapLocation(source, profile.Location[index]);
                    source.LocationMap[index] = mapped;
                }
                _stacks.Add(mapped);
            }
            var labelStart = _labels.Count;
            for (var j = 0; j < s.Label.Count; j++)
            {
                var l = s.Label[j];
                _labels.Add(new LabelKey(MapString(source, l.Key), MapString(source, l.Str), l.Num, MapString(source, l.NumUnit)));
            }
            // Label order carries no meaning in pprof, so sort to make {a,b} and {b,a} the same sample.
            var labelSpan = CollectionsMarshal.AsSpan(_labels)[labelStart..];
            if (labelSpan.Length > 1)
            {
                labelSpan.Sort();
            }
            var key = new SampleKey(stackStart, ids.Count, labelStart, labelSpan.Length,
                SampleKeyComparer.Hash(CollectionsMarshal.AsSpan(_stacks).Slice(stackStart, ids.Count), labelSpan));
            if (_samples.TryGetValue(key, out var existing))
            {
                CollectionsMarshal.SetCount(_stacks, stackStart);
                CollectionsMarshal.SetCount(_labels, labelStart);
                var sums = CollectionsMarshal.AsSpan(_values).Slice(existing * valueCount, valueCount);
                for (var v = 0; v < valueCount; v++)
                {
                    sums[v] += s.Value[v];
                }
            }
            else
            {
                _samples.Add(key, _sampleOrder.Count);
                _sampleOrder.Add(key);
                for (var v = 0; v < valueCount; v++)
                {
                    _values.Add(s.Value[v]);
                }
            }
        }
        _profileCount++;
    }

    /// <summary>Returns the merged profile; the merger cannot be used afterwards.</summary>
    public Profile Build()
    {
        if (_built)
        {
            throw new InvalidOperationException("Build() was already called; create a new ProfileMerger");
        }
        _built = true;
        if (_startNanos != 0)
        {
            _out.TimeNanos = _startNanos;
            _out.DurationNanos = _endNanos - _startNanos;
        }
        else
        {
            _out.DurationNanos = _maxDuration;
        }
        var valueCount = _out.SampleType.Count;
        var stacks = CollectionsMarshal.AsSpan(_stacks);
        var labels = CollectionsMarshal.AsSpan(_labels);
        var values = CollectionsMarshal.AsSpan(_values);
        _out.Sample.Capacity = _sampleOrder.Count;
        for (var i = 0; i < _sampleOrder.Count; i++)
        {
            var key = _sampleOrder[i];
            var sample = new Sample();
            foreach (var id in stacks.Slice(key.StackStart, key.StackCount))
            {
                sample.LocationId.Add(id);
            }
            foreach (var v in values.Slice(i * valueCount, valueCount))
            {
                sample.Value.Add(v);
            }
            foreach (var l in labels.Slice(key.LabelStart, key.LabelCount))
            {
                sample.Label.Add(new Pprof.Label { Key = l.Key, Str = l.Str, Num = l.Num, NumUnit = l.NumUnit });
            }
            _out.Sample.Add(sample);
        }
        return _out;
    }

    private void CheckCompatible(Profile p)
    {
        var types = new string[p.SampleType.Count];
        for (var i = 0; i < types.Length; i++)
        {
            types[i] = $"{p.StringTable[(int)p.SampleType[i].Type]}/{p.StringTable[(int)p.SampleType[i].Unit]}";
        }
        var period = p.PeriodType is { } pt && (pt.Type != 0 || pt.Unit != 0)
            ? $"{p.StringTable[(int)pt.Type]}/{p.StringTable[(int)pt.Unit]}"
            : null;
        if (_sampleTypes is null)
        {
            _sampleTypes = types;
            for (var i = 0; i < p.SampleType.Count; i++)
            {
                _out.SampleType.Add(new Pprof.ValueType { Type = Intern(p.StringTable[(int)p.SampleType[i].Type]), Unit = Intern(p.StringTable[(int)p.SampleType[i].Unit]) });
            }
        }
        else if (!types.AsSpan().SequenceEqual(_sampleTypes))
        {
            throw new ArgumentException(
                $"profile {_profileCount} has sample types [{string.Join(", ", types)}] but profile 0 has [{string.Join(", ", _sampleTypes)}]; " +
                "only profiles with the same sample types can be merged", nameof(p));
        }
        if (period is null)
        {
            return;
        }
        if (_periodType is null)
        {
            _periodType = period;
            _out.PeriodType = new Pprof.ValueType { Type = Intern(p.StringTable[(int)p.PeriodType!.Type]), Unit = Intern(p.StringTable[(int)p.PeriodType.Unit]) };
        }
        else if (!string.Equals(period, _periodType, StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"profile {_profileCount} has period type {period} but an earlier profile has {_periodType}; only profiles with the same period type can be merged", nameof(p));
        }
    }

    private void MergeHeader(Profile p)
    {
        if (p.TimeNanos != 0)
        {
            if (_startNanos == 0 || p.TimeNanos < _startNanos)
            {
                _startNanos = p.TimeNanos;
            }
            _endNanos = Math.Max(_endNanos, p.TimeNanos + p.DurationNanos);
        }
        _maxDuration = Math.Max(_maxDuration, p.DurationNanos);
        _out.Period = Math.Max(_out.Period, p.Period);
        for (var i = 0; i < p.Comment.Count; i++)
        {
            var c = Intern(p.StringTable[(int)p.Comment[i]]);
            if (_comments.Add(c))
            {
                _out.Comment.Add(c);
            }
        }
        if (_out.DropFrames == 0 && p.DropFrames != 0)
        {
            _out.DropFrames = Intern(p.StringTable[(int)p.DropFrames]);
        }
        if (_out.KeepFrames == 0 && p.KeepFrames != 0)
        {
            _out.KeepFrames = Intern(p.StringTable[(int)p.KeepFrames]);
        }
        if (_out.DefaultSampleType == 0 && p.DefaultSampleType != 0)
        {
            _out.DefaultSampleType = Intern(p.StringTable[(int)p.DefaultSampleType]);
        }
        if (_out.DocUrl == 0 && p.DocUrl != 0)
        {
            _out.DocUrl = Intern(p.StringTable[(int)p.DocUrl]);
        }
    }

    private static bool IsZero(Sample s)
    {
        for (var i = 0; i < s.Value.Count; i++)
        {
            if (s.Value[i] != 0)
            {
                return false;
            }
        }
        return true;
    }

    private long Intern(string value)
    {
        if (!_strings.TryGetValue(value, out var index))
        {
            index = _out.StringTable.Count;
            _out.StringTable.Add(value);
            _strings.Add(value, index);
        }
        return index;
    }

    private long MapString(Source source, long index)
    {
        if (index == 0)
        {
            return 0;
        }
        var mapped = source.StringMap[index];
        if (mapped == 0)
        {
            mapped = Intern(source.Profile.StringTable[(int)index]);
            source.StringMap[index] = mapped;
        }
        return mapped;
    }

    private ulong MapLocation(Source source, Location loc)
    {
        var mapping = 0UL;
        if (loc.MappingId != 0)
        {
            if (!source.Mappings.TryGetIndex(loc.MappingId, out var mi))
            {
                throw new ArgumentException($"profile {_profileCount}: location id {loc.Id} has mapping_id {loc.MappingId} that refers to no mapping", "profile");
            }
            mapping = source.MappingMap[mi];
            if (mapping == 0)
            {
                mapping = MapMapping(source, source.Profile.Mapping[mi]);
                source.MappingMap[mi] = mapping;
            }
        }
        var lineStart = _lines.Count;
        for (var i = 0; i < loc.Line.Count; i++)
        {
            var line = loc.Line[i];
            var function = 0UL;
            if (line.FunctionId != 0)
            {
                if (!source.Functions.TryGetIndex(line.FunctionId, out var fi))
                {
                    throw new ArgumentException($"profile {_profileCount}: location id {loc.Id} line {i} has function_id {line.FunctionId} that refers to no function", "profile");
                }
                function = source.FunctionMap[fi];
                if (function == 0)
                {
                    function = MapFunction(source, source.Profile.Function[fi]);
                    source.FunctionMap[fi] = function;
                }
            }
            _lines.Add(new LineKey(function, line.Line_, line.Column));
        }
        var lines = CollectionsMarshal.AsSpan(_lines).Slice(lineStart, loc.Line.Count);
        var key = new LocationKey(mapping, loc.Address, loc.IsFolded, lineStart, lines.Length, LocationKeyComparer.Hash(mapping, loc.Address, lines));
        if (_locations.TryGetValue(key, out var id))
        {
            CollectionsMarshal.SetCount(_lines, lineStart);
            return id;
        }
        id = (ulong)_out.Location.Count + 1;
        var result = new Location { Id = id, MappingId = mapping, Address = loc.Address, IsFolded = loc.IsFolded };
        foreach (var l in lines)
        {
            result.Line.Add(new Line { FunctionId = l.FunctionId, Line_ = l.Line, Column = l.Column });
        }
        _out.Location.Add(result);
        _locations.Add(key, id);
        return id;
    }

    private ulong MapMapping(Source source, Mapping m)
    {
        var file = MapString(source, m.Filename);
        var buildId = MapString(source, m.BuildId);
        // Without a file or build id, only the address range tells anonymous mappings apart.
        var key = file == 0 && buildId == 0
            ? new MappingKey(0, 0, m.MemoryStart, m.MemoryLimit, m.FileOffset)
            : new MappingKey(file, buildId, 0, 0, 0);
        if (_mappings.TryGetValue(key, out var id))
        {
            return id;
        }
        id = (ulong)_out.Mapping.Count + 1;
        _out.Mapping.Add(new Mapping
        {
            Id = id,
            MemoryStart = m.MemoryStart,
            MemoryLimit = m.MemoryLimit,
            FileOffset = m.FileOffset,
            Filename = file,
            BuildId = buildId,
            HasFunctions = m.HasFunctions,
            HasFilenames = m.HasFilenames,
            HasLineNumbers = m.HasLineNumbers,
            HasInlineFrames = m.HasInlineFrames,
        });
        _mappings.Add(key, id);
        return id;
    }

    private ulong MapFunction(Source source, Function f)
    {
        var key = new FunctionKey(MapString(source, f.Name), MapString(source, f.SystemName), MapString(source, f.Filename), f.StartLine);
        if (_functions.TryGetValue(key, out var id))
        {
            return id;
        }
        id = (ulong)_out.Function.Count + 1;
        _out.Function.Add(new Function { Id = id, Name = key.Name, SystemName = key.SystemName, Filename = key.Filename, StartLine = key.StartLine });
        _functions.Add(key, id);
        return id;
    }

    /// <summary>Per-input lookup state; the maps translate input positions to output ids, 0 meaning "not yet mapped".</summary>
    private sealed class Source
    {
        public Source(Profile profile)
        {
            Profile = profile;
            Locations = IdIndex.Build(profile.Location, static l => l.Id, "location");
            Functions = IdIndex.Build(profile.Function, static f => f.Id, "function");
            Mappings = IdIndex.Build(profile.Mapping, static m => m.Id, "mapping");
            LocationMap = new ulong[profile.Location.Count];
            FunctionMap = new ulong[profile.Function.Count];
            MappingMap = new ulong[profile.Mapping.Count];
            StringMap = new long[profile.StringTable.Count];
        }

        public Profile Profile { get; }

        public IdIndex Locations { get; }

        public IdIndex Functions { get; }

        public IdIndex Mappings { get; }

        public ulong[] LocationMap { get; }

        public ulong[] FunctionMap { get; }

        public ulong[] MappingMap { get; }

        public long[] StringMap { get; }
    }

    private readonly record struct MappingKey(long File, long BuildId, ulong Start, ulong Limit, ulong Offset);

    private readonly record struct FunctionKey(long Name, long SystemName, long Filename, long StartLine);

    private readonly record struct LineKey(ulong FunctionId, long Line, long Column);

    private readonly record struct LabelKey(long Key, long Str, long Num, long NumUnit) : IComparable<LabelKey>
    {
        public int CompareTo(LabelKey other)
        {
            var c = Key.CompareTo(other.Key);
            if (c == 0)
            {
                c = Str.CompareTo(other.Str);
            }
            if (c == 0)
            {
                c = Num.CompareTo(other.Num);
            }
            return c != 0 ? c : NumUnit.CompareTo(other.NumUnit);
        }
    }

    private readonly record struct LocationKey(ulong MappingId, ulong Address, bool IsFolded, int LineStart, int LineCount, int Hash);

    private readonly record struct SampleKey(int StackStart, int StackCount, int LabelStart, int LabelCount, int Hash);

    private sealed class LocationKeyComparer(List<LineKey> lines) : IEqualityComparer<LocationKey>
    {
        public static int Hash(ulong mapping, ulong address, ReadOnlySpan<LineKey> lines)
        {
            var h = new HashCode();
            h.Add(mapping);
            h.Add(address);
            foreach (var l in lines)
            {
                h.Add(l);
            }
            return h.ToHashCode();
        }

        public bool Equals(LocationKey x, LocationKey y)
        {
            if (x.Hash != y.Hash || x.MappingId != y.MappingId || x.Address != y.Address || x.IsFolded != y.IsFolded || x.LineCount != y.LineCount)
            {
                return false;
            }
            var all = CollectionsMarshal.AsSpan(lines);
            return all.Slice(x.LineStart, x.LineCount).SequenceEqual(all.Slice(y.LineStart, y.LineCount));
        }

        public int GetHashCode(LocationKey key) => key.Hash;
    }

    private sealed class SampleKeyComparer(List<ulong> stacks, List<LabelKey> labels) : IEqualityComparer<SampleKey>
    {
        public static int Hash(ReadOnlySpan<ulong> stack, ReadOnlySpan<LabelKey> labels)
        {
            var h = new HashCode();
            h.AddBytes(MemoryMarshal.AsBytes(stack));
            h.Add(stack.Length);
            foreach (var l in labels)
            {
                h.Add(l);
            }
            return h.ToHashCode();
        }

        public bool Equals(SampleKey x, SampleKey y)
        {
            if (x.Hash != y.Hash || x.StackCount != y.StackCount || x.LabelCount != y.LabelCount)
            {
                return false;
            }
            var s = CollectionsMarshal.AsSpan(stacks);
            if (!s.Slice(x.StackStart, x.StackCount).SequenceEqual(s.Slice(y.StackStart, y.StackCount)))
            {
                return false;
            }
            var l = CollectionsMarshal.AsSpan(labels);
            return l.Slice(x.LabelStart, x.LabelCount).SequenceEqual(l.Slice(y.LabelStart, y.LabelCount));
        }

        public int GetHashCode(SampleKey key) => key.Hash;
    }
}
