using System.Diagnostics;
using Google.Protobuf;
using Kiln.Profiles;
using Kiln.Storage;
using Kiln.Storage.DuckDb;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kiln.Bench;

/// <summary>
/// `--store 1`: the same corpus written straight into a <see cref="DuckDbProfileStore"/> in this process (pprof
/// parse, stack keys, the writer and DuckDB; no gRPC, HTTP/2 or request parsing), to tell the store's share of
/// the server's CPU from the transport's. The corpus is generated before the clock starts.
/// </summary>
internal static class StoreOnly
{
    public static async Task RunAsync(Corpus corpus, int hosts, int procs, int windows, long startNanos, int concurrency, string dataDir)
    {
        var requests = new List<byte[][]>();
        long rows = 0;
        for (var w = 0; w < windows; w++)
        {
            for (var h = 0; h < hosts; h++)
            {
                var request = new byte[procs][];
                for (var p = 0; p < procs; p++)
                {
                    var profile = corpus.Generate(h, p, startNanos + w * Corpus.WindowNanos);
                    rows += profile.Sample.Count;
                    request[p] = profile.ToByteArray();
                }
                requests.Add(request);
            }
        }
        var type = ProfileType.Parse($"{Corpus.ProfileName}:samples:count:cpu:nanoseconds:delta");
        await using var store = DuckDbProfileStore.Open(dataDir, NullLogger.Instance);
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var next = -1;
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests.Count)
            {
                var h = i % hosts;
                var profiles = new List<IngestProfile>(procs);
                var views = new List<PprofView>(procs);
                for (var p = 0; p < procs; p++)
                {
                    var view = new PprofView();
                    view.Parse(requests[i][p].AsMemory());
                    views.Add(view);
                    var labels = LabelSet.From(Corpus.Labels(h, p).Select(l => new Label(l.Name, l.Value)));
                    profiles.Add(new IngestProfile(type, labels, view, 0, view.TimeNanos, view.DurationNanos));
                }
                await store.WriteAsync(profiles, CancellationToken.None);
                foreach (var view in views)
                {
                    view.Dispose();
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        var elapsed = clock.Elapsed;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        Console.WriteLine($"store only (in process): {rows:N0} sample rows in {elapsed.TotalSeconds:F1} s = {rows / elapsed.TotalSeconds:N0} rows/s wall; " +
            $"CPU {cpu.TotalSeconds:F1} s = {rows / cpu.TotalSeconds:N0} rows per CPU-second");
    }
}
