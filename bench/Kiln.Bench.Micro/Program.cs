using System.Security.Cryptography;
using BenchmarkDotNet.Running;
using Kiln.Query;
using Kiln.Query.Testing;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

// BenchmarkDotNet micro-benchmarks:
//   dotnet run -c Release --project bench/Kiln.Bench.Micro -- --filter '*Flamegraph*'
//   dotnet run -c Release --project bench/Kiln.Bench.Micro -- --filter '*UnwindTable*'
// `-- unwind` prints the unwind tables' row counts and sizes.
// `-- hash` prints a SHA-256 of each report over the benchmark input instead, to check that an optimization
// leaves the output unchanged.
if (args is ["hash"])
{
    var profile = SyntheticMergedProfile.Build();
    foreach (var type in new[] { ReportType.FlamegraphArrow, ReportType.Top, ReportType.TableArrow, ReportType.Callgraph, ReportType.Pprof })
    {
        var response = ReportBuilder.Build(type, profile, null, new ReportOptions());
        var bytes = type switch
        {
            ReportType.FlamegraphArrow => response.FlamegraphArrow.Record.ToByteArray(),
            ReportType.TableArrow => response.TableArrow.Record.ToByteArray(),
            _ => Google.Protobuf.MessageExtensions.ToByteArray(response),
        };
        Console.WriteLine($"{type}: {bytes.Length} bytes, sha256 {Convert.ToHexString(SHA256.HashData(bytes))[..16]}");
        if (type is ReportType.FlamegraphArrow or ReportType.TableArrow)
        {
            foreach (var (column, hash) in Kiln.Bench.Micro.ReportHash.Columns(bytes))
            {
                Console.WriteLine($"  {column}: {hash}");
            }
        }
    }
    return 0;
}
if (args is ["loop", var report, var times])
{
    // For perf: the same report built repeatedly in one process.
    var profile = SyntheticMergedProfile.Build();
    var type = Enum.Parse<ReportType>(report);
    for (var i = 0; i < int.Parse(times, System.Globalization.CultureInfo.InvariantCulture); i++)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        ReportBuilder.Build(type, profile, null, new ReportOptions());
        Console.WriteLine($"{type}: {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0} ms");
    }
    return 0;
}
if (args is ["unwind"])
{
    // The figures beside the unwind-table benchmark: rows, table bytes, FDEs per binary.
    foreach (var binary in new[] { "libcoreclr.so", "libc.so.6", "python3.11" })
    {
        var path = Kiln.Bench.Micro.UnwindTableBenchmarks.PathOf(binary);
        var table = Kiln.Symbolization.Unwinding.UnwindTableBuilder.Build(path, out var reason) ?? throw new InvalidOperationException(reason);
        Console.WriteLine($"{binary}: {path}, {table.FdeCount} FDEs ({table.SkippedFdes} skipped, .eh_frame_hdr {table.EhFrameHdrFdeCount}, "
            + $"{table.EhFrameHdrMismatches} mismatches), {table.Rows.Length} rows, {table.SizeInBytes} bytes, {table.UnsupportedRows} unsupported; "
            + string.Join(", ", table.Rows.GroupBy(r => r.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")));
    }
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(Kiln.Bench.Micro.QueryReportBenchmarks).Assembly).Run(args);
return 0;
