using System.CommandLine;
using Kiln.Agent.Hosting;
using Kiln.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln up</c>: the server with its embedded store and an agent profiling this host, in one process.</summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var serverDefaults = new KilnServerOptions();
        var agentDefaults = new AgentOptions();
        var flags = new AgentCommand.SamplingFlags();
        var httpAddress = new Option<string>("--http-address") { Description = "Address of the server: UI, gRPC, REST, /metrics (use 0.0.0.0:7070 to open it to other machines)", DefaultValueFactory = _ => "127.0.0.1:7070" };
        var dataDir = new Option<string>("--data-dir") { Description = "Directory of the embedded database", DefaultValueFactory = _ => serverDefaults.DataDirectory };
        var retention = new Option<string>("--retention") { Description = "Delete samples older than this (e.g. 15d, 36h)", DefaultValueFactory = _ => "15d" };
        var agentAddress = new Option<string>("--agent-http-address") { Description = "Address of the agent's /metrics and /healthz", DefaultValueFactory = _ => agentDefaults.HttpAddress };
        var command = new Command("up", "Run the server (embedded store) and an agent profiling this whole host; open the printed address to see flame graphs.")
        {
            httpAddress, dataDir, retention, agentAddress,
        };
        foreach (var option in flags.All)
        {
            command.Options.Add(option);
        }
        command.SetAction(async (parse, cancellationToken) =>
        {
            var server = new KilnServerOptions { HttpAddress = parse.GetValue(httpAddress)!, DataDirectory = parse.GetValue(dataDir)! };
            var retentionText = parse.GetValue(retention)!;
            if (!KilnServerOptions.TryParseDuration(retentionText, out var retentionSpan))
            {
                return Fail($"--retention '{retentionText}' is not a duration; use e.g. 15d, 36h, 90m");
            }
            server.Retention = retentionSpan;
            var agent = new AgentOptions { HttpAddress = parse.GetValue(agentAddress)! };
            if (flags.Apply(parse, agent) is { } error)
            {
                return Fail(error);
            }
            return await Run(server, agent, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> Run(KilnServerOptions serverOptions, AgentOptions agentOptions, CancellationToken cancellationToken)
    {
        // This command decides the stopping order (agent first, so its last window reaches the store), so neither
        // application reacts to Ctrl-C on its own.
        static void Unmanaged(WebApplicationBuilder builder) => builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        static void UnmanagedAgent(HostApplicationBuilder builder) => builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();

        var serverErrors = serverOptions.Validate();
        if (serverErrors.Count > 0)
        {
            return Fail(string.Join(Environment.NewLine, serverErrors));
        }
        var url = KilnServer.DisplayUrl(serverOptions);
        agentOptions.Shipping.RemoteStoreAddress = url;
        if (!AgentCommand.TryBuild(agentOptions, UnmanagedAgent, out var agent, out var exitCode))
        {
            return exitCode;
        }
        using (agent)
        {
            WebApplication server;
            try
            {
                server = KilnServer.Build(serverOptions, configure: Unmanaged);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                return Fail(e.Message);
            }
            await using (server.ConfigureAwait(false))
            {
                try
                {
                    await server.StartAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    return Fail($"cannot listen on {serverOptions.HttpAddress}: {e.Message}. Is another Kiln running? Choose another with --http-address");
                }
                try
                {
                    await agent.StartAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    await server.StopAsync(CancellationToken.None).ConfigureAwait(false);
                    return Fail($"cannot listen on {agentOptions.HttpAddress}: {e.Message}. Is an agent already running? Choose another with --agent-http-address");
                }
                await Console.Out.WriteLineAsync(
                    $"Kiln is up: open {url} to see where this machine's CPU goes (first profiles after {agentOptions.Sampling.ProfilingDuration.TotalSeconds:F0} s). " +
                    $"Data in {Path.GetFullPath(serverOptions.DataDirectory)}. Ctrl-C stops.").ConfigureAwait(false);

                var stopping = new TaskCompletionSource();
                using (cancellationToken.Register(() => stopping.TrySetResult()))
                using (agent.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => stopping.TrySetResult()))
                using (server.Lifetime.ApplicationStopping.Register(() => stopping.TrySetResult()))
                {
                    await stopping.Task.ConfigureAwait(false);
                }
                await agent.StopAsync(CancellationToken.None).ConfigureAwait(false);
                await server.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        return Environment.ExitCode == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"kiln up: {message}");
        return ExitCodes.Usage;
    }

    /// <summary>A host lifetime that leaves starting and stopping to the command.</summary>
    private sealed class CommandLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
