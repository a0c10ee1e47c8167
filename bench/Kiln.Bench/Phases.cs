using System.Diagnostics;
using Google.Protobuf;
using Kiln.Profiles;
using Kiln.Storage.DuckDb;

namespace Kiln.Bench;

/// <summary>
/// `--phases 1`: per-profile cost of the two steps every ingested profile goes through before the writer — parsing
/// and validating the pprof (<see cref="PprofView"/>) and computing its stacks' content keys — on one thread, over
/// the generated corpus, six rounds (the first ones include JIT). `--phases 2`: the parsing time of one corpus profile
/// split by table (see <see cref="RunByTable"/>).
/// </summary>
internal static class Phases
{
    /// <summary>
    /// Parses one corpus profile and, in turn, the same profile without its samples, locations, functions and strings,
    /// 2,000 times each per round, and prints each table's share as the difference between the best rounds. Each
    /// variant still validates, since what remains only refers to tables that remain.
    /// </summary>
    public static void RunByTable(Corpus corpus, long startNanos)
    {
        var profile = corpus.Generate(0, 0, startNanos);
        var variants = new List<byte[]> { profile.ToByteArray() };
        profile.Sample.Clear();
        variants.Add(profile.ToByteArray());
        profile.Location.Clear();
        variants.Add(profile.ToByteArray());
        profile.Function.Clear();
        variants.Add(profile.ToByteArray());
        profile.StringTable.Clear();
        profile.StringTable.Add("");
        profile.Mapping.Clear();
        profile.SampleType.Clear();
        profile.PeriodType = null;
        variants.Add(profile.ToByteArray());
        using var view = new PprofView();
        var best = new double[variants.Count];
        Array.Fill(best, double.MaxValue);
        for (var round = 0; round < 10; round++)
        {
            for (var k = 0; k < variants.Count; k++)
            {
                var t = Stopwatch.GetTimestamp();
                for (var i = 0; i < 2000; i++)
                {
                    view.Parse(variants[k]);
                }
                best[k] = Math.Min(best[k], Stopwatch.GetElapsedTime(t).TotalMicroseconds / 2000);
            }
        }
        Console.WriteLine($"parse one profile ({variants[0].Length:N0} bytes), best of 10 rounds: {best[0]:F1} us; by table: samples {best[0] - best[1]:F1}, " +
            $"locations {best[1] - best[2]:F1}, functions {best[2] - best[3]:F1}, strings and the rest {best[3] - best[4]:F1} us");
    }

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
