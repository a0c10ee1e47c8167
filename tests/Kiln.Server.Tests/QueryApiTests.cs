using System.Net.Http.Json;
using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Types;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Kiln.Api.ProfileStore;
using Kiln.Api.Query;
using static Kiln.Server.Tests.SyntheticData;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Server.Tests;

/// <summary>One real server holding the <see cref="SyntheticData"/> set, shared by every test of <see cref="QueryApiTests"/>.</summary>
public sealed class SyntheticServerFixture : IAsyncLifetime
{
    public KilnProcess Server { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public DateTimeOffset T0 { get; } = NewEpoch();

    public QueryService.QueryServiceClient Query => new(Channel);

    public async Task InitializeAsync()
    {
        Server = await KilnProcess.StartAsync();
        Channel = Server.GrpcChannel();
        await PushAllAsync(new ProfileStoreService.ProfileStoreServiceClient(Channel), T0);
    }

    public async Task DisposeAsync()
    {
        Channel?.Dispose();
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }
}

/// <summary>
/// The Parca QueryService as clients use it, against a real <c>kiln server</c> process over h2c (and gRPC-Web and
/// REST where Grafana and scripts use those). Every expected value is computed by hand from <see cref="SyntheticData"/>.
/// </summary>
public sealed class QueryApiTests(SyntheticServerFixture fixture) : IClassFixture<SyntheticServerFixture>
{
    private readonly QueryService.QueryServiceClient _query = fixture.Query;
    private readonly DateTimeOffset _t0 = fixture.T0;

    private Timestamp At(int seconds) => SyntheticData.At(_t0, seconds);

    [Fact]
    public async Task ProfileTypes_lists_every_stored_type_with_its_parts()
    {
        var response = await _query.ProfileTypesAsync(new ProfileTypesRequest());

        Assert.Equal([Memory, Cpu, Count], response.Types_.Select(Id).ToArray());
        var memory = response.Types_[0];
        Assert.Equal(("memory", "inuse_space", "bytes", "space", "bytes", false),
            (memory.Name, memory.SampleType, memory.SampleUnit, memory.PeriodType, memory.PeriodUnit, memory.Delta));
        var count = response.Types_[2];
        Assert.Equal(("synthetic", "samples", "count", "cpu", "nanoseconds", true),
            (count.Name, count.SampleType, count.SampleUnit, count.PeriodType, count.PeriodUnit, count.Delta));
    }

    [Fact]
    public async Task ProfileTypes_in_a_range_without_data_is_empty_and_in_a_range_with_some_lists_only_those()
    {
        var before = await _query.ProfileTypesAsync(new ProfileTypesRequest { Start = At(-7200), End = At(-3600) });
        Assert.Empty(before.Types_);

        // [25 s, 35 s] holds only S2's profile at 30 s; the memory profile (5 s) is outside it.
        var late = await _query.ProfileTypesAsync(new ProfileTypesRequest { Start = At(25), End = At(35) });
        Assert.Equal([Cpu, Count], late.Types_.Select(Id).ToArray());
    }

    [Fact]
    public async Task Labels_lists_label_names_filtered_by_matchers_and_profile_type()
    {
        Assert.Equal(["instance", "job", "zone"], (await _query.LabelsAsync(new LabelsRequest())).LabelNames);
        Assert.Equal(["instance", "job"], (await _query.LabelsAsync(new LabelsRequest { ProfileType = Memory })).LabelNames);
        Assert.Equal(["instance", "job", "zone"], (await _query.LabelsAsync(new LabelsRequest { Match = { "{job=\"db\"}" } })).LabelNames);
        Assert.Equal(["instance", "job"], (await _query.LabelsAsync(new LabelsRequest { Match = { "{job=\"api\"}" } })).LabelNames);
    }

