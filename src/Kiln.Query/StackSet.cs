using System.Runtime.InteropServices;
using Kiln.Profiles;
using Kiln.Profiles.Pprof;

namespace Kiln.Query;

/// <summary>Interns strings so that equal strings from one or two profiles share one id; id 0 is "".</summary>
internal sealed class StringPool
{
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal) { [""] = 0 };
    private readonly List<string> _values = [""];

    public int Count => _values.Count;

    public string this[int id] => _values[id];

    public IReadOnlyList<string> Values => _values;

    public int Intern(string value)
    {
        ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(_ids, value, out var exists);
        if (!exists)
        {
            id = _values.Count;
            _values.Add(value);
        }
        return id;
    }
}

internal readonly record struct MappingInfo(
    int File, int BuildId, ulong Start, ulong Limit, ulong Offset,
    bool HasFunctions, bool HasFilenames, bool HasLineNumbers, bool HasInlineFrames);

/// <summary>A source location: its frames are <c>Frames[FirstFrame .. FirstFrame+FrameCount)</c>, innermost (leaf) line first.</summary>
internal readonly record struct LocationInfo(ulong Address, int Mapping, bool IsFolded, int FirstFrame, int FrameCount);

/// <summary>One frame: a line of a location, or the bare address of an unsymbolized location. String fields are pool ids.</summary>
internal readonly record struct FrameInfo(
    int Name, int SystemName, int FileName, long StartLine, long Line,
    ulong Address, int Mapping, int Location, bool Symbolized, bool Inlined);

/// <summary>
/// The samples of one profile (or of a diff of two) in a compact, profile-independent form that every report
/// builder walks: stacks are arrays of location indices, strings are pooled, and filters only flip keep-flags.
/// </summary>
internal sealed class StackSet
{
    private readonly List<int> _stack = [];
    private readonly List<int> _offsets = [0];
    private readonly List<long> _values = [];
    private readonly List<long> _diffs = [];
    private readonly List<int> _labelSets = [];
    private readonly List<bool> _fromBaseline = [];
    private readonly Dictionary<string, int> _labelSetIds = new(StringComparer.Ordinal);
    private bool[] _frameKept = [];
    private bool[] _sampleKept = [];

    public StringPool Strings { get; } = new();

    public List<MappingInfo> Mappings { get; } = [];

    public List<LocationInfo> Locations { get; } = [];

    public List<FrameInfo> Frames { get; } = [];

    /// <summary>Label sets as (key, value) pool-id pairs sorted by key; set 0 is the empty set.</summary>
    public List<(int Key, int Value)[]> LabelSets { get; } = [[]];

    public int SampleCount => _values.Count;

    public string Unit { get; set; } = "";

    public ReadOnlySpan<int> LocationsOf(int sample) =>
        CollectionsMarshal.AsSpan(_stack)[_offsets[sample].._offsets[sample + 1]];

    public long Value(int sample) => _values[sample];

    public long Diff(int sample) => _diffs[sample];

    public int LabelSet(int sample) => _labelSets[sample];

    public bool FromBaseline(int sample) => _fromBaseline[sample];

    public bool IsSampleKept(int sample) => _sampleKept[sample];

    public bool IsFrameKept(int frame) => _frameKept[frame];

    public void DropSample(int sample) => _sampleKept[sample] = false;

    public void DropFrame(int frame) => _frameKept[frame] = false;

    /// <summary>The number of frames of all samples, kept or not: a bound on what <see cref="CopyFrames"/> returns in total.</summary>
    public int FrameCountUpperBound()
    {
        var locations = CollectionsMarshal.AsSpan(Locations);
        var frames = 0;
        foreach (var location in CollectionsMarshal.AsSpan(_stack))
        {
            frames += locations[location].FrameCount;
        }
        return frames;
    }

    /// <summary>Sum of the values of kept samples.</summary>
    public long KeptTotal()
    {
        long total = 0;
        for (var s = 0; s < _values.Count; s++)
        {
            if (_sampleKept[s])
            {
                total += _values[s];
            }
        }
        return total;
    }

    /// <summary>
    /// Writes the kept frames of <paramref name="sample"/> into <paramref name="buffer"/> (grown as needed) and returns
    /// their count; leaf first unless <paramref name="rootFirst"/>.
    /// </summary>
    public int CopyFrames(int sample, ref int[] buffer, bool rootFirst)
    {
        var count = 0;
        var locations = LocationsOf(sample);
        var frames = CollectionsMarshal.AsSpan(Locations);
        for (var i = 0; i < locations.Length; i++)
        {
            ref readonly var location = ref frames[locations[i]];
            var end = location.FirstFrame + location.FrameCount;
            for (var f = location.FirstFrame; f < end; f++)
            {
                if (!_frameKept[f])
                {
                    continue;
                }
                if (count == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }
                buffer[count++] = f;
            }
        }
        if (rootFirst)
        {
            buffer.AsSpan(0, count).Reverse();
        }
        return count;
    }

