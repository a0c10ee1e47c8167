using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using Kiln.Api.Query;
using Kiln.Bench;
using Kiln.Profiles;

namespace Kiln.Bench.Agent;

/// <summary>The three measurements; each returns one summary line and prints what it saw on the way.</summary>
internal sealed partial class Scenarios(string kilnDll, IReadOnlyDictionary<string, string> agentEnvironment, int warmupSeconds)
{
    private const string ProfileType = "parca_agent:samples:count:cpu:nanoseconds:delta";

    /// <summary>
    /// Two cpusplit processes keep both cores busy. First the agent at <paramref name="hz"/> (with a real server to
    /// ship to): its utime+stime and its perf_event program's BPF run time over <paramref name="seconds"/>, from the end
    /// of its first window. Then, over the same workload, `perf record -F hz -a -g -o /dev/null`: its utime+stime over
    /// the same span, from 10 s after its start. With a warm-up, both wait that much longer before measuring.
    /// </summary>
    public async Task<string> OverheadAsync(int hz, int seconds)
    {
        Console.WriteLine($"overhead at {hz} Hz, {seconds} s, both cores busy with two cpusplit processes");
        await using var workloads = new Workloads();
        var cpusplit = await workloads.CompileAsync("cpusplit", "cpusplit");
        for (var i = 0; i < 2; i++)
        {
            workloads.Start(cpusplit, [(3 * seconds + 300).ToString(CultureInfo.InvariantCulture)], readPid: true);
        }

        double agentPercent, bpfPercent, bpfNsPerSample, samplesPerSecond;
        string threadShares;
        string load;
        long rss;
        var dataDir = Directory.CreateTempSubdirectory("kiln-bench-agent-data-").FullName;
        try
        {
            await using var server = await ServerProcess.StartAsync(kilnDll, dataDir);
            using var stats = new BpfStats();
            await using var agent = await AgentProcess.StartAsync(kilnDll, server.Address, hz, agentEnvironment);
            await agent.WaitForWindowsAsync(1);
            await Task.Delay(TimeSpan.FromSeconds(warmupSeconds));
            var cpu0 = ProcFs.CpuTime(agent.Pid);
            var bpf0 = BpfStats.PerfEventPrograms(agent.Pid);
            var threads = ProcFs.ThreadCpuNs(agent.Pid);
            var clock = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(seconds));
            var cpu = ProcFs.CpuTime(agent.Pid) - cpu0;
            threadShares = ProcFs.ByThreadName(threads, ProcFs.ThreadCpuNs(agent.Pid));
            var bpf1 = BpfStats.PerfEventPrograms(agent.Pid);
            var wall = clock.Elapsed;
            load = ProcFs.LoadAverage();
            rss = ProcFs.StatusBytes(agent.Pid, "VmRSS");
            var bpfNs = bpf1.RunTimeNs - bpf0.RunTimeNs;
            var bpfRuns = bpf1.RunCount - bpf0.RunCount;
            agentPercent = 100 * cpu.TotalSeconds / wall.TotalSeconds;
            bpfPercent = 100 * bpfNs / 1e9 / wall.TotalSeconds;
            bpfNsPerSample = bpfRuns == 0 ? 0 : (double)bpfNs / bpfRuns;
            samplesPerSecond = bpfRuns / wall.TotalSeconds;
            Console.WriteLine($"  agent: utime+stime {cpu.TotalSeconds:F2} s over {wall.TotalSeconds:F1} s = {agentPercent:F3}% of one core; " +
                $"BPF {bpfNs / 1e6:F1} ms in {bpfRuns:N0} runs ({samplesPerSecond:F1}/s) = {bpfPercent:F3}% of one core, {bpfNsPerSample:F0} ns per sample; " +
                $"VmRSS {ProcFs.Mb(rss)}; load average {load}");
            Console.WriteLine($"  agent CPU by thread name (live threads, schedstat): {threadShares}");
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }

