using Google.Protobuf.WellKnownTypes;
using Kiln.Api.Query;
using Kiln.Server.Tests;
using Xunit.Abstractions;

namespace Kiln.Agent.Tests.EndToEnd;

public sealed class ServerOutageTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_outage = TimeSpan.FromSeconds(30);

    [RootFact]
    public async Task Windows_buffered_while_the_server_is_down_arrive_once_each_when_it_returns()
    {
        var dataDirectory = KilnProcess.CreateTempDirectory("kiln-outage-");
        try
        {
            await Workload.CompileAsync("cpusplit");
            var began = DateTimeOffset.UtcNow;
            // Disposed twice when all goes well (stopped for the outage, then here); once, when something fails first.
            await using var server = await KilnProcess.StartAsync(dataDirectory);
            var port = server.Port;
            await using var agent = await AgentProcess.StartAsync(server.Address, "--sampling-frequency", "99");
            await using var workload = await Workload.StartNativeAsync("cpusplit", 45);
            var query = $"{ProfiledHostFixture.ProfileType}{{pid=\"{workload.Pid}\"}}";

            // Up: the first windows arrive. Then the server goes away for 30 s while the workload keeps running.
            await WaitForPointsAsync(server, query, began, 1);
            Assert.Equal(0, await server.StopAsync());
            await server.DisposeAsync();
            var down = DateTimeOffset.UtcNow;
            await Task.Delay(s_outage);
            var up = DateTimeOffset.UtcNow;
            await using var restarted = await KilnProcess.StartOnPortAsync(dataDirectory, port);
            await workload.WaitForExitAsync();
            await agent.WaitForWindowsAsync(2, TimeSpan.FromSeconds(90));

            var points = await PointsAsync(restarted, query, began);
            output.WriteLine($"down {down:HH:mm:ss.fff}, up {up:HH:mm:ss.fff}");
            foreach (var (time, value) in points)
            {
                output.WriteLine($"{time:HH:mm:ss.fff} {value}");
            }
            // One point per window (2 s), none missing across the outage, none twice.
            Assert.Equal(points.Count, points.Select(p => p.Time).Distinct().Count());
            for (var i = 1; i < points.Count; i++)
            {
                var gap = points[i].Time - points[i - 1].Time;
                Assert.True(gap <= TimeSpan.FromSeconds(3), $"windows missing between {points[i - 1].Time:HH:mm:ss.fff} and {points[i].Time:HH:mm:ss.fff}");
            }
            var duringOutage = points.Count(p => p.Time >= down && p.Time < up);
            Assert.True(duringOutage >= 13, $"only {duringOutage} windows from the 30 s outage reached the server");
            // A window sent twice and stored twice would double a point: one thread gets at most 99 Hz × 2 s.
            Assert.All(points, p => Assert.True(p.Value <= 99 * 2 * 1.1, $"{p.Value} samples in one 2 s window of one thread at 99 Hz"));
            Assert.True(await agent.MetricAsync("kiln_agent_send_errors_total") > 0, "the agent never saw the server down");
            Assert.Equal(0, await agent.MetricAsync("kiln_agent_buffer_overflow_windows_total"));
        }
        finally
        {
            KilnProcess.TryDeleteDirectory(dataDirectory);
        }
    }

    private static async Task WaitForPointsAsync(KilnProcess server, string query, DateTimeOffset since, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await PointsAsync(server, query, since)).Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no profile for {query} reached the server within 60 s\n{server.Output}");
            await Task.Delay(500);
        }
    }

    /// <summary>One point per stored profile (QueryRange without a step): its timestamp and sample count.</summary>
    private static async Task<List<(DateTimeOffset Time, long Value)>> PointsAsync(KilnProcess server, string query, DateTimeOffset since)
    {
        using var channel = server.GrpcChannel();
        var client = new QueryService.QueryServiceClient(channel);
        QueryRangeResponse response;
        try
        {
            response = await client.QueryRangeAsync(new QueryRangeRequest
            {
                Query = query,
                Start = Timestamp.FromDateTimeOffset(since.AddMinutes(-1)),
                End = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(1)),
            });
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.NotFound)
        {
            return []; // nothing of this profile type stored yet
        }
        return response.Series.SelectMany(s => s.Samples).Select(s => (s.Timestamp.ToDateTimeOffset(), s.Value)).OrderBy(p => p.Item1).ToList();
    }
}
