using System.Globalization;
using Kiln.Profiles.Pprof;
using Kiln.Symbolization;
using PprofMapping = Kiln.Profiles.Pprof.Mapping;
using PprofSample = Kiln.Profiles.Pprof.Sample;
using ValueType = Kiln.Profiles.Pprof.ValueType;

namespace Kiln.Agent.Profiling;

/// <summary>
/// Builds the pprof of one process for one window from symbolized frames: one mapping per process mapping (with
/// its range, offset and build ID), one function per (name, system name), one location per address.
/// Location addresses are normalized (ELF virtual addresses for file-backed code), as announced by
/// <c>WriteRawRequest.normalized</c>.
/// </summary>
internal sealed class ProcessProfileBuilder
{
    private readonly Profile _profile = new();
    private readonly Dictionary<string, long> _strings = new(StringComparer.Ordinal) { [""] = 0 };
    private readonly Dictionary<MappingInfo, ulong> _mappings = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<(long Name, long SystemName), ulong> _functions = [];
    private readonly Dictionary<(ulong Mapping, ulong Address), ulong> _locations = [];
    private readonly long _threadIdKey;
    private readonly long _threadNameKey;

    public ProcessProfileBuilder(long periodNanos, long timeNanos, long durationNanos)
    {
        _profile.StringTable.Add("");
        _profile.SampleType.Add(new ValueType { Type = String("samples"), Unit = String("count") });
        _profile.PeriodType = new ValueType { Type = String("cpu"), Unit = String("nanoseconds") };
        _profile.Period = periodNanos;
        _profile.TimeNanos = timeNanos;
        _profile.DurationNanos = durationNanos;
        _threadIdKey = String("thread_id");
        _threadNameKey = String("thread_name");
    }

    /// <summary>The location id of <paramref name="frame"/>, adding its mapping, function and location when new.</summary>
    public ulong Location(in SymbolizedFrame frame)
    {
        var mapping = frame.Mapping is null ? 0 : Mapping(frame.Mapping);
        var key = (mapping, frame.NormalizedAddress);
        if (_locations.TryGetValue(key, out var id))
        {
            return id;
        }
        id = (ulong)_profile.Location.Count + 1;
        var location = new Location { Id = id, MappingId = mapping, Address = frame.NormalizedAddress };
        if (frame.FunctionName is { } name)
        {
            location.Line.Add(new Line { FunctionId = Function(name, frame.SystemName ?? name) });
        }
        _profile.Location.Add(location);
        _locations.Add(key, id);
        return id;
    }

    /// <summary>Adds one sample: <paramref name="count"/> samples of thread <paramref name="tid"/> with this stack (leaf first).</summary>
    public void AddSample(ReadOnlySpan<ulong> leafFirstLocations, long count, int tid, string threadName)
    {
        var sample = new PprofSample();
        foreach (var id in leafFirstLocations)
        {
            sample.LocationId.Add(id);
        }
        sample.Value.Add(count);
        sample.Label.Add(new Label { Key = _threadIdKey, Str = String(tid.ToString(CultureInfo.InvariantCulture)) });
        if (threadName.Length > 0)
        {
            sample.Label.Add(new Label { Key = _threadNameKey, Str = String(threadName) });
        }
        _profile.Sample.Add(sample);
    }

    public Profile Build() => _profile;

    private ulong Mapping(MappingInfo info)
    {
        if (_mappings.TryGetValue(info, out var id))
        {
            return id;
        }
        id = (ulong)_profile.Mapping.Count + 1;
        _profile.Mapping.Add(new PprofMapping
        {
            Id = id,
            MemoryStart = info.Start,
            MemoryLimit = info.Limit,
            FileOffset = info.Offset,
            Filename = String(info.File),
            BuildId = String(info.BuildId ?? ""),
            HasFunctions = true,
        });
        _mappings.Add(info, id);
        return id;
    }

    private ulong Function(string name, string systemName)
    {
        var key = (String(name), String(systemName));
        if (_functions.TryGetValue(key, out var id))
        {
            return id;
        }
        id = (ulong)_profile.Function.Count + 1;
        _profile.Function.Add(new Function { Id = id, Name = key.Item1, SystemName = key.Item2 });
        _functions.Add(key, id);
        return id;
    }

    private long String(string value)
    {
        if (!_strings.TryGetValue(value, out var index))
        {
            index = _profile.StringTable.Count;
            _profile.StringTable.Add(value);
            _strings.Add(value, index);
        }
        return index;
    }
}
