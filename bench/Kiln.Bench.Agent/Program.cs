using System.Globalization;
using Kiln.Bench;
using Kiln.Bench.Agent;

// Whole-process benchmark of the agent (run as root): its CPU while both cores are busy, against `perf record -a -g`
// over the same workload; its memory with 200 processes being sampled; and its profile of the C workload against
// `perf record --call-graph dwarf` of the same run.
//   dotnet bench/Kiln.Bench.Agent/bin/Release/net10.0/Kiln.Bench.Agent.dll [--scenarios overhead,memory,fidelity]
//     [--runs 2] [--seconds 60] [--hz 19,99] [--processes 200] [--memory-hz 99] [--fidelity-seconds 40] [--fidelity-hz 99]
//     [--warmup 0] [--agent-env NAME=VALUE,...]
var options = ParseArgs(args);
var scenarios = options.GetValueOrDefault("scenarios", "overhead,memory,fidelity").Split(',');
var runs = int.Parse(options.GetValueOrDefault("runs", "2"), CultureInfo.InvariantCulture);
var seconds = int.Parse(options.GetValueOrDefault("seconds", "60"), CultureInfo.InvariantCulture);
var frequencies = options.GetValueOrDefault("hz", "19,99").Split(',').Select(f => int.Parse(f, CultureInfo.InvariantCulture)).ToArray();
var processes = int.Parse(options.GetValueOrDefault("processes", "200"), CultureInfo.InvariantCulture);
var memoryHz = int.Parse(options.GetValueOrDefault("memory-hz", "99"), CultureInfo.InvariantCulture);
var fidelitySeconds = int.Parse(options.GetValueOrDefault("fidelity-seconds", "40"), CultureInfo.InvariantCulture);
var fidelityHz = int.Parse(options.GetValueOrDefault("fidelity-hz", "99"), CultureInfo.InvariantCulture);
var warmup = int.Parse(options.GetValueOrDefault("warmup", "0"), CultureInfo.InvariantCulture);
// Extra environment for the agent (runtime knobs to try), e.g. DOTNET_TieredPGO=0,DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0
var agentEnvironment = options.GetValueOrDefault("agent-env", "").Split(',', StringSplitOptions.RemoveEmptyEntries)
    .Select(pair => pair.Split('=', 2)).ToDictionary(pair => pair[0], pair => pair[1], StringComparer.Ordinal);

if (!Environment.IsPrivilegedProcess)
{
    Console.Error.WriteLine("run as root: the agent loads BPF programs, perf samples every CPU, and kernel.bpf_stats_enabled is a sysctl");
    return 2;
}
var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
var kilnDll = Path.Combine(root, "src/Kiln.Cli/bin/Release/net10.0/kiln.dll");
if (!File.Exists(kilnDll))
{
    Console.Error.WriteLine($"build the CLI first: dotnet build -c Release src/Kiln.Cli -p:KilnSkipUi=true ({kilnDll} is missing)");
    return 2;
}
var bench = new Scenarios(kilnDll, agentEnvironment, warmup);
var table = new List<string>();
foreach (var scenario in scenarios)
{
    for (var run = 1; run <= runs; run++)
    {
        switch (scenario)
        {
            case "overhead":
                foreach (var hz in frequencies)
                {
                    table.Add(await bench.OverheadAsync(hz, seconds));
                }
                break;
            case "memory":
                table.Add(await bench.MemoryAsync(processes, memoryHz, seconds));
                break;
            case "fidelity":
                table.Add(await bench.FidelityAsync(fidelityHz, fidelitySeconds));
                break;
            default:
                Console.Error.WriteLine($"unknown scenario '{scenario}': use overhead, memory or fidelity");
                return 2;
        }
    }
}
Console.WriteLine();
Console.WriteLine("summary:");
foreach (var line in table)
{
    Console.WriteLine(line);
}
return 0;

static Dictionary<string, string> ParseArgs(string[] args)
{
    var result = new Dictionary<string, string>(StringComparer.Ordinal);
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        result[args[i].TrimStart('-')] = args[i + 1];
    }
    return result;
}
