using Kiln.Api.Query;
using Kiln.Profiles;
using Kiln.Profiles.Pprof;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Query;

/// <summary>Turns a merged pprof profile (or a diff of two) into the report a Parca QueryService client asked for.</summary>
public static class ReportBuilder
{
    /// <summary>
    /// Builds the <paramref name="type"/> report of <paramref name="profile"/>, diffed against
    /// <paramref name="baseline"/> when one is given. <c>total</c> is the sum of the reported values left after
    /// filtering (in a diff, the compared profile's) and <c>filtered</c> the value the filters removed, as in Parca's
    /// columnquery.go; PROFILE_METADATA reports 0 for both.
    /// </summary>
    /// <exception cref="ArgumentException">The report type is not supported, an option is invalid, or the profile is malformed.</exception>
    public static QueryResponse Build(ReportType type, Profile profile, Profile? baseline, ReportOptions options)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(options);
        if (CheckType(type, options))
        {
            return new QueryResponse { ProfileMetadata = BuildMetadata(profile) };
        }

        var valueIndex = ResolveValueIndex(profile, options.SampleTypeIndex, nameof(profile));
        var sampleType = profile.SampleType[valueIndex];
        var set = new StackSet { Unit = At(profile, sampleType.Unit) };
        if (baseline is null)
        {
            set.Add(profile, valueIndex, baseline: false, valueScale: 1, diffScale: 0);
        }
        else
        {
            var baseIndex = ResolveBaselineIndex(profile, sampleType, baseline, valueIndex);
            var (compareRatio, baseRatio) = DiffRatios(SumValues(profile, valueIndex), SumValues(baseline, baseIndex), options.AbsoluteDiff);
            set.Add(profile, valueIndex, baseline: false, valueScale: 1, diffScale: compareRatio);
            set.Add(baseline, baseIndex, baseline: true, valueScale: 0, diffScale: -baseRatio);
        }
        var header = new PprofHeader(At(profile, sampleType.Type),
            profile.PeriodType is { } period ? (At(profile, period.Type), At(profile, period.Unit)) : null,
            profile.Period, profile.TimeNanos, profile.DurationNanos);
        return Report(type, set, header, options);
    }

    /// <summary>
    /// Builds the <paramref name="type"/> report of a store's merge result, diffed against <paramref name="baseline"/>
    /// when one is given; the same reports as <see cref="Build(ReportType, Profile, Profile?, ReportOptions)"/>
    /// without going through pprof. A merge result has one sample type, so <c>SampleTypeIndex</c> is not used.
    /// </summary>
    /// <exception cref="ArgumentException">The report type is not supported or an option is invalid.</exception>
    public static QueryResponse Build(ReportType type, MergedStacks profile, MergedStacks? baseline, ReportOptions options)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(options);
        if (CheckType(type, options))
        {
            return new QueryResponse { ProfileMetadata = BuildMetadata(profile) };
        }
        var set = new StackSet { Unit = profile.Type.SampleUnit };
        if (baseline is null)
        {
            set.Add(profile, baseline: false, valueScale: 1, diffScale: 0);
        }
        else
        {
            var (compareRatio, baseRatio) = DiffRatios(profile.Total(), baseline.Total(), options.AbsoluteDiff);
            set.Add(profile, baseline: false, valueScale: 1, diffScale: compareRatio);
            set.Add(baseline, baseline: true, valueScale: 0, diffScale: -baseRatio);
        }
        var header = new PprofHeader(profile.Type.SampleType, (profile.Type.PeriodType, profile.Type.PeriodUnit),
            profile.Period, profile.TimeNanos, profile.DurationNanos);
        return Report(type, set, header, options);
    }

    /// <summary>Refuses unsupported report types and invalid options; true when the report is PROFILE_METADATA.</summary>
    private static bool CheckType(ReportType type, ReportOptions options)
    {
        switch (type)
        {
            case ReportType.Source:
                throw new ArgumentException("REPORT_TYPE_SOURCE is not supported: Kiln stores no source files.", nameof(type));
            case ReportType.Flamechart:
                throw new ArgumentException(
                    "REPORT_TYPE_FLAMECHART is not supported: merged pprof samples carry no per-sample timestamps.", nameof(type));
#pragma warning disable CS0612, CS0618 // Named only to refuse the deprecated report clearly.
            case ReportType.FlamegraphUnspecified:
#pragma warning restore CS0612, CS0618
            case ReportType.FlamegraphTable:
                throw new ArgumentException(
                    $"Report type {type} (the deprecated flame graph tree) is not supported; request REPORT_TYPE_FLAMEGRAPH_ARROW.",
                    nameof(type));
            case ReportType.ProfileMetadata:
                return true;
            case ReportType.Pprof:
            case ReportType.Top:
            case ReportType.Callgraph:
            case ReportType.FlamegraphArrow:
            case ReportType.TableArrow:
                break;
            default:
                throw new ArgumentException($"Unknown report type {(int)type}.", nameof(type));
        }
        if (options.NodeTrimThreshold is { } threshold && (float.IsNaN(threshold) || threshold < 0 || threshold > 100))
        {
            throw new ArgumentException(
                $"node_trim_threshold must be a percentage in [0, 100]. Actual value: {threshold}.", nameof(options));
        }
        return false;
    }

    private static QueryResponse Report(ReportType type, StackSet set, PprofHeader header, ReportOptions options)
    {
        var unfiltered = set.KeptTotal();
        ProfileFilter.Apply(set, options.Filters);
        var total = set.KeptTotal();
        var response = new QueryResponse { Total = total, Filtered = unfiltered - total };
        switch (type)
        {
            case ReportType.FlamegraphArrow:
                response.FlamegraphArrow = FlamegraphArrowBuilder.Build(set, options, out _);
                break;
            case ReportType.TableArrow:
                response.TableArrow = TableArrowBuilder.Build(set, FunctionAggregate.Build(set, withEdges: true));
                break;
            case ReportType.Top:
                response.Top = TopBuilder.Build(set, FunctionAggregate.Build(set, withEdges: false));
                break;
            case ReportType.Callgraph:
                response.Callgraph = CallgraphBuilder.Build(set, FunctionAggregate.Build(set, withEdges: true));
                break;
            default:
                response.Pprof = Google.Protobuf.ByteString.CopyFrom(PprofReportBuilder.Build(set, header));
                break;
        }
        return response;
    }

    /// <summary>
    /// Parca's ComputeDiff: the compared profile's samples keep their values and contribute them as diff; the
    /// baseline's contribute 0 to the values and minus their value to the diff. Unless absolute, the profile with the
    /// smaller total has its diff contribution scaled by total(larger)/total(smaller) so that a diff of two windows
    /// of different length shows relative change. Returns the diff scales of the compared profile and the baseline.
    /// </summary>
    private static (double Compare, double Base) DiffRatios(long compareTotal, long baseTotal, bool absolute)
    {
        double compareRatio = 1, baseRatio = 1;
        if (!absolute)
        {
            if (compareTotal > baseTotal && baseTotal > 0)
            {
                baseRatio = (double)compareTotal / baseTotal;
            }
            else if (baseTotal > compareTotal && compareTotal > 0)
            {
                compareRatio = (double)baseTotal / compareTotal;
            }
        }
        return (compareRatio, baseRatio);
    }

    private static long SumValues(Profile profile, int index)
    {
        long sum = 0;
        foreach (var sample in profile.Sample)
        {
            if (index < sample.Value.Count)
            {
                sum += sample.Value[index];
            }
        }
        return sum;
    }

    private static int ResolveValueIndex(Profile profile, int requested, string name)
    {
        var count = profile.SampleType.Count;
        if (count == 0)
        {
            throw new ArgumentException("The profile has no sample types.", name);
        }
        if (requested >= 0)
        {
            return requested < count
                ? requested
                : throw new ArgumentException(
                    $"SampleTypeIndex must be -1 or in [0, {count - 1}]. Actual value: {requested}.", name);
        }
        if (requested != -1)
        {
            throw new ArgumentException($"SampleTypeIndex must be -1 or in [0, {count - 1}]. Actual value: {requested}.", name);
        }
        if (profile.DefaultSampleType != 0)
        {
            var wanted = At(profile, profile.DefaultSampleType);
            for (var i = 0; i < count; i++)
            {
                if (At(profile, profile.SampleType[i].Type) == wanted)
                {
                    return i;
                }
            }
        }
        return count - 1;
    }

    /// <summary>Finds the baseline's value with the same type and unit as the compared one; else the same index.</summary>
    private static int ResolveBaselineIndex(Profile profile, Kiln.Profiles.Pprof.ValueType sampleType, Profile baseline, int valueIndex)
    {
        var type = At(profile, sampleType.Type);
        var unit = At(profile, sampleType.Unit);
        for (var i = 0; i < baseline.SampleType.Count; i++)
        {
            if (At(baseline, baseline.SampleType[i].Type) == type && At(baseline, baseline.SampleType[i].Unit) == unit)
            {
                return i;
            }
        }
        if (valueIndex < baseline.SampleType.Count)
        {
            return valueIndex;
        }
        throw new ArgumentException(
            $"The baseline profile has no sample type {type}/{unit} to compare with.", nameof(baseline));
    }

    private static ProfileMetadata BuildMetadata(Profile profile)
    {
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var mapping in profile.Mapping)
        {
            var file = At(profile, mapping.Filename);
            if (file.Length > 0)
            {
                files.Add(file);
            }
        }
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var sample in profile.Sample)
        {
            foreach (var label in sample.Label)
            {
                var key = At(profile, label.Key);
                if (key.Length > 0)
                {
                    keys.Add(key);
                }
            }
        }
        var metadata = new ProfileMetadata();
        metadata.MappingFiles.AddRange(files);
        metadata.Labels.AddRange(keys);
        return metadata;
    }

    private static ProfileMetadata BuildMetadata(MergedStacks profile)
    {
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var mapping in profile.Mappings)
        {
            var file = profile.Strings[mapping.File];
            if (file.Length > 0)
            {
                files.Add(file);
            }
        }
        var used = new bool[profile.LabelSets.Count];
        foreach (var labelSet in profile.SampleLabels)
        {
            used[labelSet] = true;
        }
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        for (var i = 1; i < used.Length; i++)
        {
            if (used[i])
            {
                foreach (var (key, _) in profile.LabelSets[i])
                {
                    keys.Add(profile.Strings[key]);
                }
            }
        }
        var metadata = new ProfileMetadata();
        metadata.MappingFiles.AddRange(files);
        metadata.Labels.AddRange(keys);
        return metadata;
    }

    private static string At(Profile profile, long index) =>
        index > 0 && index < profile.StringTable.Count ? profile.StringTable[(int)index] : "";
}
