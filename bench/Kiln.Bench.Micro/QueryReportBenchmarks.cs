using BenchmarkDotNet.Attributes;
using Kiln.Api.Query;
using Kiln.Profiles.Pprof;
using Kiln.Query;
using Kiln.Query.Testing;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Bench.Micro;

/// <summary>
/// Reports over a merged profile shaped like a one-minute MERGE of the whole bench corpus (~60k stacks of depth
/// 20–60 over 30k functions; the flame graph tree has ~1M nodes).
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class QueryReportBenchmarks
{
    private Profile _profile = null!;
    private readonly ReportOptions _options = new();

    [GlobalSetup]
    public void Setup() => _profile = SyntheticMergedProfile.Build();

    [Benchmark]
    public QueryResponse FlamegraphArrow() => ReportBuilder.Build(ReportType.FlamegraphArrow, _profile, null, _options);

    [Benchmark]
    public QueryResponse Top() => ReportBuilder.Build(ReportType.Top, _profile, null, _options);

    [Benchmark]
    public QueryResponse TableArrow() => ReportBuilder.Build(ReportType.TableArrow, _profile, null, _options);

    /// <summary>The conversion every report starts with: pprof → <see cref="StackSet"/>.</summary>
    [Benchmark]
    public int StackSetFromProfile()
    {
        var set = new StackSet();
        set.Add(_profile, 0, baseline: false, valueScale: 1, diffScale: 0);
        return set.SampleCount;
    }
}
