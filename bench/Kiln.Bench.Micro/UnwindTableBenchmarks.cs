using BenchmarkDotNet.Attributes;
using Kiln.Symbolization;
using Kiln.Symbolization.Unwinding;

namespace Kiln.Bench.Micro;

/// <summary>
/// Building the compact unwind table (issue 5) of large binaries of this machine, as the agent does once per distinct
/// binary: section reads through the file's path, .eh_frame parse, CFI evaluation, compaction.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class UnwindTableBenchmarks
{
    private ElfFile _elf = null!;

    [Params("libcoreclr.so", "libc.so.6", "python3.11")]
    public string Binary { get; set; } = "";

    /// <summary>The file benchmarked under each name: libcoreclr.so of the running .NET runtime, Debian's libc and python3.11.</summary>
    public static string PathOf(string binary) => binary switch
    {
        "libcoreclr.so" => Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "libcoreclr.so"),
        "libc.so.6" => "/lib/x86_64-linux-gnu/libc.so.6",
        "python3.11" => "/usr/bin/python3.11",
        _ => throw new ArgumentException($"unknown binary {binary}", nameof(binary)),
    };

    [GlobalSetup]
    public void Setup() => _elf = ElfFile.Open(PathOf(Binary));

    [Benchmark]
    public int Build() => UnwindTableBuilder.Build(_elf, out var reason)?.Rows.Length ?? throw new InvalidOperationException(reason);
}
