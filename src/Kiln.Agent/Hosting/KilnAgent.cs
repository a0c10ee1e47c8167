using Kiln.Agent.Labels;
using Kiln.Agent.Profiling;
using Kiln.Agent.Sampling;
using Kiln.Agent.Shipping;
using Kiln.Symbolization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Kiln.Agent.Hosting;

/// <summary>Builds the <c>kiln agent</c> application: the sampling pipeline plus /metrics and /healthz on
/// <see cref="AgentOptions.HttpAddress"/> (<see cref="AgentHttpEndpoint"/>), on the generic host without ASP.NET Core.</summary>
public static class KilnAgent
{
    /// <summary>
    /// Validates the options, loads the relabel config and starts sampling (BPF programs attached to every CPU), so
    /// that every problem surfaces here rather than after the host started. Throws <see cref="ArgumentException"/>
    /// listing invalid options, <see cref="ConfigException"/> for a bad config file,
    /// <see cref="UnauthorizedAccessException"/> naming missing capabilities and <see cref="KernelCallException"/>
    /// when the kernel refuses a step. The caller runs the returned application; stopping it ships what is left.
    /// </summary>
    /// <param name="options">The agent's settings.</param>
    /// <param name="logging">Adjusts logging.</param>
    /// <param name="configure">Adjusts the builder last, e.g. to replace the host lifetime when another component decides when to stop.</param>
    public static IHost Build(AgentOptions options, Action<ILoggingBuilder>? logging = null, Action<HostApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, errors));
        }
        var rules = options.ConfigPath is null ? [] : AgentConfig.Load(options.ConfigPath).RelabelConfigs;

        // Nothing but what the agent uses: configuration from the environment (Logging__LogLevel__Kiln=Debug), console
        // logging. Kiln reads no appsettings.json; a host that looks for one watches the working directory's whole
        // tree, and on a busy tree (a build, a data directory) that watcher alone cost the agent a third of its CPU.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddEnvironmentVariables();
        builder.Services.AddSingleton<IHostLifetime, ConsoleLifetime>(); // Ctrl-C and SIGTERM stop it
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddConsole();
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Logging.AddFilter("System.Net.Http", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc.Net.Client", LogLevel.Warning);
        logging?.Invoke(builder.Logging);

        // Load and attach first: a missing capability or a kernel refusal ends the command before anything listens.
        using var bootstrapLogging = LoggerFactory.Create(b => logging?.Invoke(b));
        var sampler = Sampler.Start(options.Sampling, bootstrapLogging.CreateLogger<Sampler>());
        try
        {
            var services = builder.Services;
            services.AddSingleton(options);
            services.AddSingleton(sampler);
            services.AddSingleton(TimeProvider.System);
            services.AddSingleton(new Symbolizer(new SymbolizerOptions { ProcRoot = options.ProcRoot }));
            services.AddSingleton(sp => new DotnetPerfMapEnabler(sp.GetRequiredService<ILogger<DotnetPerfMapEnabler>>(), options.ProcRoot));
            services.AddSingleton(new ProcessLabeler(options.Node, options.ProcRoot));
            services.AddSingleton(sp =>
            {
                var labeler = sp.GetRequiredService<ProcessLabeler>();
                var perfMaps = sp.GetRequiredService<DotnetPerfMapEnabler>();
                return new WindowProfiler(
                    sp.GetRequiredService<Symbolizer>(),
                    options.Node,
                    labeler.Labels,
                    rules.Count == 0 ? null : labels => Relabeler.Apply(labels, rules),
                    pid => perfMaps.TryEnable(pid));
            });
            services.AddSingleton(sp => new ProfileShipper(options.Shipping, sp.GetRequiredService<ILogger<ProfileShipper>>()));
            services.AddSingleton<ProcessWatcher>();
            services.AddSingleton<AgentHealth>();
            // Listening first: an address in use stops the start before the pipeline runs.
            services.AddSingleton<AgentHttpEndpoint>();
            services.AddHostedService(sp => sp.GetRequiredService<AgentHttpEndpoint>());
            services.AddHostedService<AgentWorker>();

            configure?.Invoke(builder);
            var app = builder.Build();
            sampler.UseLogging(app.Services.GetRequiredService<ILoggerFactory>());
            var shipper = app.Services.GetRequiredService<ProfileShipper>();
            var symbolizer = app.Services.GetRequiredService<Symbolizer>();
            Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
                AgentMetrics.Snapshot(shipper.Counters, shipper.BufferFill, options.Shipping.BufferSize, symbolizer.Counters, sampler.DroppedWindows));
            app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopped.Register(() =>
            {
                sampler.Dispose();
                shipper.Dispose();
            });
            return app;
        }
        catch
        {
            sampler.Dispose();
            throw;
        }
    }
}
