using System.Globalization;
using Kiln.Server.Tests;
using Profile = Kiln.Profiles.Pprof.Profile;

namespace Kiln.Agent.Tests.EndToEnd;

/// <summary>
/// One real server and one real agent profiling programs whose stacks only .eh_frame can unwind (issue 5), in two
/// phases so that each busy process has about one of the two cores: first tests/workloads/chainsplit built twice,
/// by gcc-12 -O2 without frame pointers and by clang-14 with exact frame pointers (the reference); then Debian's
/// python3 running tests/workloads/pysplit under <c>perf record --call-graph dwarf</c>, beside bash running a busy
/// loop. Started by the first test that asks (<see cref="StartedAsync"/>), so a class whose tests are all skipped
/// costs nothing.
/// </summary>
public sealed class UnwindingFixture : IAsyncLifetime
{

    /// <summary>
    /// As <see cref="ProfiledHostFixture.Frequency"/>: chainsplit runs 12 s and python 10 s, each with about a core,
    /// some 10,000 samples each (6,000 on a machine busy with other work). A 2:1 ratio from n samples has a relative
    /// standard deviation of √(4.5/n), 2.1% at 10,000, so two builds' ratios agree within ±10% but for chance
    /// one run in a thousand; two independent estimates of a 50% self share from 10,000 samples each differ by
    /// 0.7 points at one standard deviation, well inside ±3.
    /// </summary>
    public const int Frequency = 997;

    /// <summary>Debian's interpreter, not whatever `python3` is first on PATH (pyenv shims on this machine).</summary>
    public const string Python = "/usr/bin/python3";

    /// <summary>The file <see cref="Python"/> links to (/usr/bin/python3.11 on Debian 12), as /proc/PID/maps names it.</summary>
    public static string PythonExecutable => new FileInfo(Python).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Python;

    private static readonly string[] s_gccFlags = ["-O2", "-fomit-frame-pointer", "-fno-optimize-sibling-calls"];
    private static readonly string[] s_clangFlags = ["-O2", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer", "-fno-optimize-sibling-calls"];

    private readonly Lazy<Task> _run;
    private KilnProcess? _server;
    private AgentProcess? _agent;

    public UnwindingFixture() => _run = new(RunAsync);

    public int GccPid { get; private set; }

    public int ClangPid { get; private set; }

    public int PythonPid { get; private set; }

    public int BashPid { get; private set; }

    /// <summary>perf's recording of the python process over its whole run.</summary>
    internal PerfDwarfRecording Perf { get; private set; } = null!;

    public DateTimeOffset Started { get; private set; }

    public string AgentOutput => _agent?.Output ?? "";

    /// <summary>The agent's sample and lost-sample counters after the run (all processes on the host): a sample
    /// whose stack was lost (e.g. a stack-map collision) shows as a stack without frames.</summary>
    public string SampleCounters { get; private set; } = "";

    /// <summary>chainsplit built by gcc-12 -O2 without frame pointers (compiled once per test run).</summary>
    internal static Task<string> CompileGccAsync() => Workload.CompileAsync("chainsplit", "chainsplit-gcc", "gcc-12", s_gccFlags);

    /// <summary>chainsplit built by clang-14 -O2 with exact frame pointers, the reference.</summary>
    internal static Task<string> CompileClangAsync() => Workload.CompileAsync("chainsplit", "chainsplit-clang", "clang-14", s_clangFlags);

    /// <summary>Runs the workloads under the agent once; every test awaits this first.</summary>
    public Task StartedAsync() => _run.Value;

    public Task InitializeAsync() => Task.CompletedTask;

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

    private async Task RunAsync()
    {
        // Compile first so that the compilers do not compete with the workloads for the two cores.
        var gccBinary = await CompileGccAsync();
        var clangBinary = await CompileClangAsync();
        Started = DateTimeOffset.UtcNow;
        _server = await KilnProcess.StartAsync();
        _agent = await AgentProcess.StartAsync(_server.Address, "--sampling-frequency", Frequency.ToString(CultureInfo.InvariantCulture));

        await using (var gcc = Workload.Start(gccBinary, "12"))
        await using (var clang = Workload.Start(clangBinary, "12"))
        {
            (GccPid, ClangPid) = (gcc.Pid, clang.Pid);
            await gcc.WaitForExitAsync();
            await clang.WaitForExitAsync();
        }

        // A process whose binary the agent has never seen is walked with frame pointers until the agent has built
        // the binary's unwind table: its first 40-70 ms here (python3.11's table takes that long on a busy core),
        // 1-3 % of a 10 s run. On a host the same binaries run again and again and their tables are kept 5 minutes
        // after their last process exits, so the measured runs start after a short run of each interpreter.
        await ExternalProcess.RunAsync(Python, ["-c", "import time\nt = time.time()\nwhile time.time() - t < 0.3: pass"]);
        await ExternalProcess.RunAsync("/bin/bash", ["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"]);
        await Task.Delay(TimeSpan.FromSeconds(2));

        var perfDirectory = KilnProcess.CreateTempDirectory("kiln-perf-");
        try
        {
            var perfData = Path.Combine(perfDirectory, "perf.data");
            await using var python = Workload.Start(Python, Path.Combine(AppContext.BaseDirectory, "Workloads", "pysplit.py"), "10");
            // Builtins only (no fork) for about 6 s: $SECONDS counts from the shell's start.
            await using var bash = Workload.Start("/bin/bash", "-c", "echo $$; i=0; while [ $SECONDS -lt 6 ]; do i=$((i+1)); done");
            (PythonPid, BashPid) = (python.Pid, bash.Pid);
            // perf attaches once python has printed its pid (after its imports) and ends when python exits.
            var perf = PerfDwarfRecording.Start(python.Pid, Frequency, perfData);
            await python.WaitForExitAsync();
            await bash.WaitForExitAsync();
            Perf = await PerfDwarfRecording.ReadAsync(await perf, perfData);
        }
        finally
        {
            // About 80 MB: 8 KiB of stack per sample.
            KilnProcess.TryDeleteDirectory(perfDirectory);
        }
        // The window in which they exited, and the next, are symbolized and sent.
        await _agent.WaitForWindowsAsync(2, TimeSpan.FromSeconds(60));
        SampleCounters = $"{await _agent.MetricLinesAsync("kiln_agent_samples_total")}\n{await _agent.MetricLinesAsync("kiln_agent_lost_samples_total")}";
    }
}
