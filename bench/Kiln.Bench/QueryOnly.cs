using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using Kiln.Api.Query;
using Kiln.Profiles.Selectors;
using Kiln.Query;
using Kiln.Storage;
using Kiln.Storage.DuckDb;
using Microsoft.Extensions.Logging.Abstractions;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Bench;

/// <summary>
/// `--query-dir DIR [--rounds N]`: the merge query alone, in this process, over a data directory a run kept
/// (`--keep 1`): per round the store's merge and the FLAMEGRAPH_ARROW report separately, so a profiler (perf with
/// DOTNET_PerfMapEnabled=1) sees only the query path. No server, gRPC or ingest. With `--server 1`, the same query
/// through gRPC to a `kiln server` started on that directory, timed as the client sees it, with the server's CPU time.
/// </summary>
internal static class QueryOnly
{
    /// <summary>
    /// `--extend-minutes N`: makes the kept run's first minute N minutes long by copying its samples and profiles
    /// minute after minute (the same stacks and values, later timestamps), so that a 1-hour query can be timed without
    /// ingesting an hour through the server. The copies are honest rows for the engine: every one is read and summed.
    /// </summary>
    public static void Extend(string dataDir, int minutes)
    {
        using var duck = new DuckDB.NET.Data.DuckDBConnection($"Data Source={Path.Combine(dataDir, DuckDbProfileStore.FileName)}");
        duck.Open();
        using var command = duck.CreateCommand();
        command.CommandText = "SELECT MIN(ts) FROM profiles";
        var first = Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        var minute = 60_000_000_000L;
        var clock = Stopwatch.StartNew();
        foreach (var table in new[] { "samples", "profiles" })
        {
            command.CommandText = $"DELETE FROM {table} WHERE ts >= {first + minute}";
            command.ExecuteNonQuery();
            var columns = table == "samples" ? "series_id, ts + k * {0}, stack_id, labels_id, value" : "series_id, ts + k * {0}, duration, period, total, sample_rows";
            command.CommandText = $"INSERT INTO {table} SELECT {string.Format(System.Globalization.CultureInfo.InvariantCulture, columns, minute)} " +
                $"FROM {table}, range(1, {minutes}) r(k) WHERE ts < {first + minute} ORDER BY k, ts";
            command.ExecuteNonQuery();
        }
        command.CommandText = "CHECKPOINT";
        command.ExecuteNonQuery();
        command.CommandText = "SELECT COUNT(*) FROM samples";
        Console.WriteLine($"extended to {minutes} min: {Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture):N0} sample rows in {clock.Elapsed.TotalSeconds:F0} s");
    }