    /// <summary>
    /// Appends the samples of <paramref name="profile"/>. Each sample contributes <c>value * valueScale</c> to the values
    /// and <c>value * diffScale</c> (truncated toward zero, as Parca does) to the diffs.
    /// </summary>
    public void Add(Profile profile, int valueIndex, bool baseline, long valueScale, double diffScale)
    {
        var table = profile.StringTable;
        var strings = new int[table.Count];
        Array.Fill(strings, -1);
        int Str(long index)
        {
            if (index <= 0 || index >= strings.Length)
            {
                return 0;
            }
            ref var id = ref strings[index];
            if (id < 0)
            {
                id = Strings.Intern(table[(int)index]);
            }
            return id;
        }

        var mappingIndex = new Dictionary<ulong, int>(profile.Mapping.Count);
        foreach (var m in profile.Mapping)
        {
            mappingIndex[m.Id] = Mappings.Count;
            Mappings.Add(new MappingInfo(Str(m.Filename), Str(m.BuildId), m.MemoryStart, m.MemoryLimit, m.FileOffset,
                m.HasFunctions, m.HasFilenames, m.HasLineNumbers, m.HasInlineFrames));
        }

        var functionIndex = new Dictionary<ulong, Function>(profile.Function.Count);
        foreach (var f in profile.Function)
        {
            functionIndex[f.Id] = f;
        }

        var locationIndex = new Dictionary<ulong, int>(profile.Location.Count);
        foreach (var loc in profile.Location)
        {
            var mapping = loc.MappingId != 0 && mappingIndex.TryGetValue(loc.MappingId, out var mi) ? mi : -1;
            var first = Frames.Count;
            var index = Locations.Count;
            if (loc.Line.Count == 0)
            {
                Frames.Add(new FrameInfo(0, 0, 0, 0, 0, loc.Address, mapping, index, Symbolized: false, Inlined: false));
            }
            else
            {
                for (var l = 0; l < loc.Line.Count; l++)
                {
                    var line = loc.Line[l];
                    // pprof lists inlined callees first and the physical caller last.
                    var inlined = l < loc.Line.Count - 1;
                    if (functionIndex.TryGetValue(line.FunctionId, out var fn))
                    {
                        Frames.Add(new FrameInfo(Str(fn.Name), Str(fn.SystemName), Str(fn.Filename), fn.StartLine, line.Line_,
                            loc.Address, mapping, index, Symbolized: true, inlined));
                    }
                    else
                    {
                        Frames.Add(new FrameInfo(0, 0, 0, 0, line.Line_, loc.Address, mapping, index, Symbolized: false, inlined));
                    }
                }
            }
            locationIndex[loc.Id] = index;
            Locations.Add(new LocationInfo(loc.Address, mapping, loc.IsFolded, first, Frames.Count - first));
        }

        var labelBuffer = new List<(int Key, int Value)>();
        foreach (var sample in profile.Sample)
        {
            if (valueIndex >= sample.Value.Count)
            {
                throw new ArgumentException(
                    $"A sample has {sample.Value.Count} values but sample type index {valueIndex} was requested.");
            }
            var raw = sample.Value[valueIndex];
            var value = raw * valueScale;
            var diff = (long)(raw * diffScale);
            if (value == 0 && diff == 0)
            {
                continue;
            }
            foreach (var id in sample.LocationId)
            {
                if (!locationIndex.TryGetValue(id, out var li))
                {
                    throw new ArgumentException($"A sample references location id {id}, which the profile does not define.");
                }
                _stack.Add(li);
            }
            _offsets.Add(_stack.Count);
            _values.Add(value);
            _diffs.Add(diff);
            _fromBaseline.Add(baseline);
            _labelSets.Add(InternLabels(sample, labelBuffer, Str));
        }

        ResetKeepFlags();
    }

