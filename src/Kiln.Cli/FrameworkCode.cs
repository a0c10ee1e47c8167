using System.Runtime.InteropServices;
using System.Text;

namespace Kiln.Cli;

/// <summary>
/// Runs `kiln server` and `kiln up` with the .NET framework's code compiled by the JIT for this machine, instead of its
/// precompiled (ReadyToRun) code. With tiered compilation off (Kiln.Cli.csproj), precompiled framework code is never
/// compiled again. Ingest spends much of its time in it (Kestrel's HTTP/2, pipelines, sockets), where calls between
/// assemblies go through indirection stubs and nothing is inlined. Jitted, the server ingested 4 – 10 % more rows per
/// CPU-second (bench/README.md, "Session of 2026-12-07, late night"), for ~1.4 s more CPU to start and ~1 s more while
/// the first requests compile their path.
/// <para>
/// The runtime reads this setting only from the environment (DOTNET_ReadyToRun). So the process replaces itself once,
/// early, with the same command line and that variable set: same PID, so signals, service managers and `kill` work as
/// before. A DOTNET_ReadyToRun the user set is left alone. `kiln agent` and the short commands keep the precompiled
/// code, which starts faster.
/// </para>
/// </summary>
internal static partial class FrameworkCode
{
    private const string Variable = "DOTNET_ReadyToRun";

    /// <summary>Re-executes the process with the framework jitted if <paramref name="args"/> start a server; returns
    /// only if it does not (another command, the variable already set, or the exec failed).</summary>
    public static void JitForServer(string[] args)
    {
        if (!OperatingSystem.IsLinux() || args.Length == 0 || args[0] is not ("server" or "up") ||
            Environment.GetEnvironmentVariable(Variable) is not null)
        {
            return;
        }
        string[] commandLine;
        try
        {
            // The host's own arguments included (e.g. `dotnet kiln.dll server …`), exactly as started.
            commandLine = Encoding.UTF8.GetString(File.ReadAllBytes("/proc/self/cmdline")).TrimEnd('\0').Split('\0');
        }
        catch (IOException)
        {
            return;
        }
        var environment = new List<string>();
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            environment.Add($"{entry.Key}={entry.Value}");
        }
        environment.Add($"{Variable}=0");
        var argv = ToNative(commandLine);
        var envp = ToNative(environment);
        RemoveDiagnosticsSocket();
        Execve("/proc/self/exe", argv, envp);
        // Only reached if the exec failed: run on with the precompiled code.
        Free(argv);
        Free(envp);
    }

    /// <summary>
    /// The runtime's diagnostics server (dotnet-trace, dotnet-counters, the agent enabling perf maps) listens on
    /// <c>$TMPDIR/dotnet-diagnostic-PID-START-socket</c>, named after the PID and the process's start time, which the
    /// exec keeps: this runtime's socket file must go, or the next runtime cannot listen there.
    /// </summary>
    private static void RemoveDiagnosticsSocket()
    {
        try
        {
            foreach (var socket in Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{Environment.ProcessId}-*-socket"))
            {
                File.Delete(socket);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next runtime then runs without its diagnostics server, as it would with a full /tmp.
        }
    }

    private static nint[] ToNative(IReadOnlyList<string> strings)
    {
        var pointers = new nint[strings.Count + 1];
        for (var i = 0; i < strings.Count; i++)
        {
            pointers[i] = Marshal.StringToCoTaskMemUTF8(strings[i]);
        }
        return pointers;
    }

    private static void Free(nint[] pointers)
    {
        foreach (var pointer in pointers)
        {
            Marshal.FreeCoTaskMem(pointer);
        }
    }

    [LibraryImport("libc", EntryPoint = "execve", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Execve(string path, nint[] argv, nint[] envp);
}
