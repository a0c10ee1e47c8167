using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using DuckDB.NET.Data;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using Kiln.Api.ProfileStore;
using Kiln.Api.Query;
using Kiln.Bench;

// Whole-process benchmark of the server: ingest through gRPC into a real `kiln server`, then queries, each
// compared with the bare engine doing the same aggregation over the same rows.
//   dotnet run -c Release --project bench/Kiln.Bench -- [--hosts 100] [--procs 10] [--minutes 10] [--concurrency 4] [--keep 1]
//   [--warmup 8]: requests sent before the clock starts, to compile the server's ingest path (0: none, as before 2026-12-07 late night)
//   [--pregenerate 1]: make every request before the clock starts, so that generating them does not share the
//   machine's cores with the server while it is measured (3 minutes of the default corpus hold ~2.3 GB of pprof)
//   [--store 1]: the store alone, in this process (no server, no gRPC), to tell its share of the CPU
//   [--phases 1]: per-profile time of pprof parsing and stack keys, one thread; [--phases 2]: one profile's parsing by table
//   [--distinct 1]: distinct stacks per process per minute, 10 minutes and hour (the size of roll-up buckets)
//   [--query-dir DIR [--rounds 5] [--server 1] [--extend-minutes N] [--rollup 1] [--day 1] [--offset-minutes O --range-minutes R]]:
//   the merge query alone, in this process (or through a server started on DIR), over the data of a kept run (its first
//   minute copied to N minutes first; rolled up first; its fullest hourly roll-up made 24 hours, with profile rows, first;
//   over R minutes from O minutes after its start instead of all); with --server 1 also QueryRange at steps of 1 and 5 minutes
//   and with limits of 300 and 1,000 points, [--range-rounds N] times each (default: half the rounds, at least 3)
var queryDirAt = Array.IndexOf(args, "--query-dir");
var queryDir = queryDirAt >= 0 && queryDirAt + 1 < args.Length ? args[queryDirAt + 1] : null;
var arguments = ParseArgs(queryDir is null ? args : [.. args.Where((_, i) => i != queryDirAt && i != queryDirAt + 1)]);
var hosts = arguments.GetValueOrDefault("hosts", 100);
var procs = arguments.GetValueOrDefault("procs", 10);
var minutes = arguments.GetValueOrDefault("minutes", 10);
var concurrency = arguments.GetValueOrDefault("concurrency", 4);
var warmup = arguments.GetValueOrDefault("warmup", 8);
var keep = arguments.GetValueOrDefault("keep", 0) != 0;
var pregenerate = arguments.GetValueOrDefault("pregenerate", 0) != 0;
var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
// KILN_BENCH_KILN_DLL: another build of the server (e.g. the commit before a change) to compare with the same harness.
var kilnDll = Environment.GetEnvironmentVariable("KILN_BENCH_KILN_DLL") ?? Path.Combine(root, "src/Kiln.Cli/bin/Release/net10.0/kiln.dll");
if (!File.Exists(kilnDll))
{
    Console.Error.WriteLine($"build the CLI first: dotnet build -c Release src/Kiln.Cli ({kilnDll} is missing)");
    return 2;
}
if (queryDir is not null)
{
    if (arguments.GetValueOrDefault("extend-minutes", 0) is > 1 and var extend)
    {
        QueryOnly.Extend(queryDir, extend);
    }
    if (arguments.GetValueOrDefault("rollup", 0) != 0)
    {
        await QueryOnly.RollUpAsync(queryDir);
    }
    if (arguments.GetValueOrDefault("day", 0) != 0)
    {
        QueryOnly.MakeDay(queryDir);
    }
    if (arguments.GetValueOrDefault("server", 0) != 0)
    {
        var rounds = arguments.GetValueOrDefault("rounds", 5);
        await QueryOnly.RunServerAsync(kilnDll, queryDir, rounds, arguments.GetValueOrDefault("range-rounds", Math.Max(3, rounds / 2)),
            arguments.GetValueOrDefault("offset-minutes", 0), arguments.GetValueOrDefault("range-minutes", 0));
    }
    else
    {
        await QueryOnly.RunAsync(queryDir, arguments.GetValueOrDefault("rounds", 5));
    }
    return 0;
}
var dataDir = Path.Combine(Path.GetTempPath(), $"kiln-bench-{Environment.ProcessId}");
Directory.CreateDirectory(dataDir);
Console.WriteLine($"corpus: {hosts} hosts x {procs} processes, one profile per process every 10 s, {minutes} min; data in {dataDir}");