    [Fact]
    public async Task Values_lists_label_values_filtered_by_matchers_and_profile_type()
    {
        Assert.Equal(["a", "b", "c"], (await _query.ValuesAsync(new ValuesRequest { LabelName = "instance" })).LabelValues);
        Assert.Equal(["api", "db"], (await _query.ValuesAsync(new ValuesRequest { LabelName = "job" })).LabelValues);
        Assert.Equal(["eu"], (await _query.ValuesAsync(new ValuesRequest { LabelName = "zone" })).LabelValues);
        Assert.Equal(["memory", "synthetic"], (await _query.ValuesAsync(new ValuesRequest { LabelName = "__name__" })).LabelValues);
        Assert.Equal(["api"], (await _query.ValuesAsync(new ValuesRequest { LabelName = "job", ProfileType = Memory })).LabelValues);
        Assert.Equal(["db"], (await _query.ValuesAsync(new ValuesRequest { LabelName = "job", Match = { "{instance=\"c\"}" } })).LabelValues);
        Assert.Empty((await _query.ValuesAsync(new ValuesRequest { LabelName = "nosuchlabel" })).LabelValues);
    }

    [Fact]
    public async Task Series_lists_every_matching_series_with_its_name()
    {
        var response = await _query.SeriesAsync(new SeriesRequest { Match = { "{job=\"api\"}" } });

        var series = response.Series.Select(s => string.Join(",", s.Labels.Select(l => $"{l.Name}={l.Value}"))).Order(StringComparer.Ordinal).ToArray();
        // S1 and S2 each have the two synthetic types; S1 also has the memory profile.
        Assert.Equal(
        [
            "__name__=memory,instance=a,job=api",
            "__name__=synthetic,instance=a,job=api",
            "__name__=synthetic,instance=a,job=api",
            "__name__=synthetic,instance=b,job=api",
            "__name__=synthetic,instance=b,job=api",
        ], series);
    }

    [Fact]
    public async Task HasProfileData_is_true_once_profiles_are_stored()
    {
        Assert.True((await _query.HasProfileDataAsync(new HasProfileDataRequest())).HasData);
    }

    [Fact]
    public async Task Agents_lists_the_client_that_pushed()
    {
        var agents = await new AgentsService.AgentsServiceClient(fixture.Channel).AgentsAsync(new AgentsRequest());

        var agent = Assert.Single(agents.Agents);
        Assert.StartsWith("127.0.0.1", agent.Id, StringComparison.Ordinal);
        Assert.Equal("", agent.LastError);
    }

