using Kiln.Server.Tests;
using Profile = Kiln.Profiles.Pprof.Profile;

namespace Kiln.Agent.Tests.EndToEnd;

/// <summary>
/// One real server and one real agent profiling the host while three workloads run side by side: the C program
/// with a 2:1 split, the syscall-heavy C program and the .NET program with a hot method. Tests then read what a
/// user would: the merged profile of each workload's pid, through the server's Query API. Does nothing without
/// root (the tests using it are skipped then).
/// </summary>
public sealed class ProfiledHostFixture : IAsyncLifetime
{
    public const string ProfileType = "parca_agent:samples:count:cpu:nanoseconds:delta";

    /// <summary>
    /// Near the 1000 Hz maximum so that a few seconds give enough samples for a ±10% ratio: with n samples split
    /// 2:1 the ratio's standard deviation is about 4.2/√n, i.e. 0.15 at 800 samples (a ±0.2 band would fail one run
    /// in five by chance alone) and under 0.06 at the ~5,000 samples one busy thread gets in 8 s at 997 Hz on
    /// shared cores.
    /// </summary>
    public const int Frequency = 997;

    private KilnProcess? _server;
    private AgentProcess? _agent;

    public int CpuSplitPid { get; private set; }

    public int SyscallsPid { get; private set; }

    public int DotnetPid { get; private set; }

    public DateTimeOffset Started { get; private set; }

    public string AgentOutput => _agent?.Output ?? "";

    public async Task InitializeAsync()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            return;
        }
        // Compile first so that clang does not compete with the workloads for the two cores.
        await Workload.CompileAsync("cpusplit");
        await Workload.CompileAsync("syscalls");
        Started = DateTimeOffset.UtcNow;
        _server = await KilnProcess.StartAsync();
        _agent = await AgentProcess.StartAsync(_server.Address, "--sampling-frequency", Frequency.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await using var cpusplit = await Workload.StartNativeAsync("cpusplit", 8);
        await using var syscalls = await Workload.StartNativeAsync("syscalls", 8);
        await using var dotnet = Workload.StartDotnetHot(10);
        (CpuSplitPid, SyscallsPid, DotnetPid) = (cpusplit.Pid, syscalls.Pid, dotnet.Pid);
        await cpusplit.WaitForExitAsync();
        await syscalls.WaitForExitAsync();
        await dotnet.WaitForExitAsync();
        // The window in which they exited, and the next, are symbolized and sent.
        await _agent.WaitForWindowsAsync(2, TimeSpan.FromSeconds(60));
    }

    /// <summary>The merged profile of one process over the whole run, as the server returns it (PPROF report).</summary>
    public Task<Profile> ProfileOfAsync(int pid) => MergedProfile.QueryAsync(_server!, $"pid=\"{pid}\"", Started);

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
