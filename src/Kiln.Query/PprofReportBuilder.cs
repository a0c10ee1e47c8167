using Kiln.Profiles;
using Kiln.Profiles.Pprof;
using Label = Kiln.Profiles.Pprof.Label;

namespace Kiln.Query;

/// <summary>
/// Writes the filtered samples back as a gzip pprof with the one reported sample type. Frames removed by frame
/// filters are dropped from their locations (a location that keeps only some of its lines becomes a new location).
/// In a diff, baseline samples are written with their negated (scaled) value and the label <c>pprof::base=true</c>,
/// the convention of <c>go tool pprof -diff_base</c>. Stacks are never inverted here.
/// </summary>
internal static class PprofReportBuilder
{
    public static byte[] Build(StackSet set, PprofHeader header)
    {
        var output = new Profile();
        var strings = new Dictionary<string, long>(StringComparer.Ordinal);
        long Str(string value)
        {
            if (!strings.TryGetValue(value, out var id))
            {
                id = output.StringTable.Count;
                output.StringTable.Add(value);
                strings[value] = id;
            }
            return id;
        }
        Str("");
        output.SampleType.Add(new Kiln.Profiles.Pprof.ValueType { Type = Str(header.SampleType), Unit = Str(set.Unit) });
        if (header.PeriodType is var (periodType, periodUnit))
        {
            output.PeriodType = new Kiln.Profiles.Pprof.ValueType { Type = Str(periodType), Unit = Str(periodUnit) };
        }
        output.Period = header.Period;
        output.TimeNanos = header.TimeNanos;
        output.DurationNanos = header.DurationNanos;

        for (var m = 0; m < set.Mappings.Count; m++)
        {
            var mapping = set.Mappings[m];
            output.Mapping.Add(new Mapping
            {
                Id = (ulong)m + 1,
                MemoryStart = mapping.Start,
                MemoryLimit = mapping.Limit,
                FileOffset = mapping.Offset,
                Filename = Str(set.Strings[mapping.File]),
                BuildId = Str(set.Strings[mapping.BuildId]),
                HasFunctions = mapping.HasFunctions,
                HasFilenames = mapping.HasFilenames,
                HasLineNumbers = mapping.HasLineNumbers,
                HasInlineFrames = mapping.HasInlineFrames,
            });
        }

        var functions = new Dictionary<(int, int, int, long), ulong>();
        var locations = new Dictionary<(int Location, string Lines), ulong>();
        var buffer = new int[128];
        var current = new List<int>();
        var baseKey = Str("pprof::base");
        var baseValue = Str("true");
        for (var s = 0; s < set.SampleCount; s++)
        {
            if (!set.IsSampleKept(s))
            {
                continue;
            }
            var sample = new Sample();
            sample.Value.Add(set.FromBaseline(s) ? set.Diff(s) : set.Value(s));
            var n = set.CopyFrames(s, ref buffer, rootFirst: false);
            current.Clear();
            for (var i = 0; i < n; i++)
            {
                var f = buffer[i];
                if (current.Count > 0 && set.Frames[current[0]].Location != set.Frames[f].Location)
                {
                    sample.LocationId.Add(LocationId(set, output, current, locations, functions, Str));
                    current.Clear();
                }
                current.Add(f);
            }
            if (current.Count > 0)
            {
                sample.LocationId.Add(LocationId(set, output, current, locations, functions, Str));
            }
            foreach (var (key, value) in set.LabelSets[set.LabelSet(s)])
            {
                sample.Label.Add(new Label { Key = Str(set.Strings[key]), Str = Str(set.Strings[value]) });
            }
            if (set.FromBaseline(s))
            {
                sample.Label.Add(new Label { Key = baseKey, Str = baseValue });
            }
            output.Sample.Add(sample);
        }
        return PprofCodec.Encode(output);
    }

    private static ulong LocationId(StackSet set, Profile output, List<int> frames,
        Dictionary<(int Location, string Lines), ulong> locations,
        Dictionary<(int, int, int, long), ulong> functions, Func<string, long> str)
    {
        var info = set.Locations[set.Frames[frames[0]].Location];
        // The key names the kept lines only when some were filtered out; whole locations share one key.
        var lines = frames.Count == info.FrameCount ? "" : string.Join(',', frames);
        var key = (set.Frames[frames[0]].Location, lines);
        if (locations.TryGetValue(key, out var id))
        {
            return id;
        }
        id = (ulong)output.Location.Count + 1;
        var location = new Location
        {
            Id = id,
            Address = info.Address,
            MappingId = info.Mapping >= 0 ? (ulong)info.Mapping + 1 : 0,
            IsFolded = info.IsFolded,
        };
        foreach (var f in frames)
        {
            var frame = set.Frames[f];
            if (!frame.Symbolized)
            {
                continue;
            }
            var fkey = (frame.Name, frame.SystemName, frame.FileName, frame.StartLine);
            if (!functions.TryGetValue(fkey, out var functionId))
            {
                functionId = (ulong)output.Function.Count + 1;
                output.Function.Add(new Function
                {
                    Id = functionId,
                    Name = str(set.Strings[frame.Name]),
                    SystemName = str(set.Strings[frame.SystemName]),
                    Filename = str(set.Strings[frame.FileName]),
                    StartLine = frame.StartLine,
                });
                functions[fkey] = functionId;
            }
            location.Line.Add(new Line { FunctionId = functionId, Line_ = frame.Line });
        }
        output.Location.Add(location);
        locations[key] = id;
        return id;
    }
}

/// <summary>What the pprof report copies from the source profile: the reported sample type, the period type and unit (if any), period and time span.</summary>
internal readonly record struct PprofHeader(string SampleType, (string Type, string Unit)? PeriodType, long Period, long TimeNanos, long DurationNanos);
