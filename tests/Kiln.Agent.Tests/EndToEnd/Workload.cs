using System.Diagnostics;
using Kiln.Server.Tests;

namespace Kiln.Agent.Tests.EndToEnd;

/// <summary>A running workload process that printed its pid; killed on dispose if still running.</summary>
internal sealed class Workload : IAsyncDisposable
{
    private static readonly Lazy<string> s_binaries = new(() => KilnProcess.CreateTempDirectory("kiln-workloads-"));

    // One compilation per workload, shared by tests that run in parallel (a second clang would replace the file
    // under a running workload).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Task<string>>> s_compiled = new(StringComparer.Ordinal);
    private readonly Process _process;

    private Workload(Process process, int pid)
    {
        _process = process;
        Pid = pid;
    }

    public int Pid { get; }

    /// <summary>
    /// Compiles tests/workloads/NAME/NAME.c with clang-14 and exact frame pointers (machine.md: gcc drops frames
    /// even with -fno-omit-frame-pointer), once per test run.
    /// </summary>
    public static Task<string> CompileAsync(string name) =>
        CompileAsync(name, name, "clang-14", "-O2", "-g", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer", "-fno-optimize-sibling-calls");

    /// <summary>Compiles tests/workloads/NAME/NAME.c into a binary named <paramref name="output"/> with
    /// <paramref name="compiler"/> and <paramref name="flags"/>, once per test run.</summary>
    public static Task<string> CompileAsync(string name, string output, string compiler, params string[] flags) =>
        s_compiled.GetOrAdd(output, o => new Lazy<Task<string>>(() => CompileOnceAsync(name, o, compiler, flags))).Value;

    private static async Task<string> CompileOnceAsync(string name, string binary, string compiler, string[] flags)
    {
        var output = Path.Combine(s_binaries.Value, binary);
        var source = Path.Combine(AppContext.BaseDirectory, "Workloads", name + ".c");
        var result = await ExternalProcess.RunAsync(compiler, [.. flags, "-o", output, source]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return output;
    }

    /// <summary>Starts a compiled C workload for <paramref name="seconds"/>.</summary>
    public static async Task<Workload> StartNativeAsync(string name, double seconds) =>
        Start(await CompileAsync(name), [seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

    /// <summary>Starts tests/workloads/dotnet-hot (built with the tests) without any perf-map settings.</summary>
    public static Workload StartDotnetHot(double seconds) =>
        Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "DotnetHot.dll"), seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

    /// <summary>Starts <paramref name="file"/>, which must print its pid as its first line of output.</summary>
    public static Workload Start(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // The point of the .NET workload is a runtime nobody configured for profilers.
        foreach (var name in (string[])["DOTNET_PerfMapEnabled", "COMPlus_PerfMapEnabled", "DOTNET_EnableWriteXorExecute"])
        {
            start.Environment.Remove(name);
        }
        var process = Process.Start(start)!;
        var line = process.StandardOutput.ReadLine();
        if (!int.TryParse(line, out var pid))
        {
            process.Kill();
            throw new InvalidOperationException($"{file} printed '{line}' instead of its pid");
        }
        return new Workload(process, pid);
    }

    public async Task WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await _process.WaitForExitAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