    /// <summary>
    /// Appends the samples of a store's merge result, as <see cref="Add(Profile, int, bool, long, double)"/> does for a
    /// pprof profile: each location's frames once, then each sample's stack as a copy of its location indices.
    /// </summary>
    public void Add(MergedStacks merged, bool baseline, long valueScale, double diffScale)
    {
        var strings = new int[merged.Strings.Count];
        Array.Fill(strings, -1);
        int Str(int index)
        {
            if (index <= 0)
            {
                return 0;
            }
            ref var id = ref strings[index];
            if (id < 0)
            {
                id = Strings.Intern(merged.Strings[index]);
            }
            return id;
        }

        var mappingBase = Mappings.Count;
        foreach (var m in merged.Mappings)
        {
            Mappings.Add(new MappingInfo(Str(m.File), Str(m.BuildId), m.Start, m.Limit, m.Offset,
                m.HasFunctions, m.HasFilenames, m.HasLineNumbers, m.HasInlineFrames));
        }
        var locationBase = Locations.Count;
        var functions = CollectionsMarshal.AsSpan(merged.Functions);
        var lines = CollectionsMarshal.AsSpan(merged.Lines);
        Frames.EnsureCapacity(Frames.Count + Math.Max(lines.Length, merged.Locations.Count));
        foreach (var loc in merged.Locations)
        {
            var mapping = loc.Mapping < 0 ? -1 : mappingBase + loc.Mapping;
            var first = Frames.Count;
            var index = Locations.Count;
            if (loc.LineCount == 0)
            {
                Frames.Add(new FrameInfo(0, 0, 0, 0, 0, loc.Address, mapping, index, Symbolized: false, Inlined: false));
            }
            for (var l = 0; l < loc.LineCount; l++)
            {
                ref readonly var line = ref lines[loc.FirstLine + l];
                ref readonly var fn = ref functions[line.Function];
                Frames.Add(new FrameInfo(Str(fn.Name), Str(fn.SystemName), Str(fn.Filename), fn.StartLine, line.Line,
                    loc.Address, mapping, index, Symbolized: true, Inlined: l < loc.LineCount - 1));
            }
            Locations.Add(new LocationInfo(loc.Address, mapping, loc.IsFolded, first, Frames.Count - first));
        }

        var labelSets = new int[merged.LabelSets.Count];
        var pairs = new List<(int Key, int Value)>();
        for (var i = 1; i < labelSets.Length; i++)
        {
            pairs.Clear();
            foreach (var (key, value) in merged.LabelSets[i])
            {
                pairs.Add((Str(key), Str(value)));
            }
            labelSets[i] = InternLabelSet(CollectionsMarshal.AsSpan(pairs));
        }

        var values = CollectionsMarshal.AsSpan(merged.Values);
        _stack.EnsureCapacity(_stack.Count + merged.StackLocations.Count);
        for (var s = 0; s < values.Length; s++)
        {
            var raw = values[s];
            var value = raw * valueScale;
            var diff = (long)(raw * diffScale);
            if (value == 0 && diff == 0)
            {
                continue;
            }
            // Copied as spans, not a List.Add per location (2.4 M of them for an hour of 100 hosts).
            var stack = merged.Stack(s);
            var at = _stack.Count;
            CollectionsMarshal.SetCount(_stack, at + stack.Length);
            var target = CollectionsMarshal.AsSpan(_stack).Slice(at, stack.Length);
            for (var i = 0; i < stack.Length; i++)
            {
                target[i] = locationBase + stack[i];
            }
            _offsets.Add(_stack.Count);
            _values.Add(value);
            _diffs.Add(diff);
            _fromBaseline.Add(baseline);
            _labelSets.Add(labelSets[merged.SampleLabels[s]]);
        }
        ResetKeepFlags();
    }

    private void ResetKeepFlags()
    {
        Array.Resize(ref _frameKept, Frames.Count);
        Array.Resize(ref _sampleKept, _values.Count);
        _frameKept.AsSpan().Fill(true);
        _sampleKept.AsSpan().Fill(true);
    }

    private int InternLabels(Sample sample, List<(int Key, int Value)> buffer, Func<long, int> str)
    {
        if (sample.Label.Count == 0)
        {
            return 0;
        }
        buffer.Clear();
        foreach (var label in sample.Label)
        {
            // Numeric labels (num/num_unit) carry no group-able value in Parca; only string labels are kept.
            if (label.Str != 0)
            {
                buffer.Add((str(label.Key), str(label.Str)));
            }
        }
        if (buffer.Count == 0)
        {
            return 0;
        }
        buffer.Sort((x, y) => string.CompareOrdinal(Strings[x.Key], Strings[y.Key]));
        return InternLabelSet(CollectionsMarshal.AsSpan(buffer));
    }

    /// <summary>Returns the id of the label set made of <paramref name="pairs"/> (sorted by key), adding it if new.</summary>
    public int InternLabelSet(ReadOnlySpan<(int Key, int Value)> pairs)
    {
        if (pairs.IsEmpty)
        {
            return 0;
        }
        // The key is the ids as text; an alternate lookup finds existing sets without allocating a string per sample.
        var length = pairs.Length * 22;
        var chars = length <= 512 ? stackalloc char[length] : new char[length];
        var pos = 0;
        foreach (var (k, v) in pairs)
        {
            k.TryFormat(chars[pos..], out var written);
            pos += written;
            chars[pos++] = ':';
            v.TryFormat(chars[pos..], out written);
            pos += written;
            chars[pos++] = ';';
        }
        var key = chars[..pos];
        var lookup = _labelSetIds.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(key, out var existing))
        {
            return existing;
        }
        var id = LabelSets.Count;
        _labelSetIds.Add(key.ToString(), id);
        LabelSets.Add(pairs.ToArray());
        return id;
    }
}
