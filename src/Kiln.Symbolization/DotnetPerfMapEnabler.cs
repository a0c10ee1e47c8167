using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kiln.Symbolization;

/// <summary>What <see cref="DotnetPerfMapEnabler.TryEnable"/> did for a process.</summary>
public enum PerfMapEnableResult
{
    /// <summary>The process does not load libcoreclr.so.</summary>
    NotDotnet,

    /// <summary>The runtime is older than .NET 8, which has no perf-map IPC command.</summary>
    UnsupportedRuntime,

    /// <summary><c>DOTNET_PerfMapEnabled</c> (or <c>COMPlus_PerfMapEnabled</c>) is set: the owner chose; left alone.</summary>
    ConfiguredByEnvironment,

    /// <summary>This process (pid + start time) was handled before.</summary>
    AlreadyHandled,

    /// <summary>No diagnostics socket (e.g. <c>DOTNET_EnableDiagnostics=0</c>).</summary>
    NoDiagnosticsSocket,

    /// <summary>The runtime accepted the command and now writes /tmp/perf-PID.map in its own root.</summary>
    Enabled,

    /// <summary>The IPC exchange failed; see the log.</summary>
    Failed,

    /// <summary>The process is gone or its /proc files are unreadable.</summary>
    ProcessUnavailable,
}

/// <summary>
/// Asks .NET 8+ processes that did not configure perf maps to start writing one, over the runtime's diagnostics IPC
/// socket (<c>dotnet-diagnostic-NSPID-*-socket</c> in the process's temp directory, seen through /proc/PID/root), so
/// their JIT frames can be named without a restart. Each process is tried until the outcome is final: a process whose
/// .NET host has not loaded the runtime yet, or whose runtime has not opened its socket yet, is tried again on the next
/// call. Thread-safe.
/// </summary>
public sealed partial class DotnetPerfMapEnabler(ILogger<DotnetPerfMapEnabler>? logger = null, string procRoot = "/proc")
{
    // The diagnostics IPC wire format: a 20-byte header ("DOTNET_IPC_V1\0", uint16 size, command set, command id,
    // uint16 reserved). Process command set 0x04, EnablePerfMap 0x05; responses use set 0xFF with id 0x00 (OK).
    private static ReadOnlySpan<byte> Magic => "DOTNET_IPC_V1\0"u8;
    private const byte ProcessCommandSet = 0x04;
    private const byte EnablePerfMapCommand = 0x05;
    private const byte ServerCommandSet = 0xFF;
    private const byte ServerOk = 0x00;

    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private readonly HashSet<(int Pid, ulong StartTime)> _handled = [];
    // Perf-map files of processes this enabler turned on (in our own mount namespace), removed once they exit.
    private readonly Dictionary<int, string[]> _written = [];
    private string? _ownMountNamespace;
    private readonly Lock _gate = new();

    /// <summary>For tests: always speak the IPC protocol directly instead of through DiagnosticsClient.</summary>
    internal bool ForceRawIpc { get; set; }

    /// <summary>Looks at the process and, when it is a .NET 8+ runtime without perf-map settings, enables its perf map.
    /// Pass the process's mappings when already at hand to save a read of /proc/PID/maps.</summary>
    public PerfMapEnableResult TryEnable(int pid, IReadOnlyList<Mapping>? mappings = null)
    {
        var start = ProcFs.ReadStartTime(pid, procRoot);
        if (start == null) return PerfMapEnableResult.ProcessUnavailable;
        lock (_gate)
        {
            if (_handled.Contains((pid, start.Value))) return PerfMapEnableResult.AlreadyHandled;
            var result = Decide(pid, mappings, out var final);
            // A process seen in its first seconds may be the .NET host before it mapped anything .NET.
            if (result == PerfMapEnableResult.NotDotnet && final && ProcFs.ProcessAge(start.Value, procRoot) < s_hostStartup)
                final = false;
            if (final) _handled.Add((pid, start.Value));
            return result;
        }
    }

