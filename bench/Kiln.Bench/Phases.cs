using System.Diagnostics;
using Google.Protobuf;
using Kiln.Profiles;
using Kiln.Storage.DuckDb;

namespace Kiln.Bench;

/// <summary>
/// `--phases 1`: per-profile cost of the two steps every ingested profile goes through before the writer — parsing
/// and validating the pprof (<see cref="PprofView"/>) and computing its stacks' content keys — on one thread, over
/// the generated corpus, six rounds (the first ones include JIT).
/// </summary>
internal static class Phases
{
    public static void Run(Corpus corpus, int hosts, int procs, int windows, long startNanos)
    {
        var all = new List<byte[]>();
        for (var w = 0; w < windows; w++)
        {
            for (var h = 0; h < hosts; h++)
            {
                for (var p = 0; p < procs; p++)
                {
                    all.Add(corpus.Generate(h, p, startNanos + w * Corpus.WindowNanos).ToByteArray());
                }
            }
        }
        for (var round = 0; round < 6; round++)
        {
            var parse = TimeSpan.Zero; var keys = TimeSpan.Zero; var again = TimeSpan.Zero;
            using var view = new PprofView();
            foreach (var bytes in all)
            {
                var t = Stopwatch.GetTimestamp();
                view.Parse(bytes);
                parse += Stopwatch.GetElapsedTime(t);
                t = Stopwatch.GetTimestamp();
                using var k = StackKeys.Compute(view);
                keys += Stopwatch.GetElapsedTime(t);
                t = Stopwatch.GetTimestamp();
                using var k2 = StackKeys.Compute(view);
                again += Stopwatch.GetElapsedTime(t);
            }
            Console.WriteLine($"round {round}: {all.Count} profiles ({all.Sum(b => (long)b.Length) / all.Count:N0} bytes avg): parse {parse.TotalMicroseconds / all.Count:F1} us, keys {keys.TotalMicroseconds / all.Count:F1} us (again {again.TotalMicroseconds / all.Count:F1} us) per profile");
        }
    }
}
