using Kiln.Profiles;
using Kiln.Profiles.Pprof;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Builds the pprof answer of a merge query from aggregated (stack id, labels, value) rows, copying each
/// stack's locations, functions and mappings out of the <see cref="SymbolTable"/> once, with dense pprof ids.
/// </summary>
internal sealed class MergedProfileBuilder
{
    private readonly SymbolTable _symbols;
    private readonly Profile _profile = new();
    private readonly Dictionary<string, long> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<int, ulong> _locations = [];
    private readonly Dictionary<int, ulong> _functions = [];
    private readonly Dictionary<int, ulong> _mappings = [];
    private readonly Dictionary<int, LabelSet> _sampleLabels = [];
    private readonly Dictionary<(int Stack, LabelSet Labels), Sample> _labelledSamples = [];

    public MergedProfileBuilder(SymbolTable symbols, ProfileType type, long period, long timeNanos, long durationNanos)
    {
        _symbols = symbols;
        Intern("");
        _profile.SampleType.Add(new Kiln.Profiles.Pprof.ValueType { Type = Intern(type.SampleType), Unit = Intern(type.SampleUnit) });
        _profile.PeriodType = new Kiln.Profiles.Pprof.ValueType { Type = Intern(type.PeriodType), Unit = Intern(type.PeriodUnit) };
        _profile.Period = period;
        _profile.TimeNanos = timeNanos;
        _profile.DurationNanos = durationNanos;
    }

    public bool IsEmpty => _profile.Sample.Count == 0;

    public int SampleCount => _profile.Sample.Count;

    /// <summary>Adds one aggregated row; with labels to keep, rows whose kept labels are equal merge.</summary>
    public void Add(int stackId, int sampleLabelsId, LabelSet? seriesLabels, IReadOnlyCollection<string> keepLabels, long value)
    {
        var stack = _symbols.Stacks[stackId - 1];
        if (stack is null || value == 0)
        {
            return;
        }
        if (keepLabels.Count == 0 || seriesLabels is null)
        {
            var sample = new Sample();
            AddStack(sample, stack);
            sample.Value.Add(value);
            _profile.Sample.Add(sample);
            return;
        }
        var labels = KeptLabels(seriesLabels, sampleLabelsId, keepLabels);
        if (_labelledSamples.TryGetValue((stackId, labels), out var existing))
        {
            existing.Value[0] += value;
            return;
        }
        var labelled = new Sample();
        AddStack(labelled, stack);
        labelled.Value.Add(value);
        foreach (var l in labels)
        {
            labelled.Label.Add(new Kiln.Profiles.Pprof.Label { Key = Intern(l.Name), Str = Intern(l.Value) });
        }
        _labelledSamples.Add((stackId, labels), labelled);
        _profile.Sample.Add(labelled);
    }

    public Profile Build() => _profile;

    private LabelSet KeptLabels(LabelSet seriesLabels, int sampleLabelsId, IReadOnlyCollection<string> keepLabels)
    {
        var kept = new List<Kiln.Profiles.Label>(keepLabels.Count);
        foreach (var l in seriesLabels)
        {
            if (keepLabels.Contains(l.Name))
            {
                kept.Add(l);
            }
        }
        if (sampleLabelsId != 0)
        {
            if (!_sampleLabels.TryGetValue(sampleLabelsId, out var sampleLabels))
            {
                _sampleLabels[sampleLabelsId] = sampleLabels = LabelCodec.Decode(_symbols.SampleLabels[sampleLabelsId - 1] ?? "[]");
            }
            foreach (var l in sampleLabels)
            {
                if (keepLabels.Contains(l.Name))
                {
                    kept.Add(l);
                }
            }
        }
        return LabelSet.From(kept);
    }

    private void AddStack(Sample sample, int[] stack)
    {
        foreach (var locationId in stack)
        {
            sample.LocationId.Add(Location(locationId));
        }
    }

    private ulong Location(int id)
    {
        if (_locations.TryGetValue(id, out var local))
        {
            return local;
        }
        var row = _symbols.Locations[id - 1]!;
        local = (ulong)_profile.Location.Count + 1;
        var location = new Location { Id = local, Address = row.Address, IsFolded = row.IsFolded, MappingId = row.MappingId == 0 ? 0 : Mapping(row.MappingId) };
        foreach (var line in row.Lines)
        {
            location.Line.Add(new Line { FunctionId = Function(line.FunctionId), Line_ = line.Line });
        }
        _profile.Location.Add(location);
        _locations.Add(id, local);
        return local;
    }

    private ulong Function(int id)
    {
        if (_functions.TryGetValue(id, out var local))
        {
            return local;
        }
        var row = _symbols.Functions[id - 1]!;
        local = (ulong)_profile.Function.Count + 1;
        _profile.Function.Add(new Function
        {
            Id = local,
            Name = Intern(row.Name),
            SystemName = Intern(row.SystemName),
            Filename = Intern(row.Filename),
            StartLine = row.StartLine,
        });
        _functions.Add(id, local);
        return local;
    }

    private ulong Mapping(int id)
    {
        if (_mappings.TryGetValue(id, out var local))
        {
            return local;
        }
        var row = _symbols.Mappings[id - 1]!;
        local = (ulong)_profile.Mapping.Count + 1;
        _profile.Mapping.Add(new Mapping
        {
            Id = local,
            MemoryStart = row.Start,
            MemoryLimit = row.Limit,
            FileOffset = row.Offset,
            Filename = Intern(row.File),
            BuildId = Intern(row.BuildId),
            HasFunctions = row.HasFunctions,
            HasFilenames = row.HasFilenames,
            HasLineNumbers = row.HasLineNumbers,
            HasInlineFrames = row.HasInlineFrames,
        });
        _mappings.Add(id, local);
        return local;
    }

    private long Intern(string s)
    {
        if (_strings.TryGetValue(s, out var index))
        {
            return index;
        }
        index = _profile.StringTable.Count;
        _profile.StringTable.Add(s);
        _strings.Add(s, index);
        return index;
    }
}
