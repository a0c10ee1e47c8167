using Kiln.Api.Query;
using Kiln.Profiles;
using Kiln.Profiles.Pprof;
using Kiln.Query.Testing;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Query.Tests;

/// <summary>
/// The reports built from a store's merge result (<see cref="MergedStacks"/>) are the reports built from the same
/// profile as pprof, byte for byte, for every report type and the options that change how stacks are walked.
/// </summary>
public class MergedStacksTests
{
    private static readonly Kiln.Profiles.ProfileType s_type = Kiln.Profiles.ProfileType.Parse("test:samples:count:cpu:nanoseconds:delta");

    /// <summary>The same samples as a store would hand them over: symbols copied once, stacks as location indices.</summary>
    internal static MergedStacks FromProfile(Profile profile)
    {
        var merged = new MergedStacks(s_type, profile.Period, profile.TimeNanos, profile.DurationNanos);
        int Str(long index) => merged.Intern(profile.StringTable[(int)index]);
        var mappings = new Dictionary<ulong, int>();
        foreach (var m in profile.Mapping)
        {
            mappings[m.Id] = merged.Mappings.Count;
            merged.Mappings.Add(new MergedMapping(Str(m.Filename), Str(m.BuildId), m.MemoryStart, m.MemoryLimit, m.FileOffset,
                m.HasFunctions, m.HasFilenames, m.HasLineNumbers, m.HasInlineFrames));
        }
        var functions = new Dictionary<ulong, int>();
        foreach (var f in profile.Function)
        {
            functions[f.Id] = merged.Functions.Count;
            merged.Functions.Add(new MergedFunction(Str(f.Name), Str(f.SystemName), Str(f.Filename), f.StartLine));
        }
        var locations = new Dictionary<ulong, int>();
        foreach (var l in profile.Location)
        {
            locations[l.Id] = merged.Locations.Count;
            var first = merged.Lines.Count;
            foreach (var line in l.Line)
            {
                merged.Lines.Add(new MergedLine(functions[line.FunctionId], line.Line_));
            }
            merged.Locations.Add(new MergedLocation(l.MappingId == 0 ? -1 : mappings[l.MappingId], l.Address, l.IsFolded, first, l.Line.Count));
        }
        var labelSets = new Dictionary<string, int>();
        foreach (var sample in profile.Sample)
        {
            var labels = sample.Label.Select(l => (Key: profile.StringTable[(int)l.Key], Value: profile.StringTable[(int)l.Str]))
                .OrderBy(l => l.Key, StringComparer.Ordinal).ToArray();
            var key = string.Join(';', labels.Select(l => $"{l.Key}={l.Value}"));
            if (!labelSets.TryGetValue(key, out var labelSet))
            {
                labelSets[key] = labelSet = merged.AddLabelSet([.. labels.Select(l => (merged.Intern(l.Key), merged.Intern(l.Value)))]);
            }
            merged.AddSample([.. sample.LocationId.Select(id => locations[id])], sample.Value[0], labelSet);
        }
        return merged;
    }

    private static Profile Labelled() => WithPeriod(new TestProfile()
        .Sample("main;a;b", 2, ("pod", "web-1"))
        .Sample("main;a;0x2000", 5, ("pod", "web-2"))
        .Sample("main;c", 1)
        .Sample("main;f@3000;g", 4, ("pod", "web-1"), ("comm", "app"))
        .Sample("main;f@4000;g", 3, ("pod", "web-2")));

    /// <summary>The period type the merge result takes from <see cref="s_type"/>, so that the pprof reports compare.</summary>
    private static Profile WithPeriod(TestProfile builder)
    {
        builder.Profile.PeriodType = new Kiln.Profiles.Pprof.ValueType { Type = builder.Str("cpu"), Unit = builder.Str("nanoseconds") };
        builder.Profile.Period = 52_631_578;
        return builder.Profile;
    }

    public static TheoryData<string> Options() => ["plain", "inverted", "trimmed", "by-label", "by-address", "stack-filter", "frame-filter"];

    private static ReportOptions OptionsNamed(string name) => name switch
    {
        "inverted" => new ReportOptions { InvertCallStack = true },
        "trimmed" => new ReportOptions { NodeTrimThreshold = 20 },
        "by-label" => new ReportOptions { GroupBy = ["function_name", "labels.pod"] },
        "by-address" => new ReportOptions { GroupBy = ["function_name", "location_address"] },
        "stack-filter" => new ReportOptions { Filters = [new Filter { StackFilter = new StackFilter { Criteria = new FilterCriteria { FunctionName = new StringCondition { Contains = "a" } } } }] },
        "frame-filter" => new ReportOptions { Filters = [new Filter { FrameFilter = new FrameFilter { Criteria = new FilterCriteria { FunctionName = new StringCondition { NotEqual = "main" } } } }] },
        _ => new ReportOptions(),
    };

    [Theory]
    [MemberData(nameof(Options))]
    public void Every_report_matches_the_pprof_path(string options)
    {
        var profile = Labelled();
        var merged = FromProfile(profile);
        foreach (var type in new[] { ReportType.FlamegraphArrow, ReportType.TableArrow, ReportType.Top, ReportType.Callgraph, ReportType.Pprof, ReportType.ProfileMetadata })
        {
            var expected = ReportBuilder.Build(type, profile, null, OptionsNamed(options));
            var actual = ReportBuilder.Build(type, merged, null, OptionsNamed(options));
            Assert.Equal(expected, actual);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Diff_matches_the_pprof_path(bool absolute)
    {
        var baseline = WithPeriod(new TestProfile().Sample("main;a;b", 5).Sample("main;c", 1));
        var compared = Labelled();
        var options = new ReportOptions { AbsoluteDiff = absolute };
        foreach (var type in new[] { ReportType.FlamegraphArrow, ReportType.TableArrow, ReportType.Top, ReportType.Pprof })
        {
            var expected = ReportBuilder.Build(type, compared, baseline, options);
            var actual = ReportBuilder.Build(type, FromProfile(compared), FromProfile(baseline), options);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void A_corpus_sized_merge_gives_the_same_flame_graph()
    {
        var profile = SyntheticMergedProfile.Build(services: 4, stacksPerService: 500, functionsPerService: 300);
        profile.DefaultSampleType = 0;
        var expected = ReportBuilder.Build(ReportType.FlamegraphArrow, profile, null, new ReportOptions());
        var actual = ReportBuilder.Build(ReportType.FlamegraphArrow, FromProfile(profile), null, new ReportOptions());
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void To_profile_round_trips_the_samples()
    {
        var profile = Labelled();
        var back = FromProfile(profile).ToProfile();
        Assert.Equal(FoldedStacks.ToFolded(profile), FoldedStacks.ToFolded(back));
        Assert.Equal("samples", back.StringTable[(int)back.SampleType[0].Type]);
        Assert.Equal(profile.Sample.Select(s => s.Label.Count), back.Sample.Select(s => s.Label.Count));
    }
}
