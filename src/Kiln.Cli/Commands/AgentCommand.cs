using System.CommandLine;
using Kiln.Agent;
using Kiln.Agent.Hosting;
using Kiln.Agent.Labels;
using Kiln.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln agent</c>: profile every process on this host with eBPF and ship the profiles to a server.</summary>
internal static class AgentCommand
{
    /// <summary>The flags that shape sampling and shipping, shared by <c>kiln agent</c> and <c>kiln up</c>.</summary>
    internal sealed class SamplingFlags
    {
        private readonly AgentOptions _defaults = new();

        public Option<int> Frequency { get; } = new("--sampling-frequency") { Description = "Samples per second per CPU (1–1000)", DefaultValueFactory = _ => 19 };
        public Option<string> Duration { get; } = new("--profiling-duration") { Description = "Length of one profiling window (e.g. 10s, 1m)", DefaultValueFactory = _ => "10s" };
        public Option<string?> ConfigPath { get; } = new("--config-path") { Description = "YAML file with relabel_configs (Prometheus semantics)" };
        public Option<string> Node { get; } = new("--node") { Description = "The node label of every profile (default: the host name)" };

        public IEnumerable<Option> All => [Frequency, Duration, ConfigPath, Node];

        /// <summary>Applies the parsed flags to <paramref name="options"/>; returns an error message or null.</summary>
        public string? Apply(ParseResult parse, AgentOptions options)
        {
            options.Sampling.SamplingFrequency = parse.GetValue(Frequency);
            var duration = parse.GetValue(Duration)!;
            if (!KilnServerOptions.TryParseDuration(duration, out var span))
            {
                return $"--profiling-duration '{duration}' is not a duration; use e.g. 10s, 1m";
            }
            options.Sampling.ProfilingDuration = span;
            options.ConfigPath = parse.GetValue(ConfigPath);
            options.Node = parse.GetValue(Node) ?? _defaults.Node;
            return null;
        }
    }

    public static Command Create()
    {
        var defaults = new AgentOptions();
        var flags = new SamplingFlags();
        var remote = new Option<string>("--remote-store-address") { Description = "The Kiln (or Parca) server to send profiles to", DefaultValueFactory = _ => defaults.Shipping.RemoteStoreAddress };
        var token = new Option<string?>("--bearer-token") { Description = "Sent as 'authorization: Bearer TOKEN' with every request" };
        var tokenFile = new Option<string?>("--bearer-token-file") { Description = "File holding the bearer token (read at start)" };
        var insecure = new Option<bool>("--insecure-skip-verify") { Description = "Accept any TLS certificate from the server (testing only)" };
        var bufferSize = new Option<int>("--buffer-size") { Description = "Windows kept while the server is unreachable; older ones are dropped beyond it", DefaultValueFactory = _ => defaults.Shipping.BufferSize };
        var httpAddress = new Option<string>("--http-address") { Description = "Address of the agent's /metrics and /healthz", DefaultValueFactory = _ => defaults.HttpAddress };
        var command = new Command("agent", "Profile every process on this host with eBPF and send the profiles to a server (needs root, or CAP_BPF + CAP_PERFMON).")
        {
            remote, token, tokenFile, insecure, bufferSize, httpAddress,
        };
        foreach (var option in flags.All)
        {
            command.Options.Add(option);
        }
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new AgentOptions { HttpAddress = parse.GetValue(httpAddress)! };
            if (flags.Apply(parse, options) is { } error)
            {
                return Fail(error);
            }
            options.Shipping.RemoteStoreAddress = parse.GetValue(remote)!;
            options.Shipping.InsecureSkipVerify = parse.GetValue(insecure);
            options.Shipping.BufferSize = parse.GetValue(bufferSize);
            options.Shipping.BearerToken = parse.GetValue(token);
            if (parse.GetValue(tokenFile) is { } file)
            {
                try
                {
                    options.Shipping.BearerToken = File.ReadAllText(file).Trim();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return Fail($"--bearer-token-file '{file}' cannot be read: {e.Message}");
                }
            }
            if (!TryBuild(options, null, out var app, out var exitCode))
            {
                return exitCode;
            }
            using (app)
            {
                try
                {
                    await app.StartAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    return Fail($"cannot listen on {options.HttpAddress}: {e.Message}. Is another agent running? Choose another with --http-address");
                }
                await Console.Out.WriteLineAsync($"Kiln agent on {options.Node}: sampling every CPU at {options.Sampling.SamplingFrequency} Hz, sending to {options.Shipping.RemoteStoreAddress}; metrics on http://{options.HttpAddress}/metrics").ConfigureAwait(false);
                await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            }
            return Environment.ExitCode == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    /// <summary>Builds the agent application, or prints why it cannot start and picks the exit code.</summary>
    internal static bool TryBuild(AgentOptions options, Action<HostApplicationBuilder>? configure, out IHost app, out int exitCode)
    {
        app = null!;
        exitCode = ExitCodes.Ok;
        try
        {
            app = KilnAgent.Build(options, configure: configure);
            return true;
        }
        catch (Exception e) when (e is ArgumentException or ConfigException)
        {
            exitCode = Fail(e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            Console.Error.WriteLine($"kiln agent: {e.Message}");
            exitCode = ExitCodes.Failed;
        }
        catch (KernelCallException e)
        {
            Console.Error.WriteLine($"kiln agent: {e.Message}");
            exitCode = ExitCodes.Failed;
        }
        return false;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"kiln agent: {message}");
        return ExitCodes.Usage;
    }
}
