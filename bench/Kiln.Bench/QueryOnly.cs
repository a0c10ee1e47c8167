using System.Diagnostics;
using Google.Protobuf;
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

    /// <summary>
    /// `--day 1`, after `--extend-minutes 60 --rollup 1`: makes 24 whole clock hours out of the kept hour, for the 24-hour
    /// figures. The 1-hour roll-up bucket holding the most rows is copied to the 23 hours before it (all listed as rolled up),
    /// the first minute's profile rows to every minute of those hours (what QueryRange reads), and the raw samples are
    /// deleted: a merge over the 24 whole hours reads only the hourly roll-ups, as it would once the raw rows of whole
    /// hours are rolled. Its buckets hold one copied minute's distinct stacks (the caveat of --extend-minutes).
    /// </summary>
    public static void MakeDay(string dataDir)
    {
        const long hour = 3_600_000_000_000L, minute = 60_000_000_000L;
        using var duck = new DuckDB.NET.Data.DuckDBConnection($"Data Source={Path.Combine(dataDir, DuckDbProfileStore.FileName)}");
        duck.Open();
        using var command = duck.CreateCommand();
        long Scalar(string sql)
        {
            command.CommandText = sql;
            return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
        void Run(string sql)
        {
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }
        var clock = Stopwatch.StartNew();
        var bucket = Scalar($"SELECT bucket FROM sample_rollups WHERE width = {hour} GROUP BY bucket ORDER BY COUNT(*) DESC LIMIT 1");
        var first = Scalar("SELECT MIN(ts) FROM profiles");
        Run("DELETE FROM samples");
        Run($"DELETE FROM sample_rollups WHERE width <> {hour} OR bucket <> {bucket}");
        Run($"INSERT INTO sample_rollups SELECT width, bucket - k * {hour}, series_id, stack_id, labels_id, value " +
            $"FROM sample_rollups, range(1, 24) r(k) ORDER BY k");
        Run("DELETE FROM rollup_buckets");
        var day = bucket - 23 * hour;
        Run($"INSERT INTO rollup_buckets SELECT {hour}, {day} + k * {hour} FROM range(0, 24) r(k)");
        // Their 10-minute buckets count as rolled too (their rows are not kept), or the server would roll them from the
        // empty samples table while being measured.
        Run($"INSERT INTO rollup_buckets SELECT {hour / 6}, {day} + k * {hour / 6} FROM range(0, 144) r(k)");
        Run($"CREATE TEMP TABLE first_minute AS SELECT * FROM profiles WHERE ts < {first + minute}");
        Run("DELETE FROM profiles");
        Run($"INSERT INTO profiles SELECT series_id, {day} + (ts - {first}) + k * {minute}, duration, period, total, sample_rows " +
            $"FROM first_minute, range(0, {24 * 60}) r(k) ORDER BY k, ts");
        // The per-minute profile sums the roll-up of those 10-minute buckets would have made.
        Run("DELETE FROM profile_rollups");
        Run("INSERT INTO profile_rollups " + DuckDbProfileStore.ProfileMinutesSql("true"));
        Run("CHECKPOINT");
        Console.WriteLine($"made 24 hours: {Scalar("SELECT COUNT(*) FROM sample_rollups"):N0} hourly roll-up rows, " +
            $"{Scalar("SELECT COUNT(*) FROM profiles"):N0} profile rows in {clock.Elapsed.TotalSeconds:F0} s");
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
    public static async Task RunServerAsync(string kilnDll, string dataDir, int rounds, int rangeRounds, int offsetMinutes = 0, int rangeMinutes = 0)
    {
        // Everything: from the clock hour of the first profile to now (or the end of the clock hour of the last), so
        // that the data's hourly buckets lie wholly inside the range as in a "last N hours" query.
        const long hour = 3_600_000_000_000L;
        long firstTs, lastTs;
        using (var db = new DuckDB.NET.Data.DuckDBConnection($"Data Source={Path.Combine(dataDir, DuckDbProfileStore.FileName)}"))
        {
            db.Open();
            using var span = db.CreateCommand();
            span.CommandText = "SELECT MIN(ts), MAX(ts) FROM profiles";
            using var r = span.ExecuteReader();
            r.Read();
            (firstTs, lastTs) = (r.GetInt64(0), r.GetInt64(1));
        }
        var start = TimeRange.FromNanos(DuckDbProfileStore.BucketOf(firstTs, hour));
        var end = TimeRange.FromNanos(Math.Max(TimeRange.ToNanos(DateTimeOffset.UtcNow), DuckDbProfileStore.BucketOf(lastTs, hour) + hour));
        if (rangeMinutes > 0)
        {
            start = TimeRange.FromNanos(firstTs).AddMinutes(offsetMinutes);
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
        Console.WriteLine($"server ready (/readyz) {server.ReadyAfter.TotalMilliseconds:F0} ms after launch");
        Console.WriteLine($"query through the server: {series.Series.Count} series of {types.Types_.Count} type(s), {start:yyyy-MM-dd HH:mm:ss} to {end:yyyy-MM-dd HH:mm:ss}");
        // One call as the client sees it, with the server's CPU time over it.
        async Task<(T Response, string Took)> TimedAsync<T>(Func<Task<T>> call)
        {
            var cpu = server.CpuTime;
            var t = Stopwatch.GetTimestamp();
            var response = await call();
            var elapsed = Stopwatch.GetElapsedTime(t);
            return (response, $"{elapsed.TotalMilliseconds:F0} ms, server CPU {(server.CpuTime - cpu).TotalMilliseconds:F0} ms");
        }
        async Task<(long Gen0, long Gen1, long Gen2)> GcCountsAsync() => (
            await server.MetricAsync("dotnet_collection_count_total{generation=\"0\"}"),
            await server.MetricAsync("dotnet_collection_count_total{generation=\"1\"}"),
            await server.MetricAsync("dotnet_collection_count_total{generation=\"2\"}"));
        for (var round = 0; round < rounds; round++)
        {
            var gcBefore = await GcCountsAsync();
            var pauseBefore = await server.MetricValueAsync("kiln_gc_pause_seconds_total");
            var (response, took) = await TimedAsync(() => query.QueryAsync(request).ResponseAsync);
            var gcAfter = await GcCountsAsync();
            var pause = await server.MetricValueAsync("kiln_gc_pause_seconds_total") - pauseBefore;
            Console.WriteLine($"round {round}: {took}, {response.FlamegraphArrow.Record.Length:N0} bytes of Arrow, " +
                $"server GCs gen0/1/2 {gcAfter.Gen0 - gcBefore.Gen0}/{gcAfter.Gen1 - gcBefore.Gen1}/{gcAfter.Gen2 - gcBefore.Gen2}, paused {pause * 1000:F0} ms");
        }
        // With a step of 1 and 5 minutes; as Kiln's web UI asks (no step, at most 300 points per series: one point per
        // profile unless that is too many); and as Grafana's Parca data source asks (no step, limit = the panel's
        // MaxDataPoints, its width in pixels: 1,000 here).
        var invoker = channel.CreateCallInvoker();
        var rangeAsBytes = new Grpc.Core.Method<QueryRangeRequest, byte[]>(Grpc.Core.MethodType.Unary, QueryService.Descriptor.FullName, "QueryRange",
            Grpc.Core.Marshallers.Create<QueryRangeRequest>(r => r.ToByteArray(), QueryRangeRequest.Parser.ParseFrom),
            Grpc.Core.Marshallers.Create<byte[]>(b => b, b => b));
        // One call not timed first: this client's first parse of a ~22 MB response (JIT, its GC heap growing) took
        // 300 - 400 ms, which is not the server's. A long-lived client such as Grafana has done that long before.
        await query.QueryRangeAsync(new QueryRangeRequest { Query = request.Merge.Query, Start = request.Merge.Start, End = request.Merge.End, Limit = 1000 });
        foreach (var (step, limit) in new[] { (TimeSpan.FromMinutes(1), 0), (TimeSpan.FromMinutes(5), 0), (TimeSpan.Zero, 300), (TimeSpan.Zero, 1000) })
        {
            var rangeRequest = new QueryRangeRequest
            {
                Query = request.Merge.Query,
                Start = request.Merge.Start,
                End = request.Merge.End,
                Step = step > TimeSpan.Zero ? Duration.FromTimeSpan(step) : null,
                Limit = (uint)limit,
            };
            for (var round = 0; round < rangeRounds; round++)
            {
                // The same call with the response kept as bytes: how long the client spends parsing them, apart from the call.
                var (bytes, bytesTook) = await TimedAsync(() => invoker.AsyncUnaryCall(rangeAsBytes, null, new Grpc.Core.CallOptions(), rangeRequest).ResponseAsync);
                var parse = Stopwatch.GetTimestamp();
                QueryRangeResponse.Parser.ParseFrom(bytes);
                Console.WriteLine($"  as bytes: {bytesTook}, {bytes.Length:N0} bytes; the client parses them in {Stopwatch.GetElapsedTime(parse).TotalMilliseconds:F0} ms");
                var (response, took) = await TimedAsync(() => query.QueryRangeAsync(rangeRequest).ResponseAsync);
                Console.WriteLine($"QueryRange step {step.TotalMinutes:F0} m, limit {limit}, round {round}: {took}, " +
                    $"{response.Series.Count:N0} series, {response.Series.Sum(s => s.Samples.Count):N0} points");
            }
        }
        // The bare engine over the same rows: the server must be stopped first (one process per database file).
        await server.DisposeAsync();
        using var duck = new DuckDB.NET.Data.DuckDBConnection($"Data Source={Path.Combine(dataDir, DuckDbProfileStore.FileName)}");
        duck.Open();
        using var command = duck.CreateCommand();
        var ids = string.Join(',', Enumerable.Range(1, series.Series.Count));
        var bare = new List<(string Name, string Sql)>();
        foreach (var (name, predicate) in new[] { ("every row", "true"), ("series_id IN (every id)", $"series_id IN ({ids})"), ("series_id BETWEEN", $"series_id BETWEEN 1 AND {series.Series.Count}") })
        {
            bare.Add(($"GROUP BY stack_id, {name}", $"SELECT COUNT(*) FROM (SELECT stack_id, SUM(value) FROM samples WHERE {predicate} GROUP BY stack_id)"));
        }
        bare.Add(("GROUP BY stack_id over the hourly roll-ups", "SELECT COUNT(*) FROM (SELECT stack_id, SUM(value) FROM sample_rollups WHERE width = 3600000000000 GROUP BY stack_id)"));
        bare.Add(("per-series per-minute SUM over profiles", "SELECT COUNT(*) FROM (SELECT series_id, ts // 60000000000, SUM(total), SUM(duration), COUNT(*) FROM profiles GROUP BY ALL)"));
        bare.Add(("per-series per-2-minute SUM over profiles (Grafana's form over a day)", "SELECT COUNT(*) FROM (SELECT series_id, ts // 120000000000, SUM(total), SUM(duration), COUNT(*) FROM profiles GROUP BY ALL)"));
        bare.Add(("per-series per-5-minute SUM over profiles", "SELECT COUNT(*) FROM (SELECT series_id, ts // 300000000000, SUM(total), SUM(duration), COUNT(*) FROM profiles GROUP BY ALL)"));
        foreach (var (name, sql) in bare)
        {
            command.CommandText = sql;
            var best = double.MaxValue;
            for (var round = 0; round < 3; round++)
            {
                var t = Stopwatch.GetTimestamp();
                command.ExecuteScalar();
                best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
            Console.WriteLine($"bare DuckDB {name}: best of 3 {best:F0} ms");
        }
    }

    public static async Task RunAsync(string dataDir, int rounds)
    {
        await using var store = DuckDbProfileStore.Open(dataDir, NullLogger.Instance);
        var selector = SelectorParser.ParseQuery($"{Corpus.ProfileName}:samples:count:cpu:nanoseconds:delta{{}}");
        var series = store.GetSeries(TimeRange.All);
        // Whole clock hours, as the server mode asks: the merge reads the hourly roll-ups where they exist.
        const long hour = 3_600_000_000_000L;
        var range = new TimeRange(DuckDbProfileStore.BucketOf(series.Min(s => s.MinTimeNanos), hour),
            DuckDbProfileStore.BucketOf(series.Max(s => s.MaxTimeNanos), hour) + hour);
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
        // The store's part of QueryRange alone: the aggregation and reading the points, no gRPC.
        for (var round = 0; round < Math.Max(3, rounds); round++)
        {
            var t = Stopwatch.GetTimestamp();
            var points = await store.QueryRangeAsync(selector, range, TimeSpan.FromMinutes(5), 0, CancellationToken.None);
            Console.WriteLine($"store QueryRange step 5 m, round {round}: {Stopwatch.GetElapsedTime(t).TotalMilliseconds:F0} ms, {points.Series.Sum(p => p.Points.Count):N0} points");
        }
    }
}