    [Fact]
    public async Task QueryRange_without_step_gives_one_point_per_profile()
    {
        var response = await QueryRange($"{Count}{{job=\"api\"}}", 0, 60);

        Assert.Equal(["instance=a,job=api", "instance=b,job=api"], response.Series.Select(LabelText).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal([(0, 11L, 1), (10, 22L, 1), (20, 36L, 1)], Points(Series(response, "a")));
        Assert.Equal([(10, 110L, 1), (30, 220L, 1)], Points(Series(response, "b")));
        foreach (var sample in response.Series.SelectMany(s => s.Samples))
        {
            Assert.Equal(SyntheticData.Duration.Ticks * 100, sample.Duration);
            Assert.Equal(sample.Value / 10.0, sample.ValuePerSecond, 9);
        }
        var s1 = Series(response, "a");
        Assert.Equal(("samples", "count"), (s1.SampleType.Type, s1.SampleType.Unit));
        Assert.Equal(("cpu", "nanoseconds"), (s1.PeriodType.Type, s1.PeriodType.Unit));
    }

    [Fact]
    public async Task QueryRange_of_the_second_sample_type_reads_the_second_value()
    {
        var response = await QueryRange($"{Cpu}{{instance=\"c\"}}", 0, 60);

        var series = Assert.Single(response.Series);
        Assert.Equal([(20, 1100 * CpuPerSample, 1)], Points(series));
        Assert.Equal(("cpu", "nanoseconds"), (series.SampleType.Type, series.SampleType.Unit));
    }

    [Fact]
    public async Task QueryRange_only_counts_profiles_inside_the_range()
    {
        // [10 s, 20 s]: both ends inclusive, as Parca's time ranges are.
        var response = await QueryRange($"{Count}{{job=\"api\"}}", 10, 20);

        Assert.Equal([(10, 22L, 1), (20, 36L, 1)], Points(Series(response, "a")));
        Assert.Equal([(10, 110L, 1)], Points(Series(response, "b")));
    }

    [Fact]
    public async Task QueryRange_with_step_sums_profiles_into_buckets_from_the_start()
    {
        var response = await QueryRange($"{Count}{{job=\"api\"}}", 0, 59, step: TimeSpan.FromSeconds(20));

        Assert.Equal([(0, 33L, 2), (20, 36L, 1)], Points(Series(response, "a")));
        Assert.Equal([(0, 110L, 1), (20, 220L, 1)], Points(Series(response, "b")));
        // value_per_second divides by the step when there is one.
        Assert.Equal(33 / 20.0, Series(response, "a").Samples[0].ValuePerSecond, 9);
    }

    [Fact]
    public async Task QueryRange_steps_are_aligned_to_multiples_of_the_step_as_in_Parca()
    {
        // From 5 s (the test's epoch is on a whole minute): the profile at 0 is outside, the one at 10 is in the step at 0.
        var response = await QueryRange($"{Count}{{job=\"api\"}}", 5, 59, step: TimeSpan.FromSeconds(20));

        Assert.Equal([(0, 22L, 1), (20, 36L, 1)], Points(Series(response, "a")));
        Assert.Equal([(0, 110L, 1), (20, 220L, 1)], Points(Series(response, "b")));
    }

    [Fact]
    public async Task QueryRange_with_sum_by_adds_series_with_equal_labels()
    {
        var response = await QueryRange($"{Count}{{}}", 0, 59, step: TimeSpan.FromSeconds(20), sumBy: ["job"]);

        Assert.Equal(["job=api", "job=db"], response.Series.Select(LabelText).ToArray());
        Assert.Equal([(0, 11L + 22 + 110, 3), (20, 36L + 220, 2)], Points(response.Series[0]));
        Assert.Equal([(20, 1100L, 1)], Points(response.Series[1]));
    }

    [Theory]
    [InlineData(0, 1, false)]  // one point per profile: a has 3 profiles, too many
    [InlineData(0, 2, false)]
    [InlineData(1, 2, false)]  // a 1 s step: 60 steps, 3 of them with a profile of a, too many
    [InlineData(1, 3, true)]   // a 1 s step: 60 steps, but no series has more than 3 points, so the step stays
    public async Task QueryRange_with_limit_returns_at_most_limit_points_per_series_and_keeps_the_totals(int stepSeconds, uint limit, bool stepKept)
    {
        var step = stepSeconds > 0 ? TimeSpan.FromSeconds(stepSeconds) : (TimeSpan?)null;
        var response = await QueryRange($"{Count}{{job=\"api\"}}", 0, 60, step, limit: limit);

        foreach (var series in response.Series)
        {
            // A coarser step starts at a multiple of itself, which may be before the range.
            Assert.InRange(series.Samples.Count, 1, (int)limit);
            Assert.All(series.Samples, s => Assert.InRange(s.Timestamp.ToDateTimeOffset(), DateTimeOffset.UnixEpoch, _t0.AddSeconds(60)));
        }
        if (stepKept)
        {
            Assert.Equal([(0, 11L, 1), (10, 22L, 1), (20, 36L, 1)], Points(Series(response, "a")));
        }
        Assert.Equal(11 + 22 + 36, Series(response, "a").Samples.Sum(s => s.Value));
        Assert.Equal(3, Series(response, "a").Samples.Sum(s => s.Count));
        Assert.Equal(110 + 220, Series(response, "b").Samples.Sum(s => s.Value));
    }

    [Fact]
    public async Task QueryRange_with_the_largest_limit_keeps_a_point_per_profile()
    {
        var response = await QueryRange($"{Count}{{job=\"api\"}}", 0, 60, limit: uint.MaxValue);

        Assert.Equal([(0, 11L, 1), (10, 22L, 1), (20, 36L, 1)], Points(Series(response, "a")));
    }

    [Theory]
    [InlineData("job=\"api\"", "a,b", 11 + 22 + 36 + 110 + 220)]
    [InlineData("job!=\"api\"", "c", 1100)]
    [InlineData("instance=~\"a|c\"", "a,c", 11 + 22 + 36 + 1100)]
    [InlineData("instance!~\"a|c\"", "b", 110 + 220)]
    [InlineData("instance=~\"a|c\", job=\"api\"", "a", 11 + 22 + 36)]
    [InlineData("zone=\"\"", "a,b", 11 + 22 + 36 + 110 + 220)]
    [InlineData("job=~\"ap\"", "", 0)]
    public async Task Label_matchers_choose_series(string matchers, string instances, long total)
    {
        var response = await QueryRange($"{Count}{{{matchers}}}", 0, 60);

        Assert.Equal(instances, string.Join(",", response.Series.Select(s => s.Labelset.Labels.Single(l => l.Name == "instance").Value).Order(StringComparer.Ordinal)));
        Assert.Equal(total, response.Series.SelectMany(s => s.Samples).Sum(s => s.Value));

        // The same matchers choose the same samples for a merge.
        var merged = await _query.QueryAsync(Merge($"{Count}{{{matchers}}}", 0, 60, ReportType.Top));
        Assert.Equal(total, merged.Total);
    }

    [Fact]
    public async Task Query_merge_includes_exactly_the_profiles_in_range()
    {
        // [5 s, 25 s] holds S1 at 10 and 20 and S2 at 10: parse 18+30+100, gzip 4+6+10.
        var response = await _query.QueryAsync(Merge($"{Count}{{job=\"api\"}}", 5, 25, ReportType.Pprof));

        var profile = PprofRead.Decode(response.Pprof.Span);
        Assert.Equal(new Dictionary<string, long> { ["main;serve;parse"] = 148, ["main;serve;gzip"] = 20 }, PprofRead.Stacks(profile));
        Assert.Equal(168, response.Total);
        Assert.Equal(0, response.Filtered);
        var sampleType = Assert.Single(profile.SampleType);
        Assert.Equal(("samples", "count"), (profile.StringTable[(int)sampleType.Type], profile.StringTable[(int)sampleType.Unit]));
    }

    [Fact]
    public async Task Query_merge_of_everything_sums_every_profile_and_keeps_symbols()
    {
        var response = await _query.QueryAsync(Merge(Count, 0, 60, ReportType.Pprof));

        var profile = PprofRead.Decode(response.Pprof.Span);
        Assert.Equal(new Dictionary<string, long>
        {
            ["main;serve;parse"] = 10 + 18 + 30 + 100 + 200 + 1000,
            ["main;serve;gzip"] = 1 + 4 + 6 + 10 + 20 + 100,
        }, PprofRead.Stacks(profile));
        var mappings = profile.Mapping.Select(m => profile.StringTable[(int)m.Filename]).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["/lib/x86_64-linux-gnu/libz.so.1", "/usr/bin/app"], mappings);
        var gzip = profile.Location.Single(l => PprofRead.FunctionName(profile, l.Id) == "gzip");
        Assert.Equal("/lib/x86_64-linux-gnu/libz.so.1", profile.StringTable[(int)profile.Mapping.Single(m => m.Id == gzip.MappingId).Filename]);
    }

