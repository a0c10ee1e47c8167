using Kiln.Api.ProfileStore;
using Kiln.Api.Query;
using static Kiln.Server.Tests.SyntheticData;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Server.Tests;

/// <summary>
/// An acknowledged WriteRaw is durable: it survives SIGKILL right after the acknowledgement and a graceful SIGTERM,
/// and a restarted server on the same --data-dir serves all of it.
/// </summary>
public sealed class DurabilityTests : IDisposable
{
    private const int Profiles = 24;

    private readonly string _dataDirectory = KilnProcess.CreateTempDirectory("kiln-durable-");
    private readonly DateTimeOffset _t0 = NewEpoch();

    public void Dispose() => KilnProcess.TryDeleteDirectory(_dataDirectory);

    [Fact]
    public async Task Every_acknowledged_profile_survives_sigkill_right_after_the_last_ack()
    {
        await using (var server = await KilnProcess.StartAsync(_dataDirectory))
        {
            using var channel = server.GrpcChannel();
            Assert.False((await new QueryService.QueryServiceClient(channel).HasProfileDataAsync(new HasProfileDataRequest())).HasData);
            await PushAsync(new ProfileStoreService.ProfileStoreServiceClient(channel));
            server.Kill();
            Assert.NotEqual(0, server.ExitCode);
        }

        await using var restarted = await KilnProcess.StartAsync(_dataDirectory);
        await AssertAllThereAsync(restarted);
    }

    [Fact]
    public async Task Sigterm_stops_gracefully_and_the_data_is_there_after_restart()
    {
        await using (var server = await KilnProcess.StartAsync(_dataDirectory))
        {
            using var channel = server.GrpcChannel();
            await PushAsync(new ProfileStoreService.ProfileStoreServiceClient(channel));
            var exitCode = await server.StopAsync();
            Assert.True(exitCode == 0, $"kiln server exited with {exitCode} on SIGTERM\n{server.Output}");
        }

        await using var restarted = await KilnProcess.StartAsync(_dataDirectory);
        await AssertAllThereAsync(restarted);
    }

    [Fact]
    public async Task A_retried_write_is_stored_once_even_across_a_restart()
    {
        await using (var server = await KilnProcess.StartAsync(_dataDirectory))
        {
            using var channel = server.GrpcChannel();
            var client = new ProfileStoreService.ProfileStoreServiceClient(channel);
            await PushAsync(client);
            // An agent whose acknowledgement was lost sends the same request again.
            await PushAsync(client);
            server.Kill();
        }

        await using var restarted = await KilnProcess.StartAsync(_dataDirectory);
        using (var channel = restarted.GrpcChannel())
        {
            await PushAsync(new ProfileStoreService.ProfileStoreServiceClient(channel));
        }
        await AssertAllThereAsync(restarted);
    }

    /// <summary>Profile i (at t0 + i s, instance i % 2) holds parse = i + 1 and gzip = 2(i + 1).</summary>
    private static (long Parse, long Gzip) ValuesOf(int i) => (i + 1, 2 * (i + 1));

    private static string InstanceOf(int i) => i % 2 == 0 ? "even" : "odd";

    private async Task PushAsync(ProfileStoreService.ProfileStoreServiceClient client)
    {
        WriteRawRequest RequestOf(int i) =>
            Request("synthetic", [("instance", InstanceOf(i)), ("job", "durable")], CpuProfile(_t0.AddSeconds(i), ValuesOf(i).Parse, ValuesOf(i).Gzip));

        // Half one after another, half at once (several writes in one group commit); every one acknowledged.
        for (var i = 0; i < Profiles / 2; i++)
        {
            await client.WriteRawAsync(RequestOf(i));
        }
        await Task.WhenAll(Enumerable.Range(Profiles / 2, Profiles / 2).Select(i => client.WriteRawAsync(RequestOf(i)).ResponseAsync));
    }

    private async Task AssertAllThereAsync(KilnProcess server)
    {
        using var channel = server.GrpcChannel();
        var query = new QueryService.QueryServiceClient(channel);

        var range = await query.QueryRangeAsync(new QueryRangeRequest
        {
            Query = $"{Count}{{job=\"durable\"}}",
            Start = At(_t0, 0),
            End = At(_t0, Profiles),
            Limit = 1000,
        });
        foreach (var instance in new[] { "even", "odd" })
        {
            var series = range.Series.Single(s => s.Labelset.Labels.Any(l => l.Name == "instance" && l.Value == instance));
            var expected = Enumerable.Range(0, Profiles).Where(i => InstanceOf(i) == instance).Select(i => (i, ValuesOf(i).Parse + ValuesOf(i).Gzip)).ToArray();
            var actual = series.Samples.Select(s => ((int)(s.Timestamp.ToDateTimeOffset() - _t0).TotalSeconds, s.Value)).ToArray();
            Assert.Equal(expected, actual);
        }

        var merge = await query.QueryAsync(new QueryRequest
        {
            Mode = QueryRequest.Types.Mode.Merge,
            Merge = new MergeProfile { Query = $"{Count}{{job=\"durable\"}}", Start = At(_t0, 0), End = At(_t0, Profiles) },
            ReportType = ReportType.Pprof,
        });
        var parse = Enumerable.Range(0, Profiles).Sum(i => ValuesOf(i).Parse);
        var gzip = Enumerable.Range(0, Profiles).Sum(i => ValuesOf(i).Gzip);
        Assert.Equal(new Dictionary<string, long> { ["main;serve;parse"] = parse, ["main;serve;gzip"] = gzip }, PprofRead.Stacks(PprofRead.Decode(merge.Pprof.Span)));

        var cpu = await query.QueryAsync(new QueryRequest
        {
            Mode = QueryRequest.Types.Mode.Merge,
            Merge = new MergeProfile { Query = $"{Cpu}{{job=\"durable\"}}", Start = At(_t0, 0), End = At(_t0, Profiles) },
            ReportType = ReportType.Top,
        });
        Assert.Equal((parse + gzip) * CpuPerSample, cpu.Total);
    }
}
