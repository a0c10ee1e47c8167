using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Kiln.Api.ProfileStore;
using Kiln.Api.Query;
using static Kiln.Server.Tests.SyntheticData;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Server.Tests;

/// <summary>
/// A real server started with <c>--max-request-bytes 100000</c> holding one known profile (S1 at t=0: parse 10, gzip 1),
/// which every bad-input test checks is still there and still served afterwards.
/// </summary>
public sealed class SmallLimitServerFixture : IAsyncLifetime
{
    public const int MaxRequestBytes = 100_000;

    public KilnProcess Server { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public DateTimeOffset T0 { get; } = NewEpoch();

    public async Task InitializeAsync()
    {
        Server = await KilnProcess.StartAsync(null, "--max-request-bytes", MaxRequestBytes.ToString(CultureInfo.InvariantCulture));
        Channel = Server.GrpcChannel();
        await new ProfileStoreService.ProfileStoreServiceClient(Channel).WriteRawAsync(Request("synthetic", LabelsOf("a"), CpuProfile(T0, 10, 1)));
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
/// Bad input is refused with the right status and a message naming the problem; the server keeps serving and keeps
/// what it had. Also the CLI's exit codes and messages, and the Prometheus metrics that count all of this.
/// </summary>
public sealed class BadInputTests(SmallLimitServerFixture fixture) : IClassFixture<SmallLimitServerFixture>
{
    private readonly ProfileStoreService.ProfileStoreServiceClient _store = new(fixture.Channel);
    private readonly QueryService.QueryServiceClient _query = new(fixture.Channel);

    [Fact]
    public async Task Truncated_protobuf_is_refused_as_invalid_argument_naming_the_field()
    {
        var raw = new PprofBuilder([("samples", "count")], ("cpu", "nanoseconds"), CpuPerSample, fixture.T0, Duration).Sample([5], ParseStack).Raw();
        // The last field is period (a 4-byte varint); cutting 2 bytes leaves half a varint.
        var truncated = raw[..^2];

        var e = await Assert.ThrowsAsync<RpcException>(() => _store.WriteRawAsync(Request("synthetic", LabelsOf("a"), truncated)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("series[0].samples[0].raw_profile", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("truncated", e.Status.Detail, StringComparison.Ordinal);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task A_request_that_is_not_a_WriteRawRequest_is_refused_naming_the_byte()
    {
        // A well-formed request cut off inside its first series: the envelope itself is broken, not a profile in it.
        var whole = Request("synthetic", LabelsOf("a"), CpuProfile(fixture.T0.AddSeconds(2), 5, 5)).ToByteArray();
        var cut = whole[..(whole.Length / 2)];
        var rawWriteRaw = new Method<byte[], byte[]>(MethodType.Unary, ProfileStoreService.Descriptor.FullName, "WriteRaw",
            Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));

        var e = await Assert.ThrowsAsync<RpcException>(() => fixture.Channel.CreateCallInvoker().AsyncUnaryCall(rawWriteRaw, null, new CallOptions(), cut).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("not a valid parca.profilestore.v1alpha1.WriteRawRequest", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains($"of {cut.Length}", e.Status.Detail, StringComparison.Ordinal);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Corrupt_gzip_is_refused_as_invalid_argument_naming_gzip()
    {
        // A gzip header followed by a deflate block of the reserved type 3.
        byte[] corrupt = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

        var e = await Assert.ThrowsAsync<RpcException>(() => _store.WriteRawAsync(Request("synthetic", LabelsOf("a"), corrupt)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("series[0].samples[0].raw_profile", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("gzip", e.Status.Detail, StringComparison.Ordinal);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Out_of_range_string_index_is_refused_naming_the_field_and_index()
    {
        var profile = new PprofBuilder([("samples", "count")], ("cpu", "nanoseconds"), CpuPerSample, fixture.T0, Duration).Sample([5], ParseStack).Build();
        profile.Function[0].Name = 99;

        var e = await Assert.ThrowsAsync<RpcException>(() => _store.WriteRawAsync(Request("synthetic", LabelsOf("a"), profile.ToByteArray())).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("function[0].name", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("99", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("string_table", e.Status.Detail, StringComparison.Ordinal);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Series_without_name_is_refused_naming_the_label()
    {
        var request = Request("synthetic", LabelsOf("a"), CpuProfile(fixture.T0, 5, 5));
        request.Series[0].Labels.Labels.RemoveAt(0);

        var e = await Assert.ThrowsAsync<RpcException>(() => _store.WriteRawAsync(request).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("__name__", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("series[0]", e.Status.Detail, StringComparison.Ordinal);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task A_bad_series_refuses_the_whole_request_and_stores_none_of_it()
    {
        // series[0] is fine, series[1] is corrupt: nothing of the request may be stored.
        var request = Request("synthetic", LabelsOf("a"), CpuProfile(fixture.T0.AddSeconds(1), 7777, 7777));
        request.Series.Add(Request("synthetic", LabelsOf("b"), [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0xff, 0xff]).Series[0]);

        var e = await Assert.ThrowsAsync<RpcException>(() => _store.WriteRawAsync(request).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("series[1]", e.Status.Detail, StringComparison.Ordinal);
        var range = await _query.QueryRangeAsync(new QueryRangeRequest { Query = $"{Count}{{instance=~\"a|b\"}}", Start = At(fixture.T0, -60), End = At(fixture.T0, 60) });
        var only = Assert.Single(range.Series);
        Assert.Equal([11L], only.Samples.Select(p => p.Value).ToArray());
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Bad_selector_is_refused_as_invalid_argument_with_the_position()
    {
        var query = $"{Count}{{job~\"api\"}}";
        var position = query.IndexOf('~', StringComparison.Ordinal);

        var merge = await Assert.ThrowsAsync<RpcException>(() => _query.QueryAsync(new QueryRequest
        {
            Mode = QueryRequest.Types.Mode.Merge,
            Merge = new MergeProfile { Query = query, Start = At(fixture.T0, -60), End = At(fixture.T0, 60) },
            ReportType = ReportType.Top,
        }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, merge.StatusCode);
        Assert.Contains($"position {position}", merge.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("merge.query", merge.Status.Detail, StringComparison.Ordinal);

        var range = await Assert.ThrowsAsync<RpcException>(() => _query.QueryRangeAsync(new QueryRangeRequest { Query = query, Start = At(fixture.T0, -60), End = At(fixture.T0, 60) }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, range.StatusCode);
        Assert.Contains($"position {position}", range.Status.Detail, StringComparison.Ordinal);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Unknown_profile_type_is_not_found_and_names_the_type()
    {
        const string unknown = "nosuch:samples:count:cpu:nanoseconds:delta";

        var e = await Assert.ThrowsAsync<RpcException>(() => _query.QueryRangeAsync(new QueryRangeRequest
        {
            Query = unknown + "{}",
            Start = At(fixture.T0, -60),
            End = At(fixture.T0, 60),
        }).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Contains($"unknown profile type '{unknown}'", e.Status.Detail, StringComparison.Ordinal);
        // It says what is known, so the caller can fix the query.
        Assert.Contains(Count, e.Status.Detail, StringComparison.Ordinal);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Request_over_max_request_bytes_is_resource_exhausted()
    {
        var big = new byte[SmallLimitServerFixture.MaxRequestBytes * 10];
        new Random(42).NextBytes(big);

        var e = await Assert.ThrowsAsync<RpcException>(() => _store.WriteRawAsync(Request("synthetic", LabelsOf("a"), big)).ResponseAsync);

        Assert.True(e.StatusCode == StatusCode.ResourceExhausted, $"{e.StatusCode}: {e.Status.Detail} {e.Status.DebugException}\n{fixture.Server.Output}");
        Assert.Matches("(?i)exceeds|too large|size", e.Status.Detail);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Cli_push_to_an_unreachable_address_exits_1_saying_it_cannot_reach_the_server()
    {
        var file = Path.Combine(Path.GetTempPath(), $"kiln-push-{Guid.NewGuid():N}.pb.gz");
        await File.WriteAllBytesAsync(file, CpuProfile(fixture.T0, 1, 1));
        try
        {
            var address = $"http://127.0.0.1:{KilnProcess.FreePort()}";
            var push = await ExternalProcess.KilnAsync("push", file, "--label", "job=x", "--address", address);

            Assert.True(push.ExitCode == 1, push.ToString());
            Assert.Contains("cannot reach", push.Stderr, StringComparison.Ordinal);
            Assert.Contains(address, push.Stderr, StringComparison.Ordinal);

            var query = await ExternalProcess.KilnAsync("query", Count, "--address", address);
            Assert.True(query.ExitCode == 1, query.ToString());
            Assert.Contains("cannot reach", query.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Cli_push_of_a_file_that_is_not_pprof_exits_2_naming_the_file()
    {
        var file = Path.Combine(Path.GetTempPath(), $"kiln-not-pprof-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(file, "this is not a profile\n");
        try
        {
            var push = await ExternalProcess.KilnAsync("push", file, "--address", fixture.Server.Address);

            Assert.True(push.ExitCode == 2, push.ToString());
            Assert.Contains(file, push.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
        await AssertStillServingAsync();
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("1025")]
    public async Task Cli_server_with_store_threads_out_of_range_exits_2_naming_the_flag(string threads)
    {
        var dataDirectory = KilnProcess.CreateTempDirectory("kiln-threads-");
        try
        {
            var server = await ExternalProcess.KilnAsync("server", "--store-threads", threads, "--data-dir", dataDirectory,
                "--http-address", $"127.0.0.1:{KilnProcess.FreePort()}");

            Assert.True(server.ExitCode == 2, server.ToString());
            Assert.Contains($"--store-threads {threads} is outside [0, 1024]", server.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            KilnProcess.TryDeleteDirectory(dataDirectory);
        }
    }

    [Fact]
    public async Task Cli_query_of_an_unknown_type_exits_1_with_the_servers_message()
    {
        var query = await ExternalProcess.KilnAsync("query", "nosuch:samples:count:cpu:nanoseconds:delta", "--address", fixture.Server.Address);

        Assert.True(query.ExitCode == 1, query.ToString());
        Assert.Contains("unknown profile type", query.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_count_ingest_rejections_queries_and_store_size()
    {
        using var http = fixture.Server.HttpClient();
        var before = PrometheusText.Parse(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)));

        // Two sample types × two non-zero samples: 2 profiles, 4 sample rows.
        await _store.WriteRawAsync(Request("synthetic", [("instance", "m"), ("job", "metrics")], CpuProfile(fixture.T0.AddSeconds(2), 3, 4)));
        var missingName = Request("synthetic", LabelsOf("a"), CpuProfile(fixture.T0, 1, 1));
        missingName.Series[0].Labels.Labels.RemoveAt(0);
        await Assert.ThrowsAsync<RpcException>(() => _store.WriteRawAsync(missingName).ResponseAsync);
        await _query.QueryAsync(new QueryRequest
        {
            Mode = QueryRequest.Types.Mode.Merge,
            Merge = new MergeProfile { Query = $"{Count}{{job=\"metrics\"}}", Start = At(fixture.T0, 0), End = At(fixture.T0, 10) },
            ReportType = ReportType.Top,
        });

        var after = PrometheusText.Parse(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)));
        Assert.Equal(2, after.Get("kiln_ingested_profiles_total") - before.Get("kiln_ingested_profiles_total"));
        Assert.Equal(4, after.Get("kiln_ingested_samples_total") - before.Get("kiln_ingested_samples_total"));
        Assert.Equal(1, after.Get("kiln_rejected_requests_total{reason=\"missing_name\"}") - before.Get("kiln_rejected_requests_total{reason=\"missing_name\"}"));
        Assert.Equal(1, after.Get("kiln_query_duration_seconds_count{rpc=\"Query\"}") - before.Get("kiln_query_duration_seconds_count{rpc=\"Query\"}"));
        Assert.True(after.Has("kiln_query_duration_seconds_bucket{rpc=\"Query\",le=\"+Inf\"}"), "kiln_query_duration_seconds has no +Inf bucket for Query");
        Assert.True(after.Get("kiln_store_size_bytes") > 0, "kiln_store_size_bytes is not positive after writes");
        Assert.True(after.Get("kiln_store_commits_total") - before.Get("kiln_store_commits_total") >= 1, "kiln_store_commits_total did not count the write's commit");
        // A server this young may not have collected yet: the counter is there, and never negative.
        Assert.True(after.Has("kiln_gc_pause_seconds_total") && after.Get("kiln_gc_pause_seconds_total") >= before.Get("kiln_gc_pause_seconds_total"),
            "kiln_gc_pause_seconds_total is missing or went down");
    }

    /// <summary>The server still answers a valid query, and the profile stored at the start is intact.</summary>
    private async Task AssertStillServingAsync()
    {
        var response = await _query.QueryAsync(new QueryRequest
        {
            Mode = QueryRequest.Types.Mode.Merge,
            Merge = new MergeProfile { Query = $"{Count}{{instance=\"a\"}}", Start = At(fixture.T0, -60), End = At(fixture.T0, 0) },
            ReportType = ReportType.Pprof,
        });
        Assert.Equal(new Dictionary<string, long> { ["main;serve;parse"] = 10, ["main;serve;gzip"] = 1 }, PprofRead.Stacks(PprofRead.Decode(response.Pprof.Span)));
        Assert.False(fixture.Server.HasExited, fixture.Server.Output);
    }
}

/// <summary>The Prometheus text exposition format, read into "name{labels}" → value.</summary>
public sealed class PrometheusText
{
    private readonly Dictionary<string, double> _values = new(StringComparer.Ordinal);

    public static PrometheusText Parse(string text)
    {
        var result = new PrometheusText();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var space = line.LastIndexOf(' ');
            result._values[line[..space]] = double.Parse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        return result;
    }

    public bool Has(string series) => _values.ContainsKey(series);

    /// <summary>The value, 0 when the series is absent (a labelled counter appears on first use).</summary>
    public double Get(string series) => _values.GetValueOrDefault(series);
}
