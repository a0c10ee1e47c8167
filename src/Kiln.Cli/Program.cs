using System.CommandLine;
using Kiln.Cli.Commands;

var root = new RootCommand("Kiln: continuous profiling for Linux fleets.")
{
    ServerCommand.Create(),
    PushCommand.Create(),
    QueryCommand.Create(),
};
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
