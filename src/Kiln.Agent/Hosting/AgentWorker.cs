using System.Diagnostics;
using Kiln.Agent.Labels;
using Kiln.Agent.Profiling;
using Kiln.Agent.Sampling;
using Kiln.Agent.Shipping;
using Kiln.Symbolization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kiln.Agent.Hosting;

/// <summary>
/// The agent's pipeline: sampler windows → per-process profiles → shipper. On stop the sampler publishes the
/// partial window it holds, which is profiled and handed to the shipper for one last send, so a clean stop
/// loses no samples the server could still take. Alongside, the <see cref="ProcessWatcher"/> reads new processes
/// while they run.
/// </summary>
internal sealed partial class AgentWorker(
    Sampler sampler,
    WindowProfiler profiler,
    ProfileShipper shipper,
    Symbolizer symbolizer,
    DotnetPerfMapEnabler perfMaps,
    ProcessWatcher watcher,
    ProcessLabeler labeler,
    AgentHealth health,
    AgentOptions options,
    IHostApplicationLifetime lifetime,
    ILogger<AgentWorker> logger) : BackgroundService
{
    private static readonly TimeSpan s_mapsReuse = TimeSpan.FromSeconds(2);

    private readonly HashSet<int> _sampled = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var stopShipping = new CancellationTokenSource();
        var shipping = Task.Run(() => shipper.RunAsync(stopShipping.Token), CancellationToken.None);
        using var stopWatching = new CancellationTokenSource();
        var watching = Task.Run(() => watcher.RunAsync(stopWatching.Token), CancellationToken.None);
        try
        {
            using (stoppingToken.Register(sampler.Stop))
            {
                await foreach (var window in sampler.Windows.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    Process(window);
                }
            }
        }
        catch (Exception e) when (e is KernelCallException or IOException or InvalidOperationException)
        {
            LogSamplingFailed(logger, e);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
        finally
        {
            await stopWatching.CancelAsync().ConfigureAwait(false);
            await watching.ConfigureAwait(false);
            await stopShipping.CancelAsync().ConfigureAwait(false);
            await shipping.ConfigureAwait(false);
            LogStopped(logger, shipper.Counters.ProfilesSent, shipper.BufferFill);
        }
    }

    private void Process(SampleWindow window)
    {
        var started = Stopwatch.GetTimestamp();
        var profiles = profiler.Build(window);
        shipper.Enqueue(profiles);
        // Counted once its profiles are queued, so that "windows done and nothing buffered" means "all sent".
        AgentMetrics.AddWindow(window.Counters);
        AgentMetrics.ProfilesBuilt.Inc(profiles.Count);
        AgentMetrics.ProfilesDropped.WithLabels("relabeling").IncTo(profiler.ProfilesDroppedByRelabeling);
        // Libraries loaded since (dlopen) get their unwind tables before the next window. Building the profiles has
        // just re-read the maps of most of these processes: those reads are used again.
        _sampled.Clear();
        foreach (var sample in window.Samples)
            _sampled.Add(sample.Pid);
        foreach (var pid in _sampled)
            sampler.Unwinding.Load(pid, symbolizer.RecentMaps(pid, s_mapsReuse));
        // Forget processes that are gone, except those announced during this window: their samples come next window.
        var keep = watcher.TakeRecentlyPrepared();
        keep.UnionWith(LivePids(options.ProcRoot));
        perfMaps.Retain(keep);
        labeler.Trim(keep);
        sampler.Unwinding.Retain(keep);
        AgentMetrics.Snapshot(sampler.Unwinding.Counters);
        MemoryTrim.IfSlack();
        var elapsed = Stopwatch.GetElapsedTime(started);
        AgentMetrics.WindowProcessing.Observe(elapsed.TotalSeconds);
        health.WindowProcessed(window.Start + window.Duration);
        LogWindow(logger, window.Start, window.Samples.Count, profiles.Count, elapsed.TotalMilliseconds, symbolizer.Counters.Misses);
    }

    private static HashSet<int> LivePids(string procRoot)
    {
        var pids = new HashSet<int>();
        foreach (var dir in Directory.EnumerateDirectories(procRoot))
        {
            if (int.TryParse(Path.GetFileName(dir.AsSpan()), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid))
            {
                pids.Add(pid);
            }
        }
        return pids;
    }

    [LoggerMessage(1, LogLevel.Debug, "Window {Start:O}: {Entries} sample entries → {Profiles} profiles in {Milliseconds:F1} ms ({Misses} unnamed addresses so far)")]
    private static partial void LogWindow(ILogger logger, DateTimeOffset start, int entries, int profiles, double milliseconds, long misses);

    [LoggerMessage(2, LogLevel.Error, "Sampling failed; the agent stops")]
    private static partial void LogSamplingFailed(ILogger logger, Exception exception);

    [LoggerMessage(3, LogLevel.Information, "Agent stopped: {Sent} profiles sent in total, {Buffered} windows left unsent")]
    private static partial void LogStopped(ILogger logger, long sent, int buffered);
}

/// <summary>When the agent last completed a window, for /healthz.</summary>
internal sealed class AgentHealth(TimeProvider time)
{
    private long _lastWindowTicks = time.GetUtcNow().UtcTicks;

    public void WindowProcessed(DateTimeOffset end) => Interlocked.Exchange(ref _lastWindowTicks, end.UtcTicks);

    /// <summary>Healthy while windows keep coming: none missing for more than two window lengths plus slack.</summary>
    public bool IsHealthy(TimeSpan windowLength, out TimeSpan sinceLastWindow)
    {
        sinceLastWindow = time.GetUtcNow() - new DateTimeOffset(Interlocked.Read(ref _lastWindowTicks), TimeSpan.Zero);
        return sinceLastWindow <= windowLength * 2 + TimeSpan.FromSeconds(5);
    }
}