    /// <summary>`--rollup 1`: rolls up every bucket of the kept data in this process, as the server's roll-up pass would.</summary>
    public static async Task RollUpAsync(string dataDir)
    {
        await using var store = DuckDbProfileStore.Open(dataDir, NullLogger.Instance);
        var clock = Stopwatch.StartNew();
        var buckets = await store.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        Console.WriteLine($"rolled up {buckets} bucket(s) in {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>
    /// The merge through a server; with <paramref name="rangeMinutes"/> &gt; 0 over [first profile + offset, + range)
    /// instead of everything, so that the range cuts roll-up buckets as a "last hour" query does.
    /// </summary>
    public static async Task RunServerAsync(string kilnDll, string dataDir, int rounds, int offsetMinutes = 0, int rangeMinutes = 0)
    {
        var start = DateTimeOffset.UnixEpoch.AddSeconds(1);
        var end = DateTimeOffset.UtcNow;
        if (rangeMinutes > 0)
        {
            using var db = new DuckDB.NET.Data.DuckDBConnection($"Data Source={Path.Combine(dataDir, DuckDbProfileStore.FileName)}");
            db.Open();
            using var first = db.CreateCommand();
            first.CommandText = "SELECT MIN(ts) FROM profiles";
            start = TimeRange.FromNanos(Convert.ToInt64(first.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture)).AddMinutes(offsetMinutes);
            end = start.AddMinutes(rangeMinutes);
        }
        await using var server = await ServerProcess.StartAsync(kilnDll, dataDir);
        using var channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        var query = new QueryService.QueryServiceClient(channel);
        var types = await query.ProfileTypesAsync(new ProfileTypesRequest());
        var series = await query.SeriesAsync(new SeriesRequest());
        var request = new QueryRequest
        {
            Mode = QueryRequest.Types.Mode.Merge,
            Merge = new MergeProfile
            {
                Query = $"{Corpus.ProfileName}:samples:count:cpu:nanoseconds:delta{{}}",
                Start = Timestamp.FromDateTimeOffset(start),
                End = Timestamp.FromDateTimeOffset(end),
            },
            ReportType = QueryRequest.Types.ReportType.FlamegraphArrow,
        };
        Console.WriteLine($"query through the server: {series.Series.Count} series of {types.Types_.Count} type(s), {start:HH:mm:ss} to {end:HH:mm:ss}");
        for (var round = 0; round < rounds; round++)
        {
            var cpu = server.CpuTime;
            var t = Stopwatch.GetTimestamp();
            var response = await query.QueryAsync(request);
            var elapsed = Stopwatch.GetElapsedTime(t);
            Console.WriteLine($"round {round}: {elapsed.TotalMilliseconds:F0} ms, server CPU {(server.CpuTime - cpu).TotalMilliseconds:F0} ms, " +
                $"{response.FlamegraphArrow.Record.Length:N0} bytes of Arrow");
        }
        // The bare engine over the same rows: the server must be stopped first (one process per database file).
        await server.DisposeAsync();
        using var duck = new DuckDB.NET.Data.DuckDBConnection($"Data Source={Path.Combine(dataDir, DuckDbProfileStore.FileName)}");
        duck.Open();
        using var command = duck.CreateCommand();
        var ids = string.Join(',', Enumerable.Range(1, series.Series.Count));
        foreach (var (name, predicate) in new[] { ("every row", "true"), ("series_id IN (every id)", $"series_id IN ({ids})"), ("series_id BETWEEN", $"series_id BETWEEN 1 AND {series.Series.Count}") })
        {
            command.CommandText = $"SELECT COUNT(*) FROM (SELECT stack_id, SUM(value) FROM samples WHERE {predicate} GROUP BY stack_id)";
            var best = double.MaxValue;
            for (var round = 0; round < 3; round++)
            {
                var t = Stopwatch.GetTimestamp();
                command.ExecuteScalar();
                best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
            Console.WriteLine($"bare DuckDB GROUP BY stack_id, {name}: best of 3 {best:F0} ms");
        }
    }

    public static async Task RunAsync(string dataDir, int rounds)
    {
        await using var store = DuckDbProfileStore.Open(dataDir, NullLogger.Instance);
        var selector = SelectorParser.ParseQuery($"{Corpus.ProfileName}:samples:count:cpu:nanoseconds:delta{{}}");
        var series = store.GetSeries(TimeRange.All);
        var range = new TimeRange(series.Min(s => s.MinTimeNanos), series.Max(s => s.MaxTimeNanos) + 1);
        Console.WriteLine($"query only: {series.Count} series over {(range.EndNanos - range.StartNanos) / 1e9:F0} s");
        for (var round = 0; round < rounds; round++)
        {
            var (gen0, gen2, pause, allocated) = (GC.CollectionCount(0), GC.CollectionCount(2), GC.GetTotalPauseDuration(), GC.GetTotalAllocatedBytes());
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var t = Stopwatch.GetTimestamp();
            var profile = await store.MergeAsync(selector, range, [], CancellationToken.None) ?? throw new InvalidOperationException("nothing merged");
            var merge = Stopwatch.GetElapsedTime(t);
            t = Stopwatch.GetTimestamp();
            var response = ReportBuilder.Build(ReportType.FlamegraphArrow, profile, null, new ReportOptions());
            var report = Stopwatch.GetElapsedTime(t);
            t = Stopwatch.GetTimestamp();
            var size = Google.Protobuf.MessageExtensions.ToByteArray(response).Length;
            var serialize = Stopwatch.GetElapsedTime(t);
            Console.WriteLine($"round {round}: merge {merge.TotalMilliseconds:F0} ms ({profile.SampleCount:N0} stacks), flame graph {report.TotalMilliseconds:F0} ms, " +
                $"response serialized {serialize.TotalMilliseconds:F0} ms ({size:N0} bytes); total {(merge + report + serialize).TotalMilliseconds:F0} ms, " +
                $"CPU {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds:F0} ms; GCs {GC.CollectionCount(0) - gen0} (gen2 {GC.CollectionCount(2) - gen2}), " +
                $"paused {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:F0} ms, allocated {(GC.GetTotalAllocatedBytes() - allocated) >> 20} MB");
        }
    }
}
