using System.Diagnostics;

namespace Kiln.Bench.Agent;

/// <summary>The programs the agent profiles: C sources built once with exact frame pointers, started as child processes
/// that are all killed on dispose.</summary>
internal sealed class Workloads : IAsyncDisposable
{
    private readonly string _binaries = Directory.CreateTempSubdirectory("kiln-bench-agent-").FullName;
    private readonly List<Process> _running = [];

    /// <summary>Compiles Workloads/NAME.c into <paramref name="output"/> (clang-14: gcc at -O2 drops frames even with
    /// -fno-omit-frame-pointer, machine.md).</summary>
    public async Task<string> CompileAsync(string name, string output)
    {
        var path = Path.Combine(_binaries, output);
        var source = Path.Combine(AppContext.BaseDirectory, "Workloads", name + ".c");
        var (code, text) = await RunAsync("clang-14", ["-O2", "-g", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer", "-fno-optimize-sibling-calls", "-o", path, source]);
        if (code != 0)
        {
            throw new InvalidOperationException($"clang-14 failed on {source}:\n{text}");
        }
        return path;
    }

    /// <summary>Starts a process (stdout discarded unless <paramref name="readPid"/>: then its first line must be its pid).</summary>
    public Process Start(string file, IEnumerable<string> args, bool readPid = false)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = readPid };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        _running.Add(process);
        if (readPid && process.StandardOutput.ReadLine() != process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException($"{file} did not print its pid first");
        }
        return process;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _running)
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
            process.Dispose();
        }
        _running.Clear();
        Directory.Delete(_binaries, recursive: true);
    }

    /// <summary>Runs a command to completion; returns its exit code and everything it wrote.</summary>
    public static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