    [Fact]
    public async Task Query_merge_of_the_memory_type_reads_its_own_values()
    {
        var response = await _query.QueryAsync(Merge(Memory, 0, 60, ReportType.Pprof));

        var profile = PprofRead.Decode(response.Pprof.Span);
        Assert.Equal(new Dictionary<string, long> { ["main;serve;parse"] = 4096 }, PprofRead.Stacks(profile));
    }

    [Fact]
    public async Task Query_single_returns_the_one_profile_at_that_time()
    {
        var response = await _query.QueryAsync(new QueryRequest
        {
            Mode = QueryRequest.Types.Mode.SingleUnspecified,
            Single = new SingleProfile { Time = At(20), Query = $"{Count}{{instance=\"a\"}}" },
            ReportType = ReportType.Pprof,
        });

        Assert.Equal(new Dictionary<string, long> { ["main;serve;parse"] = 30, ["main;serve;gzip"] = 6 }, PprofRead.Stacks(PprofRead.Decode(response.Pprof.Span)));
        Assert.Equal(36, response.Total);
    }

    [Fact]
    public async Task Query_diff_absolute_subtracts_the_base_from_the_compared()
    {
        // a = S1 at 0 (parse 10, gzip 1); b = S1 at 20 (parse 30, gzip 6).
        var response = await _query.QueryAsync(Diff(Single($"{Count}{{instance=\"a\"}}", 0), Single($"{Count}{{instance=\"a\"}}", 20), absolute: true));

        var top = TopByName(response.Top);
        Assert.Equal((30L, 30L, 20L), (top["parse"].Flat, top["parse"].Cumulative, top["parse"].Diff));
        Assert.Equal((6L, 6L, 5L), (top["gzip"].Flat, top["gzip"].Cumulative, top["gzip"].Diff));
        Assert.Equal((0L, 36L, 25L), (top["serve"].Flat, top["serve"].Cumulative, top["serve"].Diff));
        Assert.Equal((0L, 36L, 25L), (top["main"].Flat, top["main"].Cumulative, top["main"].Diff));
        Assert.Equal(36, response.Total);
    }