    private static readonly TimeSpan s_hostStartup = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Forgets processes handled before so the set does not grow without bound; pass the live pids. The perf maps
    /// that processes wrote because this enabler asked them to are deleted once the processes are gone: the runtime
    /// never removes them, and a build machine's compilers and test hosts otherwise leave gigabytes in /tmp. Call it
    /// after the window holding the processes' last samples was symbolized (the symbolizer keeps an open map readable).
    /// </summary>
    public void Retain(IReadOnlySet<int> livePids)
    {
        List<string>? remove = null;
        lock (_gate)
        {
            _handled.RemoveWhere(h => !livePids.Contains(h.Pid));
            foreach (var (pid, files) in _written)
            {
                if (livePids.Contains(pid)) continue;
                (remove ??= []).AddRange(files);
                _written.Remove(pid);
            }
        }
        foreach (var file in remove ?? [])
        {
            try
            {
                File.Delete(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    private PerfMapEnableResult Decide(int pid, IReadOnlyList<Mapping>? mappings, out bool final)
    {
        var result = Examine(pid, mappings, out var hostLoading);
        final = result switch
        {
            // The .NET host (libhostfxr) loads libcoreclr with dlopen, and the runtime opens its socket during startup.
            PerfMapEnableResult.NotDotnet => !hostLoading,
            PerfMapEnableResult.NoDiagnosticsSocket or PerfMapEnableResult.ProcessUnavailable => false,
            _ => true,
        };
        return result;
    }

    private PerfMapEnableResult Examine(int pid, IReadOnlyList<Mapping>? mappings, out bool hostLoading)
    {
        hostLoading = false;
        try
        {
            mappings ??= ProcMaps.Read(pid, procRoot);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return PerfMapEnableResult.ProcessUnavailable;
        }
        string? coreclr = null;
        foreach (var m in mappings)
        {
            if (m.FilePath.EndsWith("/libcoreclr.so", StringComparison.Ordinal)) { coreclr = m.FilePath; break; }
            if (m.FilePath.EndsWith("/libhostfxr.so", StringComparison.Ordinal)) hostLoading = true;
        }
        if (coreclr == null) return PerfMapEnableResult.NotDotnet;
        if (RuntimeMajorVersion(coreclr) is int major && major < 8) return PerfMapEnableResult.UnsupportedRuntime;

        var env = ProcFs.ReadEnvironment(pid, procRoot);
        if (env == null) return PerfMapEnableResult.ProcessUnavailable;
        if (env.ContainsKey("DOTNET_PerfMapEnabled") || env.ContainsKey("COMPlus_PerfMapEnabled"))
            return PerfMapEnableResult.ConfiguredByEnvironment;

        var nspid = ProcFs.ReadNamespacePid(pid, procRoot);
        var tmp = env.TryGetValue("TMPDIR", out var t) && t.StartsWith('/') ? t.TrimEnd('/') : "/tmp";
        var socket = FindSocket($"{procRoot}/{pid.ToString(CultureInfo.InvariantCulture)}/root{tmp}", nspid);
        if (socket == null) return PerfMapEnableResult.NoDiagnosticsSocket;

        try
        {
            // DiagnosticsClient finds the socket by pid in our own temp directory: usable when the target shares
            // our pid namespace and /tmp. Otherwise (containers) talk to the socket through /proc/PID/root.
            var local = Path.Combine(Path.GetTempPath(), Path.GetFileName(socket));
            if (!ForceRawIpc && nspid == pid && File.Exists(local))
                new DiagnosticsClient(pid).EnablePerfMap(PerfMapType.All);
            else
                EnableOverSocket(socket);
            LogEnabled(_logger, pid, socket);
            // Same mount namespace: its /tmp is ours, so its files can be deleted by path after it exits.
            if (SameMountNamespace(pid))
            {
                var n = nspid.ToString(CultureInfo.InvariantCulture);
                _written[pid] = [$"{tmp}/perf-{n}.map", $"{tmp}/perfinfo-{n}.map"];
            }
            return PerfMapEnableResult.Enabled;
        }
        catch (Exception e) when (e is IOException or SocketException or ServerErrorException or UnsupportedCommandException
                                   or TimeoutException or InvalidOperationException or UnauthorizedAccessException)
        {
            LogFailed(_logger, pid, socket, e.Message);
            return PerfMapEnableResult.Failed;
        }
    }

    private bool SameMountNamespace(int pid)
    {
        _ownMountNamespace ??= MountNamespace("self") ?? "";
        var theirs = MountNamespace(pid.ToString(CultureInfo.InvariantCulture));
        return theirs != null && theirs == _ownMountNamespace;
    }

    // The link text of /proc/PID/ns/mnt ("mnt:[4026531841]"), or null when unreadable.
    private string? MountNamespace(string pid)
    {
        try
        {
            return new FileInfo($"{procRoot}/{pid}/ns/mnt").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static int? RuntimeMajorVersion(string coreclrPath)
    {
        // Shared framework layout: .../shared/Microsoft.NETCore.App/8.0.11/libcoreclr.so. Self-contained apps carry
        // no version in the path: unknown, and the IPC answer decides.
        var dir = Path.GetFileName(Path.GetDirectoryName(coreclrPath));
        if (dir == null) return null;
        var dot = dir.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && int.TryParse(dir.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? major : null;
    }

    private static string? FindSocket(string tmpDir, int nspid)
    {
        string? best = null;
        var bestTime = DateTime.MinValue;
        try
        {
            foreach (var path in Directory.EnumerateFiles(tmpDir, $"dotnet-diagnostic-{nspid.ToString(CultureInfo.InvariantCulture)}-*-socket"))
            {
                // Stale sockets of an earlier process with the same pid can linger: the newest is the live one.
                var time = File.GetLastWriteTimeUtc(path);
                if (time > bestTime) (best, bestTime) = (path, time);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return best;
    }

    private static void EnableOverSocket(string socketPath)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.ReceiveTimeout = 3000;
        socket.SendTimeout = 3000;
        socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        Span<byte> request = stackalloc byte[24];
        Magic.CopyTo(request);
        BinaryPrimitives.WriteUInt16LittleEndian(request[14..], (ushort)request.Length);
        request[16] = ProcessCommandSet;
        request[17] = EnablePerfMapCommand;
        BinaryPrimitives.WriteUInt16LittleEndian(request[18..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(request[20..], (uint)PerfMapType.All);
        socket.Send(request);

        Span<byte> response = stackalloc byte[24];
        var got = 0;
        while (got < response.Length)
        {
            var n = socket.Receive(response[got..]);
            if (n == 0) break;
            got += n;
        }
        if (got < 20 || !response[..14].SequenceEqual(Magic))
            throw new IOException($"diagnostics IPC at {socketPath}: short or malformed response ({got} bytes)");
        if (response[16] != ServerCommandSet || response[17] != ServerOk)
        {
            var hr = got >= 24 ? BinaryPrimitives.ReadUInt32LittleEndian(response[20..]) : 0;
            throw new IOException($"diagnostics IPC at {socketPath}: EnablePerfMap refused (command 0x{response[16]:x2}/0x{response[17]:x2}, hresult 0x{hr:x8})");
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Enabled the .NET perf map of pid {Pid} through {Socket}")]
    private static partial void LogEnabled(ILogger logger, int pid, string socket);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Could not enable the .NET perf map of pid {Pid} through {Socket}: {Reason}")]
    private static partial void LogFailed(ILogger logger, int pid, string socket, string reason);
}
