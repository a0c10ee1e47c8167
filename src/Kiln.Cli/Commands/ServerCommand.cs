using System.CommandLine;
using Kiln.Server;
using Microsoft.Extensions.Hosting;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln server</c>: run the server with its embedded store.</summary>
internal static class ServerCommand
{
    public static Command Create()
    {
        var defaults = new KilnServerOptions();
        var httpAddress = new Option<string>("--http-address") { Description = "Address to listen on (gRPC, gRPC-Web, REST, UI, /metrics)", DefaultValueFactory = _ => defaults.HttpAddress };
        var dataDir = new Option<string>("--data-dir") { Description = "Directory of the embedded database", DefaultValueFactory = _ => defaults.DataDirectory };
        var retention = new Option<string>("--retention") { Description = "Delete samples older than this (e.g. 15d, 36h)", DefaultValueFactory = _ => "15d" };
        var maxRequest = new Option<long>("--max-request-bytes") { Description = "Largest request accepted, in bytes", DefaultValueFactory = _ => defaults.MaxRequestBytes };
        var storeThreads = new Option<int>("--store-threads") { Description = "DuckDB threads, shared by writes and queries; 0 is one per core. With 1, merges and QueryRange read their range on one connection per core instead; more spend 5-10% more CPU per ingested row", DefaultValueFactory = _ => defaults.StoreThreads };
        var command = new Command("server", "Run the Kiln server: stores profiles and answers Parca-compatible queries on one port.")
        {
            httpAddress, dataDir, retention, maxRequest, storeThreads,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new KilnServerOptions
            {
                HttpAddress = parse.GetValue(httpAddress)!,
                DataDirectory = parse.GetValue(dataDir)!,
                MaxRequestBytes = parse.GetValue(maxRequest),
                StoreThreads = parse.GetValue(storeThreads),
            };
            var retentionText = parse.GetValue(retention)!;
            if (!KilnServerOptions.TryParseDuration(retentionText, out var retentionSpan))
            {
                return Fail($"--retention '{retentionText}' is not a duration; use e.g. 15d, 36h, 90m");
            }
            options.Retention = retentionSpan;
            return await Run(options, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>Runs the server until Ctrl-C or SIGTERM; returns the exit code.</summary>
    public static async Task<int> Run(KilnServerOptions options, CancellationToken cancellationToken)
    {
        Microsoft.AspNetCore.Builder.WebApplication app;
        try
        {
            app = KilnServer.Build(options);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            return Fail(e.Message);
        }
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            return Fail($"cannot listen on {options.HttpAddress}: {e.Message}. Is another process using the port? Choose another with --http-address");
        }
        await Console.Out.WriteLineAsync($"Kiln server listening on {KilnServer.DisplayUrl(options)} (data in {Path.GetFullPath(options.DataDirectory)})").ConfigureAwait(false);
        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"kiln server: {message}");
        return ExitCodes.Usage;
    }
}