    [Fact]
    public async Task Query_diff_relative_scales_the_smaller_side_to_the_larger_total()
    {
        // a = S1 at 0 (10, 1; total 11); b = S1 at 10 (18, 4; total 22): the base is scaled ×2 before subtracting.
        var response = await _query.QueryAsync(Diff(Single($"{Count}{{instance=\"a\"}}", 0), Single($"{Count}{{instance=\"a\"}}", 10), absolute: false));

        var top = TopByName(response.Top);
        Assert.Equal((18L, -2L), (top["parse"].Flat, top["parse"].Diff));
        Assert.Equal((4L, 2L), (top["gzip"].Flat, top["gzip"].Diff));
        Assert.Equal((22L, 0L), (top["main"].Cumulative, top["main"].Diff));
    }

    [Fact]
    public async Task Query_diff_of_two_merges_compares_time_ranges()
    {
        // a = everything of job=api in [0, 5] (S1@0: 10, 1); b = job=api in [25, 35] (S2@30: 200, 20).
        var a = new ProfileDiffSelection { Mode = ProfileDiffSelection.Types.Mode.Merge, Merge = new MergeProfile { Query = $"{Count}{{job=\"api\"}}", Start = At(0), End = At(5) } };
        var b = new ProfileDiffSelection { Mode = ProfileDiffSelection.Types.Mode.Merge, Merge = new MergeProfile { Query = $"{Count}{{job=\"api\"}}", Start = At(25), End = At(35) } };
        var response = await _query.QueryAsync(Diff(a, b, absolute: true));

        var top = TopByName(response.Top);
        Assert.Equal((200L, 190L), (top["parse"].Flat, top["parse"].Diff));
        Assert.Equal((20L, 19L), (top["gzip"].Flat, top["gzip"].Diff));
    }