        var perf = workloads.Start("perf", ["record", "-F", hz.ToString(CultureInfo.InvariantCulture), "-e", "cpu-clock", "-a", "-g", "-o", "/dev/null", "-q"]);
        await Task.Delay(TimeSpan.FromSeconds(10 + warmupSeconds));
        var perfCpu0 = ProcFs.CpuTime(perf.Id);
        var perfNs0 = ProcFs.LiveThreadsCpuNs(perf.Id);
        var perfClock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        var perfCpu = ProcFs.CpuTime(perf.Id) - perfCpu0;
        var perfNs = ProcFs.LiveThreadsCpuNs(perf.Id) - perfNs0;
        var perfWall = perfClock.Elapsed;
        var perfLoad = ProcFs.LoadAverage();
        await Workloads.RunAsync("kill", ["-INT", perf.Id.ToString(CultureInfo.InvariantCulture)]);
        await perf.WaitForExitAsync();
        // perf is one thread that lives as long as the process, so its schedstat time is complete and finer than ticks.
        var perfPercent = 100 * perfNs / 1e9 / perfWall.TotalSeconds;
        Console.WriteLine($"  perf record -F {hz} -e cpu-clock -a -g -o /dev/null: utime+stime {perfCpu.TotalSeconds:F2} s, schedstat {perfNs / 1e6:F1} ms over {perfWall.TotalSeconds:F1} s = {perfPercent:F3}% of one core; load average {perfLoad}");
        var total = agentPercent + bpfPercent;
        var ratio = perfPercent > 0 ? (total / perfPercent).ToString("F2", CultureInfo.InvariantCulture) : "n/a";
        var ratioUser = perfPercent > 0 ? (agentPercent / perfPercent).ToString("F2", CultureInfo.InvariantCulture) : "n/a";
        Console.WriteLine($"  agent (process + BPF) {total:F3}% vs perf {perfPercent:F3}% of one core: ratio {ratio} (process alone {ratioUser})");
        return $"overhead {hz} Hz: agent process {agentPercent:F3}% + BPF {bpfPercent:F3}% = {total:F3}% of one core; BPF {bpfNsPerSample:F0} ns/sample ({samplesPerSecond:F1} samples/s); " +
            $"perf {perfPercent:F3}%; ratio {ratio} (process only {ratioUser}); agent VmRSS {ProcFs.Mb(rss)}; load {load} / {perfLoad}";
    }

    /// <summary>
    /// <paramref name="count"/> processes (four in five the C spinner, one in five a Python loop; each burns 4 ms every
    /// 500 ms at nice 10, so that together they want ~1.6 cores without starving the machine) are sampled by the agent
    /// at <paramref name="hz"/>; its VmRSS is read every second for <paramref name="seconds"/> after its first window.
    /// </summary>
    public async Task<string> MemoryAsync(int count, int hz, int seconds)
    {
        Console.WriteLine($"memory with {count} processes at {hz} Hz, {seconds} s");
        await using var workloads = new Workloads();
        var spin = await workloads.CompileAsync("spin", "kiln-spin");
        var lifetime = (seconds + 300).ToString(CultureInfo.InvariantCulture);
        const string python = "import time\nwhile True:\n    t = time.perf_counter()\n    while time.perf_counter() - t < 0.004: pass\n    time.sleep(0.496)\n";
        for (var i = 0; i < count; i++)
        {
            if (i % 5 == 4)
            {
                workloads.Start("nice", ["-n", "10", "python3", "-c", python]);
            }
            else
            {
                workloads.Start("nice", ["-n", "10", spin, lifetime, "4", "500"]);
            }
        }
        var dataDir = Directory.CreateTempSubdirectory("kiln-bench-agent-data-").FullName;
        try
        {
            await using var server = await ServerProcess.StartAsync(kilnDll, dataDir);
            await using var agent = await AgentProcess.StartAsync(kilnDll, server.Address, hz, agentEnvironment);
            await agent.WaitForWindowsAsync(1);
            var from = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            long maxRss = 0;
            var perWindow = new List<double>();
            var windows = await agent.MetricAsync("kiln_agent_windows_total");
            var built = await agent.MetricAsync("kiln_agent_profiles_built_total");
            while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
            {
                await Task.Delay(1000);
                maxRss = Math.Max(maxRss, ProcFs.StatusBytes(agent.Pid, "VmRSS"));
                var nowWindows = await agent.MetricAsync("kiln_agent_windows_total");
                if (nowWindows > windows)
                {
                    var nowBuilt = await agent.MetricAsync("kiln_agent_profiles_built_total");
                    perWindow.Add((nowBuilt - built) / (nowWindows - windows));
                    (windows, built) = (nowWindows, nowBuilt);
                }
            }
            var rss = ProcFs.StatusBytes(agent.Pid, "VmRSS");
            var hwm = ProcFs.StatusBytes(agent.Pid, "VmHWM");
            var load = ProcFs.LoadAverage();
            await agent.WaitForWindowsAsync(1);
            var distinct = await DistinctPidsAsync(server.Address, from, "{comm=~\"kiln-spin|python3\"}");
            var cachedProcesses = await agent.MetricAsync("kiln_agent_symbolizer_cached_processes");
            var cachedFiles = await agent.MetricAsync("kiln_agent_symbolizer_cached_files");
            // The two counters are read apart, so one window's profiles can land in the next reading: give the mean.
            var profiles = perWindow.Count == 0 ? "none" : $"{perWindow.Average():F0}";
            Console.WriteLine($"  agent VmRSS {ProcFs.Mb(rss)} at the end, max {ProcFs.Mb(maxRss)} while measured, VmHWM {ProcFs.Mb(hwm)}; " +
                $"profiles per window (every process on the host) {profiles}; distinct workload pids stored {distinct}; " +
                $"symbolizer holds {cachedProcesses} processes, {cachedFiles} files; load average {load}");
            return $"memory {count} processes {hz} Hz: VmRSS {ProcFs.Mb(rss)} (max {ProcFs.Mb(maxRss)}), VmHWM {ProcFs.Mb(hwm)}; profiles/window {profiles}; workload pids stored {distinct}; load {load}";
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    /// <summary>
    /// cpusplit runs for <paramref name="seconds"/> under the agent at <paramref name="hz"/> while
    /// `perf record -F hz -e cpu-clock --call-graph dwarf -p PID` records the same process; compares each function's
    /// self share (leaf samples) in the agent's stored profile with perf's `--no-children --sort sym` report.
    /// </summary>
    public async Task<string> FidelityAsync(int hz, int seconds)
    {
        Console.WriteLine($"fidelity: cpusplit for {seconds} s at {hz} Hz, agent vs perf --call-graph dwarf");
        await using var workloads = new Workloads();
        var cpusplit = await workloads.CompileAsync("cpusplit", "cpusplit");
        var dataDir = Directory.CreateTempSubdirectory("kiln-bench-agent-data-").FullName;
        var perfData = Path.Combine(dataDir, "perf.data");
        try
        {
            await using var server = await ServerProcess.StartAsync(kilnDll, dataDir);
            await using var agent = await AgentProcess.StartAsync(kilnDll, server.Address, hz, agentEnvironment);
            await agent.WaitForWindowsAsync(1);
            var from = DateTimeOffset.UtcNow;
            var workload = workloads.Start(cpusplit, [seconds.ToString(CultureInfo.InvariantCulture)], readPid: true);
            var perf = workloads.Start("perf", ["record", "-F", hz.ToString(CultureInfo.InvariantCulture), "-e", "cpu-clock", "--call-graph", "dwarf", "-p", workload.Id.ToString(CultureInfo.InvariantCulture), "-o", perfData, "-q"]);
            await workload.WaitForExitAsync();
            await perf.WaitForExitAsync();
            var load = ProcFs.LoadAverage();
            await agent.WaitForWindowsAsync(2);

            var agentShares = await AgentSelfSharesAsync(server.Address, workload.Id, from);
            var (code, report) = await Workloads.RunAsync("perf", ["report", "-i", perfData, "--stdio", "--no-children", "--sort", "sym", "-g", "none", "--percent-limit", "0"]);
            if (code != 0)
            {
                throw new InvalidOperationException($"perf report failed:\n{report}");
            }
            var perfShares = PerfSelfShares(report, out var perfSamples);
            Console.WriteLine($"  agent samples {agentShares.Samples}, perf samples {perfSamples}; load average {load}");
            Console.WriteLine("  function                      agent %   perf %   diff pp");
            var worst = 0.0;
            var worstName = "";
            foreach (var name in agentShares.Percent.Keys.Union(perfShares.Keys).OrderByDescending(n => Math.Max(agentShares.Percent.GetValueOrDefault(n), perfShares.GetValueOrDefault(n))))
            {
                var a = agentShares.Percent.GetValueOrDefault(name);
                var p = perfShares.GetValueOrDefault(name);
                if (Math.Abs(a - p) > Math.Abs(worst))
                {
                    (worst, worstName) = (a - p, name);
                }
                if (Math.Max(a, p) >= 0.1)
                {
                    Console.WriteLine($"  {name,-28} {a,8:F2} {p,8:F2} {a - p,9:F2}");
                }
            }
            string Pair(string fn) => $"{fn} {agentShares.Percent.GetValueOrDefault(fn):F2}% vs {perfShares.GetValueOrDefault(fn):F2}%";
            return $"fidelity {hz} Hz {seconds} s: {Pair("two_thirds")}, {Pair("one_third")}; largest difference {worst:+0.00;-0.00} pp ({worstName}); samples agent {agentShares.Samples} / perf {perfSamples}; load {load}";
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    /// <summary>The stored profile of one pid (Query MERGE, PPROF report), reduced to each leaf function's share of
    /// samples; a leaf with no function name counts as its address.</summary>
    private static async Task<(Dictionary<string, double> Percent, long Samples)> AgentSelfSharesAsync(string address, int pid, DateTimeOffset from)
    {
        using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        var client = new QueryService.QueryServiceClient(channel);
        var response = await client.QueryAsync(new QueryRequest
        {
            Mode = QueryRequest.Types.Mode.Merge,
            Merge = new MergeProfile
            {
                Query = $"{ProfileType}{{pid=\"{pid}\"}}",
                Start = Timestamp.FromDateTimeOffset(from.AddMinutes(-1)),
                End = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(1)),
            },
            ReportType = QueryRequest.Types.ReportType.Pprof,
        });
        var profile = PprofCodec.Decode(response.Pprof.Span);
        var functions = profile.Function.ToDictionary(f => f.Id, f => profile.StringTable[(int)f.Name]);
        var locations = profile.Location.ToDictionary(l => l.Id);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        foreach (var sample in profile.Sample)
        {
            if (sample.LocationId.Count == 0)
            {
                continue;
            }
            var leaf = locations[sample.LocationId[0]];
            // A location's lines list inlined frames first: the first line is the innermost function.
            var name = leaf.Line.Count > 0 ? functions[leaf.Line[0].FunctionId] : $"0x{leaf.Address:x}";
            counts[name] = counts.GetValueOrDefault(name) + sample.Value[0];
            total += sample.Value[0];
        }
        if (total == 0)
        {
            throw new InvalidOperationException($"the server holds no samples for pid {pid}");
        }
        return (counts.ToDictionary(c => c.Key, c => 100.0 * c.Value / total, StringComparer.Ordinal), total);
    }

    /// <summary>Self shares from `perf report --stdio --no-children --sort sym` lines like "  66.40%  [.] two_thirds".</summary>
    private static Dictionary<string, double> PerfSelfShares(string report, out string samples)
    {
        samples = "?";
        var shares = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in report.Split('\n'))
        {
            if (SamplesLine().Match(line) is { Success: true } header)
            {
                samples = header.Groups[1].Value; // perf rounds: "3K"
            }
            else if (ShareLine().Match(line) is { Success: true } m)
            {
                var name = m.Groups[2].Value;
                shares[name] = shares.GetValueOrDefault(name) + double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            }
        }
        return shares;
    }

    /// <summary>How many distinct pids the server stored for series matching <paramref name="match"/> since <paramref name="from"/>.</summary>
    private static async Task<int> DistinctPidsAsync(string address, DateTimeOffset from, string match)
    {
        using var channel = GrpcChannel.ForAddress(address);
        var client = new QueryService.QueryServiceClient(channel);
        var response = await client.ValuesAsync(new ValuesRequest
        {
            LabelName = "pid",
            Match = { match },
            Start = Timestamp.FromDateTimeOffset(from),
            End = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(1)),
        });
        return response.LabelValues.Count;
    }

    [GeneratedRegex(@"^\s*([0-9.]+)%\s+\[(?:\.|k|g|u)\]\s+(.+?)\s*$")]
    private static partial Regex ShareLine();

    [GeneratedRegex(@"^# Samples: (\S+)")]
    private static partial Regex SamplesLine();
}
