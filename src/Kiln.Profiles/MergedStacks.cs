using System.Runtime.InteropServices;
using Kiln.Profiles.Pprof;

namespace Kiln.Profiles;

/// <summary>A mapping of a <see cref="MergedStacks"/>; <c>File</c> and <c>BuildId</c> are indices into its strings.</summary>
public readonly record struct MergedMapping(
    int File, int BuildId, ulong Start, ulong Limit, ulong Offset,
    bool HasFunctions, bool HasFilenames, bool HasLineNumbers, bool HasInlineFrames);

/// <summary>A function of a <see cref="MergedStacks"/>; the names are indices into its strings.</summary>
public readonly record struct MergedFunction(int Name, int SystemName, int Filename, long StartLine);

/// <summary>
/// A location of a <see cref="MergedStacks"/>: <c>Mapping</c> is an index into its mappings or -1, its lines are
/// <c>Lines[FirstLine .. FirstLine + LineCount)</c>, inlined callees first and the physical caller last, as in pprof.
/// </summary>
public readonly record struct MergedLocation(int Mapping, ulong Address, bool IsFolded, int FirstLine, int LineCount);

/// <summary>One line of a location: an index into the functions and a source line.</summary>
public readonly record struct MergedLine(int Function, long Line);

/// <summary>
/// A merged profile with one sample type in columnar form, as a store's merge produces it: every mapping, function
/// and location once, each sample's stack as a range of location indices (leaf first) with its summed value.
/// Building it costs a copy per distinct stack and per distinct symbol, where a pprof <see cref="Profile"/> costs an
/// object per sample and per frame; the report builders read it directly. Samples with equal stacks and labels
/// appear once. Nothing here is validated again: indices are in range by construction.
/// </summary>
public sealed class MergedStacks
{
    private readonly List<string> _strings = [""];
    private readonly Dictionary<string, int> _stringIds = new(StringComparer.Ordinal) { [""] = 0 };
    private readonly List<(int Key, int Value)[]> _labelSets = [[]];

    public MergedStacks(ProfileType type, long period, long timeNanos, long durationNanos)
    {
        ArgumentNullException.ThrowIfNull(type);
        Type = type;
        Period = period;
        TimeNanos = timeNanos;
        DurationNanos = durationNanos;
    }

    /// <summary>The profile type; its sample type and unit name the one value of every sample.</summary>
    public ProfileType Type { get; }

    public long Period { get; }

    public long TimeNanos { get; }

    public long DurationNanos { get; }

    /// <summary>Every string the symbols and labels use, once; index 0 is "".</summary>
    public IReadOnlyList<string> Strings => _strings;

    public List<MergedMapping> Mappings { get; } = [];

    public List<MergedFunction> Functions { get; } = [];

    public List<MergedLocation> Locations { get; } = [];

    public List<MergedLine> Lines { get; } = [];

    /// <summary>The samples' location indices, leaf first, sample after sample (see <see cref="StackOffsets"/>).</summary>
    public List<int> StackLocations { get; } = [];

    /// <summary>Sample <c>s</c>'s stack is <c>StackLocations[StackOffsets[s] .. StackOffsets[s + 1])</c>.</summary>
    public List<int> StackOffsets { get; } = [0];

    public List<long> Values { get; } = [];

    /// <summary>Per sample, an index into <see cref="LabelSets"/> (0: no labels).</summary>
    public List<int> SampleLabels { get; } = [];

    /// <summary>Label sets as (name, value) string indices sorted by name; set 0 is the empty set.</summary>
    public IReadOnlyList<(int Key, int Value)[]> LabelSets => _labelSets;

    public int SampleCount => Values.Count;

    public ReadOnlySpan<int> Stack(int sample) =>
        CollectionsMarshal.AsSpan(StackLocations)[StackOffsets[sample]..StackOffsets[sample + 1]];

    /// <summary>The index of <paramref name="value"/> in <see cref="Strings"/>, adding it when new.</summary>
    public int Intern(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(_stringIds, value, out var exists);
        if (!exists)
        {
            id = _strings.Count;
            _strings.Add(value);
        }
        return id;
    }

    /// <summary>Adds a label set (pairs of string indices, sorted by name) and returns its index.</summary>
    public int AddLabelSet((int Key, int Value)[] pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Length == 0)
        {
            return 0;
        }
        _labelSets.Add(pairs);
        return _labelSets.Count - 1;
    }

    /// <summary>Appends a sample: its stack (location indices, leaf first), value and label set.</summary>
    public void AddSample(ReadOnlySpan<int> locations, long value, int labelSet = 0)
    {
        StackLocations.AddRange(locations);
        StackOffsets.Add(StackLocations.Count);
        Values.Add(value);
        SampleLabels.Add(labelSet);
    }

    /// <summary>Sum of all sample values.</summary>
    public long Total()
    {
        long total = 0;
        foreach (var v in CollectionsMarshal.AsSpan(Values))
        {
            total += v;
        }
        return total;
    }

    /// <summary>The same profile as a pprof message (for clients that ask for pprof, and for tests).</summary>
    public Profile ToProfile()
    {
        var profile = new Profile
        {
            SampleType = { new Pprof.ValueType { Type = Intern(Type.SampleType), Unit = Intern(Type.SampleUnit) } },
            PeriodType = new Pprof.ValueType { Type = Intern(Type.PeriodType), Unit = Intern(Type.PeriodUnit) },
        };
        profile.StringTable.Add(_strings);
        profile.Period = Period;
        profile.TimeNanos = TimeNanos;
        profile.DurationNanos = DurationNanos;
        for (var i = 0; i < Mappings.Count; i++)
        {
            var m = Mappings[i];
            profile.Mapping.Add(new Mapping
            {
                Id = (ulong)i + 1, MemoryStart = m.Start, MemoryLimit = m.Limit, FileOffset = m.Offset, Filename = m.File, BuildId = m.BuildId,
                HasFunctions = m.HasFunctions, HasFilenames = m.HasFilenames, HasLineNumbers = m.HasLineNumbers, HasInlineFrames = m.HasInlineFrames,
            });
        }
        for (var i = 0; i < Functions.Count; i++)
        {
            var f = Functions[i];
            profile.Function.Add(new Function { Id = (ulong)i + 1, Name = f.Name, SystemName = f.SystemName, Filename = f.Filename, StartLine = f.StartLine });
        }
        for (var i = 0; i < Locations.Count; i++)
        {
            var l = Locations[i];
            var location = new Location { Id = (ulong)i + 1, Address = l.Address, IsFolded = l.IsFolded, MappingId = l.Mapping < 0 ? 0 : (ulong)l.Mapping + 1 };
            for (var j = l.FirstLine; j < l.FirstLine + l.LineCount; j++)
            {
                location.Line.Add(new Line { FunctionId = (ulong)Lines[j].Function + 1, Line_ = Lines[j].Line });
            }
            profile.Location.Add(location);
        }
        for (var s = 0; s < SampleCount; s++)
        {
            var sample = new Sample();
            foreach (var l in Stack(s))
            {
                sample.LocationId.Add((ulong)l + 1);
            }
            sample.Value.Add(Values[s]);
            foreach (var (key, value) in _labelSets[SampleLabels[s]])
            {
                sample.Label.Add(new Pprof.Label { Key = key, Str = value });
            }
            profile.Sample.Add(sample);
        }
        return profile;
    }
}