    [Fact]
    public async Task Top_report_has_flat_and_cumulative_per_function()
    {
        var response = await _query.QueryAsync(Merge($"{Count}{{job=\"api\"}}", 5, 25, ReportType.Top));

        Assert.Equal("count", response.Top.Unit);
        Assert.Equal(4, response.Top.Reported);
        Assert.Equal(168, response.Total);
        // Sorted by flat, largest first.
        Assert.Equal(["parse", "gzip"], response.Top.List.Take(2).Select(n => n.Meta.Function.Name).ToArray());
        var top = TopByName(response.Top);
        Assert.Equal((148L, 148L), (top["parse"].Flat, top["parse"].Cumulative));
        Assert.Equal((20L, 20L), (top["gzip"].Flat, top["gzip"].Cumulative));
        Assert.Equal((0L, 168L), (top["serve"].Flat, top["serve"].Cumulative));
        Assert.Equal((0L, 168L), (top["main"].Flat, top["main"].Cumulative));
        Assert.Equal("/lib/x86_64-linux-gnu/libz.so.1", top["gzip"].Meta.Mapping.File);
        Assert.Equal("/usr/bin/app", top["parse"].Meta.Mapping.File);
    }

    [Fact]
    public async Task Callgraph_report_has_nodes_and_weighted_edges()
    {
        var response = await _query.QueryAsync(Merge($"{Count}{{job=\"api\"}}", 5, 25, ReportType.Callgraph));

        var graph = response.Callgraph;
        var nameOf = graph.Nodes.ToDictionary(n => n.Id, n => n.Meta.Function.Name);
        var nodes = graph.Nodes.ToDictionary(n => n.Meta.Function.Name, n => (n.Flat, n.Cumulative));
        Assert.Equal(new Dictionary<string, (long, long)>
        {
            ["main"] = (0, 168),
            ["serve"] = (0, 168),
            ["parse"] = (148, 148),
            ["gzip"] = (20, 20),
        }, nodes);
        var edges = graph.Edges.Select(e => $"{nameOf[e.Source]}->{nameOf[e.Target]}={e.Cumulative}").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["main->serve=168", "serve->gzip=20", "serve->parse=148"], edges);
    }

    [Fact]
    public async Task TableArrow_report_has_one_row_per_function()
    {
        var response = await _query.QueryAsync(Merge($"{Count}{{job=\"api\"}}", 5, 25, ReportType.TableArrow));

        Assert.Equal("count", response.TableArrow.Unit);
        var table = new ArrowRecord(response.TableArrow.Record.ToByteArray());
        Assert.Equal(4, table.Rows);
        var rows = Enumerable.Range(0, table.Rows).ToDictionary(r => table.Str("function_name", r)!, r => (table.Num("flat", r), table.Num("cumulative", r)));
        Assert.Equal(new Dictionary<string, (long?, long?)>
        {
            ["main"] = (0, 168),
            ["serve"] = (0, 168),
            ["parse"] = (148, 148),
            ["gzip"] = (20, 20),
        }, rows);
        Assert.Equal("/lib/x86_64-linux-gnu/libz.so.1", table.Str("mapping_file", table.RowsOf("gzip").Single()));
    }

    [Fact]
    public async Task ProfileMetadata_report_lists_the_mapping_files()
    {
        var response = await _query.QueryAsync(Merge($"{Count}{{job=\"api\"}}", 5, 25, ReportType.ProfileMetadata));

        Assert.Equal(["/lib/x86_64-linux-gnu/libz.so.1", "/usr/bin/app"], response.ProfileMetadata.MappingFiles);
    }

    [Fact]
    public async Task FlamegraphArrow_report_has_the_column_types_Grafana_requires_and_exact_values()
    {
        var response = await _query.QueryAsync(Merge($"{Count}{{job=\"api\"}}", 5, 25, ReportType.FlamegraphArrow));

        AssertFlamegraph(response, total: 168, parse: 148, gzip: 20);
    }

