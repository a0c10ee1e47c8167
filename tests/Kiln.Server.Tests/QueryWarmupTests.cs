using Kiln.Api.ProfileStore;
using static Kiln.Server.Tests.SyntheticData;

namespace Kiln.Server.Tests;

/// <summary>
/// A server started on a data directory that holds profiles runs the web UI's first queries once (QueryWarmup) before
/// /readyz says ready, and does not count them as users' queries in /metrics.
/// </summary>
public sealed class QueryWarmupTests : IDisposable
{
    // A hang guard, not a speed assertion.
    private static readonly TimeSpan s_readyDeadline = TimeSpan.FromMinutes(2);

    private readonly string _dataDirectory = KilnProcess.CreateTempDirectory("kiln-warmup-");

    public void Dispose() => KilnProcess.TryDeleteDirectory(_dataDirectory);

    [Fact]
    public async Task A_restarted_server_warms_its_query_paths_before_it_is_ready_and_counts_no_query()
    {
        var t0 = NewEpoch();
        await using (var server = await KilnProcess.StartAsync(_dataDirectory))
        {
            using var channel = server.GrpcChannel();
            var client = new ProfileStoreService.ProfileStoreServiceClient(channel);
            for (var i = 0; i < 3; i++)
            {
                await client.WriteRawAsync(Request("synthetic", [("instance", "a"), ("job", "warm")], CpuProfile(t0.AddSeconds(10 * i), 2, 3)));
            }
            Assert.Equal(0, await server.StopAsync());
        }

        await using var restarted = await KilnProcess.StartAsync(_dataDirectory);
        using var http = restarted.HttpClient();
        using var deadline = new CancellationTokenSource(s_readyDeadline);
        HttpResponseMessage ready;
        while (true)
        {
            ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative), deadline.Token);
            if (ready.IsSuccessStatusCode)
            {
                break;
            }
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Contains("warming up", await ready.Content.ReadAsStringAsync(deadline.Token), StringComparison.Ordinal);
            await Task.Delay(50, deadline.Token);
        }
        Assert.Equal("ready\n", await ready.Content.ReadAsStringAsync(deadline.Token));
        Assert.Contains("Query paths warmed up", restarted.Output, StringComparison.Ordinal);
        // The flame graph was asked for over loopback, through Kestrel, and that call is not counted either.
        Assert.DoesNotContain("warming up in process instead", restarted.Output, StringComparison.Ordinal);

        var metrics = PrometheusText.Parse(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), deadline.Token));
        Assert.Equal(0, metrics.Get("kiln_query_duration_seconds_count{rpc=\"Query\"}"));
        Assert.Equal(0, metrics.Get("kiln_query_duration_seconds_count{rpc=\"QueryRange\"}"));
    }
}
