using System.Diagnostics;
using System.Threading.Channels;
using Kiln.Agent.Labels;
using Kiln.Agent.Sampling;
using Kiln.Symbolization;
using Microsoft.Extensions.Logging;

namespace Kiln.Agent.Hosting;

/// <summary>
/// Reads what the agent needs to know about a process while it still runs: the BPF program announces each process
/// at its first sample (and again after an exec), and this loop — a few times a second — reads its labels and memory
/// maps, opens the files it maps and loads the unwind tables of its binaries for the BPF unwinder; a second loop asks .NET runtimes to write their perf maps (an IPC exchange that
/// can take a while, so it never delays the reads). A process that exits before its window is drained is then still
/// labelled and symbolized.
/// </summary>
internal sealed partial class ProcessWatcher(
    Sampler sampler,
    Symbolizer symbolizer,
    ProcessLabeler labeler,
    DotnetPerfMapEnabler perfMaps,
    ILogger<ProcessWatcher> logger)
{
    /// <summary>Longest wait for new processes before checking whether to stop.</summary>
    public static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(500);

    private readonly List<int> _pids = [];
    private readonly Channel<(int Pid, Mapping[]? Maps)> _unwindQueue = Channel.CreateUnbounded<(int, Mapping[]?)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Channel<int> _perfMapQueue = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Lock _recentGate = new();
    private HashSet<int> _recent = [];

    /// <summary>Processes prepared so far.</summary>
    public long Prepared { get; private set; }

    /// <summary>Polls until <paramref name="stoppingToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var enabling = Task.Run(() => EnablePerfMapsAsync(stoppingToken), CancellationToken.None);
        var unwinding = Task.Run(() => LoadUnwindTablesAsync(stoppingToken), CancellationToken.None);
        // Waiting runs on its own thread, blocked in the kernel until the BPF program announces a process.
        var polling = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                while (!stoppingToken.IsCancellationRequested)
                {
                    PollOnce();
                }
                polling.SetResult();
            }
            catch (Exception e)
            {
                polling.SetException(e);
            }
        })
        { IsBackground = true, Name = "kiln-process-watcher" };
        thread.Start();
        try
        {
            await polling.Task.ConfigureAwait(false);
        }
        finally
        {
            _perfMapQueue.Writer.TryComplete();
            _unwindQueue.Writer.TryComplete();
            await enabling.ConfigureAwait(false);
            await unwinding.ConfigureAwait(false);
        }
    }

    private async Task LoadUnwindTablesAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var (pid, maps) in _unwindQueue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                sampler.Unwinding.Load(pid, maps);
                if (!_unwindQueue.Reader.TryPeek(out _) && sampler.Unwinding.EndBurst())
                    MemoryTrim.Collect();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task EnablePerfMapsAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var pid in _perfMapQueue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                perfMaps.TryEnable(pid);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Waits for announced processes (up to <see cref="PollTimeout"/>) and prepares them.</summary>
    public void PollOnce()
    {
        _pids.Clear();
        try
        {
            sampler.WaitForNewProcesses(_pids, PollTimeout);
        }
        catch (KernelCallException e)
        {
            LogPollFailed(logger, e);
            Thread.Sleep(PollTimeout);
            return;
        }
        if (_pids.Count == 0)
        {
            return;
        }
        var started = Stopwatch.GetTimestamp();
        // Each step copes with a process that is already gone: it leaves what it could not read unknown.
        foreach (var pid in _pids)
        {
            labeler.Labels(pid);
            var maps = symbolizer.Prepare(pid);
            if (maps is not null)
                _unwindQueue.Writer.TryWrite((pid, maps));
            _perfMapQueue.Writer.TryWrite(pid);
        }
        lock (_recentGate)
            _recent.UnionWith(_pids);
        Prepared += _pids.Count;
        AgentMetrics.ProcessesPrepared.Inc(_pids.Count);
        LogPrepared(logger, _pids.Count, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>The processes prepared since the previous call: caches keep them even if they are gone already,
    /// because their samples may not have been drained yet.</summary>
    public HashSet<int> TakeRecentlyPrepared()
    {
        lock (_recentGate)
        {
            var recent = _recent;
            _recent = [];
            return recent;
        }
    }

    [LoggerMessage(1, LogLevel.Debug, "Prepared {Count} new processes in {Milliseconds:F1} ms")]
    private static partial void LogPrepared(ILogger logger, int count, double milliseconds);

    [LoggerMessage(2, LogLevel.Warning, "Reading the list of new processes failed; they are handled when their window is drained")]
    private static partial void LogPollFailed(ILogger logger, Exception exception);
}
