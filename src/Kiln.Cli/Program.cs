using System.CommandLine;
using Kiln.Cli;
using Kiln.Cli.Commands;
using Prometheus;

FrameworkCode.JitForServer(args);

// /metrics keeps process CPU, memory and GC figures (read when scraped) but not prometheus-net's EventCounter and
// Meter listeners: they wake threads every second, which costs the agent more CPU than its sampling does.
Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions { SuppressEventCounters = true, SuppressMeters = true, SuppressDebugMetrics = true });

var root = new RootCommand("Kiln: continuous profiling for Linux fleets.")
{
    ServerCommand.Create(),
    PushCommand.Create(),
    QueryCommand.Create(),
    AgentCommand.Create(),
    UpCommand.Create(),
};
// Ctrl-C / SIGTERM cancel the command's token; servers and agents then flush and send what they hold, which may
// take longer than System.CommandLine's default two seconds before it ends the process.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) };
return await root.Parse(args).InvokeAsync(invocation).ConfigureAwait(false);