var corpus = new Corpus();
var start = DateTimeOffset.UtcNow.AddHours(-2);
var startNanos = start.ToUnixTimeMilliseconds() * 1_000_000;
var windows = minutes * 6;
if (arguments.GetValueOrDefault("distinct", 0) != 0)
{
    // How many distinct stacks one process's profiles hold per minute, 10 minutes and hour: the rows per series of a
    // roll-up bucket of the real corpus (the --extend-minutes copies repeat one minute, so their buckets hold fewer).
    foreach (var windowsPer in new[] { 6, 60, 360 })
    {
        double total = 0;
        for (var h = 0; h < 20; h++)
        {
            var seen = new HashSet<string>();
            for (var w = 0; w < windowsPer; w++)
            {
                foreach (var sample in corpus.Generate(h, 0, startNanos + w * Corpus.WindowNanos).Sample)
                {
                    seen.Add(string.Join(',', sample.LocationId));
                }
            }
            total += seen.Count;
        }
        Console.WriteLine($"{windowsPer / 6} min: {total / 20:N0} distinct stacks per process, of {windowsPer * 300:N0} sample rows");
    }
    Directory.Delete(dataDir);
    return 0;
}
if (arguments.GetValueOrDefault("phases", 0) == 2)
{
    Phases.RunByTable(corpus, startNanos);
    Directory.Delete(dataDir);
    return 0;
}
if (arguments.GetValueOrDefault("phases", 0) != 0)
{
    Phases.Run(corpus, hosts, procs, windows, startNanos);
    Directory.Delete(dataDir);
    return 0;
}
if (arguments.GetValueOrDefault("store", 0) != 0)
{
    await StoreOnly.RunAsync(corpus, hosts, procs, windows, startNanos, concurrency, dataDir);
    Directory.Delete(dataDir, recursive: true);
    return 0;
}
long rows = 0, pprofBytes = 0;