    [Fact]
    public async Task GrpcWeb_over_http1_answers_what_Grafana_asks()
    {
        using var channel = fixture.Server.GrpcWebChannel();
        var web = new QueryService.QueryServiceClient(channel);

        var types = await web.ProfileTypesAsync(new ProfileTypesRequest());
        Assert.Equal([Memory, Cpu, Count], types.Types_.Select(Id).ToArray());

        var values = await web.ValuesAsync(new ValuesRequest { LabelName = "job" });
        Assert.Equal(["api", "db"], values.LabelValues);

        var range = await web.QueryRangeAsync(new QueryRangeRequest { Query = $"{Count}{{instance=\"b\"}}", Start = At(0), End = At(60), Limit = 100 });
        Assert.Equal([(10, 110L, 1), (30, 220L, 1)], Points(Assert.Single(range.Series)));

        var flamegraph = await web.QueryAsync(Merge($"{Count}{{job=\"api\"}}", 5, 25, ReportType.FlamegraphArrow));
        AssertFlamegraph(flamegraph, total: 168, parse: 148, gzip: 20);
    }

    [Fact]
    public async Task Rest_gateway_serves_profile_types_and_labels_as_json()
    {
        using var http = fixture.Server.HttpClient();

        using var types = await http.GetFromJsonAsync<JsonDocument>("/api/profiles/types");
        var ids = types!.RootElement.GetProperty("types").EnumerateArray()
            .Select(t => $"{t.GetProperty("name").GetString()}:{t.GetProperty("sampleType").GetString()}:{t.GetProperty("sampleUnit").GetString()}:{t.GetProperty("periodType").GetString()}:{t.GetProperty("periodUnit").GetString()}{(t.TryGetProperty("delta", out var d) && d.GetBoolean() ? ":delta" : "")}")
            .ToArray();
        Assert.Equal([Memory, Cpu, Count], ids);

        using var labels = await http.GetFromJsonAsync<JsonDocument>("/api/profiles/labels");
        Assert.Equal(["instance", "job", "zone"], labels!.RootElement.GetProperty("labelNames").EnumerateArray().Select(e => e.GetString()!).ToArray());
    }

    [Fact]
    public async Task Rest_gateway_answers_QueryRange_with_the_same_series_as_gRPC()
    {
        using var http = fixture.Server.HttpClient();
        var request = new QueryRangeRequest { Query = $"{Count}{{job=\"api\"}}", Start = At(0), End = At(60), Step = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(20)) };

        var json = await http.GetStringAsync($"/api/profiles/query_range?query={Uri.EscapeDataString(request.Query)}" +
            $"&start={Rfc3339(request.Start)}&end={Rfc3339(request.End)}&step=20s");
        var grpc = await _query.QueryRangeAsync(request);

