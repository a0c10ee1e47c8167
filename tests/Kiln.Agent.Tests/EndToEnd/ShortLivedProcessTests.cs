using Kiln.Server.Tests;
using Xunit.Abstractions;

namespace Kiln.Agent.Tests.EndToEnd;

/// <summary>A process that exits long before its window is drained is still symbolized and labelled.</summary>
public sealed class ShortLivedProcessTests(ITestOutputHelper output)
{
    [RootFact]
    public async Task A_process_that_exited_before_its_window_ended_is_symbolized_and_labelled()
    {
        await Workload.CompileAsync("cpusplit");
        await using var server = await KilnProcess.StartAsync();
        // 20 s windows: the workload starts right after the agent and is gone some 15 s before its window is drained.
        await using var agent = await AgentProcess.StartAsync(server.Address, "--sampling-frequency", "499", "--profiling-duration", "20s");
        var started = DateTimeOffset.UtcNow;
        int pid;
        await using (var workload = await Workload.StartNativeAsync("cpusplit", 2))
        {
            pid = workload.Pid;
            await workload.WaitForExitAsync();
        }
        Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} still exists");
        await agent.WaitForWindowsAsync(1, TimeSpan.FromSeconds(90));

        // The selector names labels read from /proc: a profile labelled from the kernel's comm alone would not match.
        var profile = await MergedProfile.QueryAsync(server, $"pid=\"{pid}\",comm=\"cpusplit\",executable=~\".*/cpusplit\"", started);
        var stacks = NamedStack.All(profile);
        var total = stacks.Sum(s => s.Value);
        var named = stacks.Where(s => s.HasChain("step", "run_workload", "main")).Sum(s => s.Value);
        foreach (var stack in stacks.OrderByDescending(s => s.Value).Take(5))
        {
            output.WriteLine(stack.ToString());
        }
        output.WriteLine($"total {total}, under main → run_workload → step {named}");
        Assert.True(total >= 200, $"only {total} samples for pid {pid}\n{agent.Output}");
        // The rest are the first samples, taken in the parent's image between fork and exec.
        Assert.True(named >= 0.8 * total, $"only {named} of {total} samples were symbolized up to main\n{agent.Output}");
    }

    [RootFact]
    public async Task The_perf_map_the_agent_turned_on_is_named_from_and_then_deleted_after_the_process_exits()
    {
        await using var server = await KilnProcess.StartAsync();
        await using var agent = await AgentProcess.StartAsync(server.Address, "--sampling-frequency", "199", "--profiling-duration", "5s");
        var started = DateTimeOffset.UtcNow;
        int pid;
        await using (var workload = Workload.StartDotnetHot(12))
        {
            pid = workload.Pid;
            await workload.WaitForExitAsync();
        }
        var map = $"/tmp/perf-{pid}.map";
        // Its last samples are symbolized at the end of the window it exited in; the map is deleted after that.
        await agent.WaitForWindowsAsync(2, TimeSpan.FromSeconds(60));
        Assert.False(File.Exists(map), $"{map} is still there after process {pid} exited\n{agent.Output}");

        var stacks = NamedStack.All(await MergedProfile.QueryAsync(server, $"pid=\"{pid}\"", started));
        var hot = stacks.Where(s => s.Functions.Any(f => f.Contains("KilnWorkload.HotLoop::Spin", StringComparison.Ordinal))).Sum(s => s.Value);
        output.WriteLine($"total {stacks.Sum(s => s.Value)}, in HotLoop::Spin {hot}");
        Assert.True(hot >= 100, $"only {hot} samples name KilnWorkload.HotLoop::Spin for pid {pid}\n{agent.Output}");
    }
}