await using (var server = await ServerProcess.StartAsync(kilnDll, dataDir))
{
    using var channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions { MaxReceiveMessageSize = null });
    var client = new ProfileStoreService.ProfileStoreServiceClient(channel);
    var requests = pregenerate
        ? Channel.CreateUnbounded<(WriteRawRequest Request, long Rows)>()
        : Channel.CreateBounded<(WriteRawRequest Request, long Rows)>(concurrency * 2);
    var producer = Task.Run(async () =>
    {
        for (var w = 0; w < windows; w++)
        {
            for (var h = 0; h < hosts; h++)
            {
                var request = new WriteRawRequest();
                long requestRows = 0;
                for (var p = 0; p < procs; p++)
                {
                    var profile = corpus.Generate(h, p, startNanos + w * Corpus.WindowNanos);
                    requestRows += profile.Sample.Count;
                    var series = new RawProfileSeries { Labels = new LabelSet() };
                    series.Labels.Labels.Add(new Label { Name = "__name__", Value = Corpus.ProfileName });
                    foreach (var (name, value) in Corpus.Labels(h, p))
                    {
                        series.Labels.Labels.Add(new Label { Name = name, Value = value });
                    }
                    series.Samples.Add(new RawSample { RawProfile = profile.ToByteString() });
                    request.Series.Add(series);
                }
                await requests.Writer.WriteAsync((request, requestRows));
            }
        }
        requests.Writer.Complete();
    });
    if (pregenerate)
    {
        await producer;
        Console.WriteLine($"requests made before the clock started: {requests.Reader.Count:N0}");
    }
    // Warm-up, before the clock: the server compiles every method once, at its first call (no tiered compilation), and
    // these first requests compile its ingest path (~1 s of CPU), as any benchmark warms up the code it then times.
    // Their rows are stored, not counted; the stacks that first appear after them still are.
    long warmupRows = 0;
    var warmupRequests = 0;
    for (; warmupRequests < warmup && await requests.Reader.WaitToReadAsync(); warmupRequests++)
    {
        var (request, requestRows) = await requests.Reader.ReadAsync();
        await client.WriteRawAsync(request);
        warmupRows += requestRows;
    }
    Console.WriteLine($"warm-up before the clock: {warmupRequests} requests, {warmupRows:N0} sample rows, not counted");
    var cpuBefore = server.CpuTime;
    var clock = Stopwatch.StartNew();
    // The second half of the run is reported apart: by then most stacks are known.
    var halfRows = ((long)windows * hosts * procs * 300 - warmupRows) / 2;
    var half = 0;
    (long Rows, TimeSpan Cpu) atHalf = default;
    // The server's CPU time at every minute of the corpus sent (1.8 M rows by default), to show its slowest stretch.
    var minuteRows = (long)hosts * procs * 300 * 6;
    // With each, the store writer thread's CPU time and the commits so far, to tell what made a minute slow.
    const string writerThread = "kiln-store-writ"; // DuckDbProfileStore's "kiln-store-writer", as the kernel keeps it
    var marks = new List<(long Rows, TimeSpan Cpu, TimeSpan Writer, long Commits)>
    {
        (0, cpuBefore, server.ThreadCpuTime(writerThread), await server.MetricAsync("kiln_store_commits_total")),
    };
    var senders = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
    {
        await foreach (var (request, requestRows) in requests.Reader.ReadAllAsync())
        {
            await client.WriteRawAsync(request);
            var sent = Interlocked.Add(ref rows, requestRows);
            Interlocked.Add(ref pprofBytes, request.CalculateSize());
            if (sent >= halfRows && Interlocked.Exchange(ref half, 1) == 0)
            {
                atHalf = (sent, server.CpuTime);
            }
            var mark = false;
            lock (marks)
            {
                if (sent - marks[^1].Rows >= minuteRows)
                {
                    marks.Add((sent, server.CpuTime, server.ThreadCpuTime(writerThread), 0));
                    mark = true;
                }
            }
            if (mark)
            {
                var commits = await server.MetricAsync("kiln_store_commits_total");
                lock (marks)
                {
                    var at = marks.FindLastIndex(m => m.Rows == sent);
                    marks[at] = marks[at] with { Commits = commits };
                }
            }
        }
    })).ToArray();
    await Task.WhenAll(senders);
    await producer;
    var elapsed = clock.Elapsed;
    var cpu = server.CpuTime - cpuBefore;
    Console.WriteLine($"ingest: {rows:N0} sample rows in {elapsed.TotalSeconds:F1} s = {rows / elapsed.TotalSeconds:N0} rows/s wall; " +
        $"server CPU {cpu.TotalSeconds:F1} s = {rows / cpu.TotalSeconds:N0} rows per CPU-second (per core)");
    var secondHalfCpu = cpuBefore + cpu - atHalf.Cpu;
    Console.WriteLine($"ingest, second half only: {rows - atHalf.Rows:N0} sample rows, server CPU {secondHalfCpu.TotalSeconds:F1} s = " +
        $"{(rows - atHalf.Rows) / secondHalfCpu.TotalSeconds:N0} rows per CPU-second");
    var perMinute = marks.Zip(marks.Skip(1), (a, b) => (b.Rows - a.Rows) / (b.Cpu - a.Cpu).TotalSeconds).ToArray();
    if (perMinute.Length > 0)
    {
        Console.WriteLine($"ingest by minute of the corpus, rows per CPU-second: slowest {perMinute.Min():N0}, fastest {perMinute.Max():N0}; " +
            string.Join(" ", perMinute.Select(r => $"{r / 1000:F0}k")));
        Console.WriteLine("  the store writer's share of the server's CPU: " + string.Join(" ",
            marks.Zip(marks.Skip(1), (a, b) => $"{(b.Writer - a.Writer) / (b.Cpu - a.Cpu) * 100:F0}%")));
        Console.WriteLine("  sample rows per commit: " + string.Join(" ",
            marks.Zip(marks.Skip(1), (a, b) => $"{(b.Rows - a.Rows) / (double)Math.Max(1, b.Commits - a.Commits) / 1000:F1}k")));
    }
    var commits = await server.MetricAsync("kiln_store_commits_total");
    if (commits > 0)
    {
        Console.WriteLine($"ingest: {commits:N0} commits, {rows / commits:N0} sample rows per commit");
    }

    var query = new QueryService.QueryServiceClient(channel);
    var end = start.AddMinutes(minutes);
    var selector = $"{Corpus.ProfileName}:samples:count:cpu:nanoseconds:delta";
    var mergeRequest = new QueryRequest
    {
        Mode = QueryRequest.Types.Mode.Merge,
        Merge = new MergeProfile { Query = selector + "{}", Start = Timestamp.FromDateTimeOffset(start), End = Timestamp.FromDateTimeOffset(end) },
        ReportType = QueryRequest.Types.ReportType.FlamegraphArrow,
    };
    var rangeRequest = new QueryRangeRequest { Query = selector + "{}", Start = Timestamp.FromDateTimeOffset(start), End = Timestamp.FromDateTimeOffset(end), Step = Duration.FromTimeSpan(TimeSpan.FromMinutes(1)) };
    var merge = await Measure("Query MERGE + FLAMEGRAPH_ARROW, all hosts", () => query.QueryAsync(mergeRequest).ResponseAsync);
    var range = await Measure("QueryRange step 1m, all series", () => query.QueryRangeAsync(rangeRequest).ResponseAsync);

    // The bare engine over the same rows, through a second connection to the same database instance is not
    // possible across processes: stop the server and open the file directly.
    await server.DisposeAsync();
    using var duck = new DuckDBConnection($"Data Source={Path.Combine(dataDir, "kiln.duckdb")}");
    duck.Open();
    var t0 = startNanos;
    var t1 = startNanos + minutes * 60L * 1_000_000_000;
    var bareMerge = await Measure("bare DuckDB: SELECT stack_id, SUM(value) ... GROUP BY stack_id", () => Task.FromResult(Scalar(duck, $"SELECT COUNT(*) FROM (SELECT stack_id, SUM(value) FROM samples WHERE ts >= {t0} AND ts < {t1} GROUP BY stack_id)")));
    var bareRange = await Measure("bare DuckDB: per-series per-minute SUM over profiles", () => Task.FromResult(Scalar(duck, $"SELECT COUNT(*) FROM (SELECT series_id, ts // 60000000000, SUM(total) FROM profiles WHERE ts >= {t0} AND ts < {t1} GROUP BY ALL)")));
    Console.WriteLine($"ratio to bare engine: merge {merge.TotalMilliseconds / bareMerge.TotalMilliseconds:F2}x, query_range {range.TotalMilliseconds / bareRange.TotalMilliseconds:F2}x");
    var stored = Scalar(duck, "SELECT COUNT(*) FROM samples");
    duck.Close();
    var disk = Directory.EnumerateFiles(dataDir).Sum(f => new FileInfo(f).Length);
    Console.WriteLine($"disk: {disk:N0} bytes for {stored:N0} sample rows = {(double)disk / stored:F2} bytes/row; {(double)disk / pprofBytes:F3} bytes per ingested (uncompressed) pprof byte");
}
if (keep)
{
    Console.WriteLine($"kept the data in {dataDir}");
}
else
{
    Directory.Delete(dataDir, recursive: true);
}
return 0;

static async Task<TimeSpan> Measure<T>(string name, Func<Task<T>> body)
{
    await body(); // warm-up: JIT, caches
    var best = TimeSpan.MaxValue;
    for (var i = 0; i < 3; i++)
    {
        var clock = Stopwatch.StartNew();
        await body();
        best = clock.Elapsed < best ? clock.Elapsed : best;
    }
    Console.WriteLine($"{name}: best of 3 {best.TotalMilliseconds:F0} ms");
    return best;
}

static long Scalar(DuckDBConnection connection, string sql)
{
    using var command = connection.CreateCommand();
    command.CommandText = sql;
    return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
}

static Dictionary<string, int> ParseArgs(string[] args)
{
    var result = new Dictionary<string, int>();
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        result[args[i].TrimStart('-')] = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
    }
    return result;
}
