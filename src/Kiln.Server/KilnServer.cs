using System.Net;
using Kiln.Server.Hosting;
using Kiln.Server.Ingest;
using Kiln.Server.Services;
using Kiln.Storage;
using Kiln.Storage.DuckDb;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Rewrite;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Kiln.Server;

/// <summary>Builds the <c>kiln server</c> web application: one port for gRPC, gRPC-Web, REST under /api, /metrics and health.</summary>
public static class KilnServer
{
    /// <summary>
    /// Creates the application around an opened store. Throws <see cref="ArgumentException"/> listing every
    /// invalid option. The caller runs it; stopping it flushes and closes the store.
    /// </summary>
    /// <param name="options">The server's settings.</param>
    /// <param name="args">Host arguments (configuration overrides).</param>
    /// <param name="logging">Adjusts logging.</param>
    /// <param name="configure">Adjusts the builder last, e.g. to replace the host lifetime when another component decides when to stop.</param>
    public static WebApplication Build(KilnServerOptions options, string[]? args = null, Action<ILoggingBuilder>? logging = null, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, errors));
        }
        KilnServerOptions.TryParseEndpoint(options.HttpAddress, out var endpoint);

        // Kiln reads no appsettings.json: without this the host watches the working directory's whole tree for one,
        // and every write to a data directory under it wakes the watcher.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [.. args ?? [], "--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        // Per-request logs are noise for a server that takes a push every few seconds from every node.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc.AspNetCore.Server", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        configure?.Invoke(builder);
        var router = new Http2PrefaceRouter();
        var http2Socket = Path.Combine(Path.GetTempPath(), $"kiln-{Environment.ProcessId}-{Guid.NewGuid():N}.h2.sock");
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            kestrel.ListenUnixSocket(http2Socket, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.Use(router.CaptureHttp2);
            });
            kestrel.Listen(endpoint!, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(router.Route);
            });
        });

        var services = builder.Services;
        // Registered after Kestrel's own, so it is the one Kestrel resolves.
        services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IProfileStore>(sp => DuckDbProfileStore.Open(options.DataDirectory, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Kiln.Storage"), options.StoreThreads));
        services.AddSingleton<RawProfileIngester>();
        services.AddSingleton<AgentRegistry>();
        services.AddHostedService<RetentionService>();
        services.AddHostedService<RollupService>();
        services.AddSingleton<QueryWarmup>();
        services.AddHostedService(sp => sp.GetRequiredService<QueryWarmup>());
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = (int)options.MaxRequestBytes;
            grpc.MaxSendMessageSize = null;
            grpc.EnableDetailedErrors = false;
        }).AddJsonTranscoding();
        services.AddHealthChecks();

        var app = builder.Build();
        // Open the store now, not on the first request: a bad --data-dir fails the start, not a later request.
        var store = app.Services.GetRequiredService<IProfileStore>();
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            File.Delete(http2Socket);
        });
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
        {
            KilnMetrics.StoreSize.Set(store.SizeOnDisk);
            KilnMetrics.StoreCommits.IncTo(store.Commits);
            KilnMetrics.GcPause.IncTo(GC.GetTotalPauseDuration().TotalSeconds);
        });

        // Parca serves its REST gateway under /api; the transcoded routes are the proto's own paths.
        app.UseRewriter(new RewriteOptions().AddRewrite("^api/(.*)$", "$1", skipRemainingRules: true));
        app.Use((context, next) =>
        {
            // gRPC enforces --max-request-bytes itself (MaxReceiveMessageSize answers ResourceExhausted);
            // Kestrel's body limit would fail the same request earlier, with an opaque Unknown status.
            if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true
                && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = null;
            }
            return next(context);
        });
        app.UseGrpcWeb(new GrpcWebOptions { DefaultEnabled = true });
        app.MapGrpcService<ProfileStoreGrpcService>();
        app.MapGrpcService<AgentsGrpcService>();
        app.MapGrpcService<QueryGrpcService>();
        app.MapMetrics("/metrics");
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        // Ready once the query paths are compiled (QueryWarmup), so that a load balancer sends queries to a warm server.
        var warmup = app.Services.GetRequiredService<QueryWarmup>();
        app.MapGet("/readyz", () => warmup.IsDone
            ? Results.Text("ready\n")
            : Results.Text("warming up: compiling the query paths\n", statusCode: StatusCodes.Status503ServiceUnavailable));

        // The web UI at / (static files and a page fallback that leaves every path above alone).
        app.MapWebUi(WebUi.DefaultDirectory);
        return app;
    }

    /// <summary>The address to print for people: a wildcard listen address is shown as localhost.</summary>
    public static string DisplayUrl(KilnServerOptions options)
    {
        KilnServerOptions.TryParseEndpoint(options.HttpAddress, out var endpoint);
        var host = endpoint!.Address.Equals(IPAddress.Any) || endpoint.Address.Equals(IPAddress.IPv6Any) ? "localhost" : endpoint.Address.ToString();
        return $"http://{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}:{endpoint.Port}";
    }
}