        Assert.NotEmpty(grpc.Series);
        Assert.Equal(grpc, Google.Protobuf.JsonParser.Default.Parse<QueryRangeResponse>(json));
    }

    private static string Rfc3339(Timestamp t) => t.ToDateTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Query_of_an_empty_range_returns_an_empty_profile_not_an_error()
    {
        var response = await _query.QueryAsync(Merge($"{Count}{{job=\"api\"}}", -600, -300, ReportType.Top));

        Assert.Equal(0, response.Total);
        Assert.Empty(response.Top.List);
    }

    private static void AssertFlamegraph(QueryResponse response, long total, long parse, long gzip)
    {
        Assert.Equal(QueryResponse.ReportOneofCase.FlamegraphArrow, response.ReportCase);
        Assert.Equal("count", response.FlamegraphArrow.Unit);
        Assert.Equal(total, response.Total);
        var record = new ArrowRecord(response.FlamegraphArrow.Record.ToByteArray());

        // The exact types Grafana's Parca data source asserts (anything else panics the plugin).
        var children = Assert.IsType<ListType>(record.Field("children").DataType);
        Assert.Equal(ArrowTypeId.UInt32, children.ValueDataType.TypeId);
        Assert.Contains(record.Field("cumulative").DataType.TypeId, new[] { ArrowTypeId.UInt8, ArrowTypeId.UInt16, ArrowTypeId.UInt32, ArrowTypeId.UInt64 });
        foreach (var column in new[] { "mapping_file", "function_name" })
        {
            var dictionary = Assert.IsType<DictionaryType>(record.Field(column).DataType);
            Assert.Equal(ArrowTypeId.Binary, dictionary.ValueType.TypeId);
            Assert.IsType<DictionaryArray>(record.Column(column));
        }
        Assert.Equal(ArrowTypeId.UInt64, record.Field("location_address").DataType.TypeId);

        // Row 0 is the root and holds the total; main is its only child, serve main's, and parse and gzip serve's.
        Assert.Equal(total, record.Num("cumulative", 0));
        Assert.Equal(4 + 1, record.Rows);
        var main = record.RowsOf("main").Single();
        Assert.Equal([main], record.List("children", 0));
        var serve = record.RowsOf("serve").Single();
        Assert.Equal([serve], record.List("children", main));
        var parseRow = record.RowsOf("parse").Single();
        var gzipRow = record.RowsOf("gzip").Single();
        Assert.Equal(new[] { gzipRow, parseRow }.Order().ToArray(), record.List("children", serve).Select(x => (int)x).Order().ToArray());
        Assert.Equal((total, total, parse, gzip), (record.Num("cumulative", main), record.Num("cumulative", serve), record.Num("cumulative", parseRow), record.Num("cumulative", gzipRow)));
        Assert.Equal((parse, gzip), (record.Num("flat", parseRow), record.Num("flat", gzipRow)));
        Assert.Equal("/usr/bin/app", record.Str("mapping_file", parseRow));
        Assert.Equal("/lib/x86_64-linux-gnu/libz.so.1", record.Str("mapping_file", gzipRow));
        Assert.NotEqual(0L, (long)((UInt64Array)record.Column("location_address")).GetValue(parseRow)!.Value);
    }

    private async Task<QueryRangeResponse> QueryRange(string query, int fromSeconds, int toSeconds, TimeSpan? step = null, string[]? sumBy = null, uint limit = 0)
    {
        var request = new QueryRangeRequest { Query = query, Start = At(fromSeconds), End = At(toSeconds), Limit = limit };
        if (step is { } s)
        {
            request.Step = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(s);
        }
        request.SumBy.AddRange(sumBy ?? []);
        return await _query.QueryRangeAsync(request);
    }

    private QueryRequest Merge(string query, int fromSeconds, int toSeconds, ReportType report) => new()
    {
        Mode = QueryRequest.Types.Mode.Merge,
        Merge = new MergeProfile { Query = query, Start = At(fromSeconds), End = At(toSeconds) },
        ReportType = report,
    };

    private ProfileDiffSelection Single(string query, int seconds) => new()
    {
        Mode = ProfileDiffSelection.Types.Mode.SingleUnspecified,
        Single = new SingleProfile { Query = query, Time = At(seconds) },
    };

    private static QueryRequest Diff(ProfileDiffSelection a, ProfileDiffSelection b, bool absolute) => new()
    {
        Mode = QueryRequest.Types.Mode.Diff,
        Diff = new DiffProfile { A = a, B = b, Absolute = absolute },
        ReportType = ReportType.Top,
    };

    private static Dictionary<string, TopNode> TopByName(Top top) => top.List.ToDictionary(n => n.Meta.Function.Name);

    private static string Id(Kiln.Api.Query.ProfileType t) => $"{t.Name}:{t.SampleType}:{t.SampleUnit}:{t.PeriodType}:{t.PeriodUnit}{(t.Delta ? ":delta" : "")}";

    private static string LabelText(MetricsSeries s) => string.Join(",", s.Labelset.Labels.Select(l => $"{l.Name}={l.Value}"));

    private static MetricsSeries Series(QueryRangeResponse response, string instance) =>
        response.Series.Single(s => s.Labelset.Labels.Any(l => l.Name == "instance" && l.Value == instance));

    private (int Seconds, long Value, int Count)[] Points(MetricsSeries series) =>
        series.Samples.Select(s => ((int)(s.Timestamp.ToDateTimeOffset() - _t0).TotalSeconds, s.Value, s.Count)).ToArray();
}
