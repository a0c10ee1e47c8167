using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using Kiln.Agent.Bpf;
using Kiln.Agent.Interop;
using Kiln.Agent.Unwinding;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kiln.Agent.Sampling;

/// <summary>
/// Samples every process on the host: loads profiler.bpf.o, attaches it to one software cpu-clock
/// perf event per online CPU, and every <see cref="SamplerOptions.ProfilingDuration"/> drains the
/// aggregated samples into a <see cref="SampleWindow"/> on <see cref="Windows"/>. The drain runs on a
/// dedicated thread.
/// </summary>
/// <remarks>
/// The BPF maps are double-buffered. To end a window the drain thread flips <c>active_buffer</c>,
/// waits <see cref="GracePeriod"/> for programs already running on other CPUs to finish (they run
/// in interrupt context and take microseconds), then reads and clears the idle half at leisure while
/// new samples go to the other half. So no sample is lost to the drain, and the stack ids in a
/// window's counts always refer to that window's stack map, which is cleared with it.
/// </remarks>
public sealed class Sampler : IDisposable
{
    /// <summary>How long the drain waits after flipping buffers before reading the idle half.</summary>
    internal static readonly TimeSpan GracePeriod = TimeSpan.FromMilliseconds(20);

    private const int MaxCommCacheEntries = 8192;

    private readonly SamplerOptions _options;
    private ILogger _logger;
    private readonly BpfCollection _collection;
    private readonly BpfMap _activeBuffer;
    private readonly BpfMap _counters;
    private readonly BpfMap[] _counts;
    private readonly BpfMap[] _stacks;
    private readonly BpfMap[] _userStacks;
    private readonly BpfMap _processEvents;
    private readonly Lock _processEventsGate = new();
    private readonly List<int> _eventPids = [];
    private GCHandle _eventPidsHandle;
    private nint _ringBuffer;
    private readonly Channel<SampleWindow> _windows;
    private readonly ManualResetEventSlim _stop = new();
    private readonly Thread _thread;

    // Drain-thread state, reused across windows so a drain allocates only what it hands out.
    private readonly List<SampleKey> _keys = [];
    private readonly List<uint> _stackIds = [];
    private readonly Dictionary<int, ulong[]> _windowStacks = [];
    private readonly Dictionary<int, ulong[]> _windowUserStacks = [];
    private UserStack _userStack;
    private readonly Dictionary<UInt128, string> _comms = [];
    private readonly ulong[] _perCpu;
    private readonly ulong[] _count = new ulong[1];
    private readonly long[] _counterTotals = new long[(int)CounterIndex.Count];
    private StackFrames _frames;
    private long _stacksMissing;
    private int _active;
    private long _droppedWindows;
    private int _stopped;

    private Sampler(SamplerOptions options, ILogger logger, BpfCollection collection, IReadOnlyList<int> cpus)
    {
        _options = options;
        _logger = logger;
        _collection = collection;
        Cpus = cpus;
        _activeBuffer = collection.Map(ProfilerAbi.ActiveBuffer);
        _activeBuffer.CheckSizes<uint, uint>();
        _counters = collection.Map(ProfilerAbi.Counters);
        _counters.CheckSizes<uint, ulong>();
        _counts = [collection.Map(ProfilerAbi.Counts(0)), collection.Map(ProfilerAbi.Counts(1))];
        _stacks = [collection.Map(ProfilerAbi.Stacks(0)), collection.Map(ProfilerAbi.Stacks(1))];
        _userStacks = [collection.Map(ProfilerAbi.UserStacks(0)), collection.Map(ProfilerAbi.UserStacks(1))];
        foreach (var map in _userStacks)
            map.CheckSizes<uint, UserStack>();
        Unwinding = new UnwindTables(collection.Map(ProfilerAbi.UnwindTables), collection.Map(ProfilerAbi.UnwindProcesses), logger);
        foreach (var map in _counts)
            map.CheckSizes<SampleKey, ulong>();
        foreach (var map in _stacks)
            map.CheckSizes<uint, ulong>(ProfilerAbi.MaxStackDepth);
        _processEvents = collection.Map(ProfilerAbi.ProcessEvents);
        _perCpu = new ulong[Math.Max(1, Libbpf.NumPossibleCpus())];
        _windows = Channel.CreateBounded<SampleWindow>(new BoundedChannelOptions(options.WindowQueueCapacity)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _thread = new Thread(Run) { IsBackground = true, Name = "kiln-sampler-drain" };
    }

    /// <summary>Logs from now on through <paramref name="factory"/> (the host's, once it is built: the sampler starts
    /// before it so that a missing capability ends the command before anything listens).</summary>
    public void UseLogging(ILoggerFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _logger = factory.CreateLogger<Sampler>();
        Unwinding.Logger = factory.CreateLogger<UnwindTables>();
    }

    /// <summary>The online CPUs being sampled, one perf event each.</summary>
    public IReadOnlyList<int> Cpus { get; }

    /// <summary>The unwind tables the BPF program walks user stacks with; load a process's with <see cref="UnwindTables.Load"/>.</summary>
    public UnwindTables Unwinding { get; }

    /// <summary>Completed windows, oldest first. Completes when the sampler stops; faults if draining fails.</summary>
    public ChannelReader<SampleWindow> Windows => _windows.Reader;

    /// <summary>Windows discarded because the consumer fell <see cref="SamplerOptions.WindowQueueCapacity"/> windows behind.</summary>
    public long DroppedWindows => Interlocked.Read(ref _droppedWindows);

    /// <summary>
    /// Validates <paramref name="options"/>, checks privileges, loads the BPF object, attaches it to
    /// every online CPU and starts draining. Throws <see cref="ArgumentException"/> for bad options,
    /// <see cref="UnauthorizedAccessException"/> naming missing capabilities, and
    /// <see cref="KernelCallException"/> when the kernel refuses a step.
    /// </summary>
    public static Sampler Start(SamplerOptions options, ILogger<Sampler>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Capabilities.RequireSampling();
        var cpus = OnlineCpus.Read();
        var stackEntries = (uint)options.StackMapEntries;
        var collection = BpfCollection.Load(options.ResolvedObjectPath, new Dictionary<string, uint>
        {
            [ProfilerAbi.Stacks(0)] = stackEntries,
            [ProfilerAbi.Stacks(1)] = stackEntries,
            [ProfilerAbi.UserStacks(0)] = stackEntries,
            [ProfilerAbi.UserStacks(1)] = stackEntries,
        });
        Sampler? sampler = null;
        try
        {
            sampler = new Sampler(options, (ILogger?)logger ?? NullLogger.Instance, collection, cpus);
            sampler._activeBuffer.Update(0u, 0u);
            sampler.ReadCounters(); // baseline: the BPF counters only ever grow
            foreach (var cpu in cpus)
            {
                using var perfEvent = OpenCpuClock(cpu, options.SamplingFrequency);
                collection.AttachPerfEvent(ProfilerAbi.Program, perfEvent, $"cpu={cpu}");
            }
            SamplerLog.Started(sampler._logger, cpus.Length, options.SamplingFrequency, options.ProfilingDuration);
            sampler._thread.Start();
            return sampler;
        }
        catch
        {
            if (sampler is not null)
                sampler.ReleaseKernelObjects();
            else
                collection.Dispose();
            throw;
        }
    }

    /// <summary>Ends the current window early, publishes it, detaches from the CPUs' events and
    /// completes <see cref="Windows"/>. Idempotent.</summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        _stop.Set();
        if (_thread.IsAlive)
            _thread.Join();
        ReleaseKernelObjects();
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for processes sampled for the first time (or for the first time since
    /// they exec'd) and adds them to <paramref name="pids"/>, so that their maps and labels can be read while they
    /// still run. Blocks in the kernel (epoll on the BPF ring buffer) while there is nothing new. Call it from one
    /// thread; once the sampler stopped it returns at once with nothing.
    /// </summary>
    public unsafe void WaitForNewProcesses(List<int> pids, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(pids);
        if (Volatile.Read(ref _stopped) != 0)
        {
            Thread.Sleep(timeout); // nothing will come; do not let a caller's loop spin
            return;
        }
        lock (_processEventsGate)
        {
            if (Volatile.Read(ref _stopped) != 0)
                return;
            if (_ringBuffer == 0)
            {
                _eventPidsHandle = GCHandle.Alloc(_eventPids);
                _ringBuffer = Libbpf.RingBufferNew(_processEvents.Fd, &OnProcessEvent, GCHandle.ToIntPtr(_eventPidsHandle), 0);
                if (_ringBuffer == 0)
                    throw new KernelCallException($"ring_buffer__new({ProfilerAbi.ProcessEvents})", Marshal.GetLastPInvokeError(), null, null);
            }
            _eventPids.Clear();
            var result = Libbpf.RingBufferPoll(_ringBuffer, (int)timeout.TotalMilliseconds);
            if (result < 0 && -result != Errno.EINTR)
                throw new KernelCallException($"ring_buffer__poll({ProfilerAbi.ProcessEvents})", -result, null, null);
            pids.AddRange(_eventPids);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe int OnProcessEvent(nint context, nint data, nuint size)
    {
        if (size >= sizeof(uint))
            ((List<int>)GCHandle.FromIntPtr(context).Target!).Add(*(int*)data);
        return 0;
    }

    public void Dispose()
    {
        Stop();
        _stop.Dispose();
    }

    private static SafePerfEventHandle OpenCpuClock(int cpu, int frequency)
    {
        var attr = PerfEventAttr.CpuClock(frequency);
        var fd = Libc.PerfEventOpen(ref attr, pid: -1, cpu, groupFd: -1, Libc.PerfFlagFdCloexec);
        if (fd >= 0)
            return new SafePerfEventHandle(fd);
        var errno = Marshal.GetLastPInvokeError();
        var fix = errno switch
        {
            Errno.EACCES or Errno.EPERM => "run as root or grant CAP_PERFMON",
            Errno.ENOENT or Errno.ENODEV or Errno.EOPNOTSUPP => "this kernel has no software cpu-clock perf event (CONFIG_PERF_EVENTS)",
            Errno.EINVAL => $"{frequency} Hz may exceed /proc/sys/kernel/perf_event_max_sample_rate; lower --sampling-frequency",
            Errno.EMFILE or Errno.ENFILE => "raise the open-file limit (ulimit -n)",
            _ => null,
        };
        throw new KernelCallException($"perf_event_open(cpu={cpu})", errno, fix, null);
    }

    private void Run()
    {
        var start = DateTimeOffset.UtcNow;
        var started = Stopwatch.GetTimestamp();
        try
        {
            while (true)
            {
                var remaining = _options.ProfilingDuration - Stopwatch.GetElapsedTime(started);
                var stopping = remaining > TimeSpan.Zero && _stop.Wait(remaining);
                stopping |= _stop.IsSet;

                var drained = _active;
                _active = 1 - drained;
                _activeBuffer.Update(0u, (uint)_active);
                var duration = Stopwatch.GetElapsedTime(started);
                var nextStart = start + duration;
                started = Stopwatch.GetTimestamp();
                Thread.Sleep(GracePeriod);

                var window = Drain(drained, start, duration);
                start = nextStart;
                if (!_windows.Writer.TryWrite(window))
                {
                    Interlocked.Increment(ref _droppedWindows);
                    SamplerLog.WindowDropped(_logger, window.Start, _options.WindowQueueCapacity);
                }
                if (stopping)
                    break;
            }
            _windows.Writer.TryComplete();
        }
        catch (Exception e)
        {
            SamplerLog.DrainFailed(_logger, e);
            _windows.Writer.TryComplete(e);
        }
    }

    private SampleWindow Drain(int buffer, DateTimeOffset start, TimeSpan duration)
    {
        var drainStarted = Stopwatch.GetTimestamp();
        var counts = _counts[buffer];
        var stacks = _stacks[buffer];
        var userStacks = _userStacks[buffer];

        // Nothing writes to this half now: collect its keys first, then read and clear.
        _keys.Clear();
        SampleKey? previousKey = null;
        while (counts.TryGetNextKey(previousKey, out var key))
        {
            _keys.Add(key);
            previousKey = key;
        }

        _windowStacks.Clear();
        _windowUserStacks.Clear();
        var samples = new Sample[_keys.Count];
        var n = 0;
        foreach (var key in _keys)
        {
            if (!counts.TryLookup(key, _count.AsSpan()))
                continue;
            samples[n++] = new Sample((int)key.Pid, (int)key.Tid, Comm(key.Comm),
                UserStackOf(userStacks, key.UserStackId), Stack(stacks, key.KernelStackId), (long)_count[0]);
        }
        foreach (var key in _keys)
            counts.Delete(key);

        var stackCount = Clear(stacks) + Clear(userStacks);

        var window = new SampleWindow(start, duration, _options.SamplingFrequency,
            n == samples.Length ? samples : samples[..n], ReadCounters());
        SamplerLog.WindowDrained(_logger, n, window.Counters.Samples, stackCount, Stopwatch.GetElapsedTime(drainStarted).TotalMilliseconds);
        return window;
    }

    /// <summary>Deletes every entry of a stack map (keys collected first: deleting while iterating restarts the walk);
    /// returns how many there were.</summary>
    private int Clear(BpfMap stacks)
    {
        _stackIds.Clear();
        uint? previousId = null;
        while (stacks.TryGetNextKey(previousId, out var id))
        {
            _stackIds.Add(id);
            previousId = id;
        }
        foreach (var id in _stackIds)
            stacks.Delete(id);
        return _stackIds.Count;
    }

    /// <summary>The addresses of stack <paramref name="id"/>, leaf first; one shared array per id per window.</summary>
    private ulong[] Stack(BpfMap stacks, int id)
    {
        if (id < 0)
            return [];
        if (_windowStacks.TryGetValue(id, out var known))
            return known;
        Span<ulong> frames = _frames;
        ulong[] addresses;
        if (stacks.TryLookup((uint)id, frames))
        {
            var depth = frames.IndexOf(0UL);
            addresses = frames[..(depth < 0 ? frames.Length : depth)].ToArray();
        }
        else
        {
            _stacksMissing++;
            addresses = [];
        }
        _windowStacks[id] = addresses;
        return addresses;
    }

    /// <summary>The walked user stack <paramref name="id"/>, leaf first; one shared array per id per window.</summary>
    private ulong[] UserStackOf(BpfMap userStacks, int id)
    {
        if (id < 0)
            return [];
        if (_windowUserStacks.TryGetValue(id, out var known))
            return known;
        ulong[] addresses;
        if (userStacks.TryLookup((uint)id, new Span<UserStack>(ref _userStack)))
        {
            ReadOnlySpan<ulong> frames = _userStack.Frames;
            addresses = frames[..(int)Math.Min(_userStack.Length, (uint)frames.Length)].ToArray();
        }
        else
        {
            _stacksMissing++;
            addresses = [];
        }
        _windowUserStacks[id] = addresses;
        return addresses;
    }

    private string Comm(in CommBytes comm)
    {
        ReadOnlySpan<byte> bytes = comm;
        var key = MemoryMarshal.Read<UInt128>(bytes);
        if (_comms.TryGetValue(key, out var name))
            return name;
        if (_comms.Count >= MaxCommCacheEntries)
            _comms.Clear();
        var length = bytes.IndexOf((byte)0);
        name = Encoding.UTF8.GetString(length < 0 ? bytes : bytes[..length]);
        _comms[key] = name;
        return name;
    }

    /// <summary>Sums the per-CPU counters and returns the growth since the previous read.</summary>
    private SamplingCounters ReadCounters()
    {
        Span<long> delta = stackalloc long[(int)CounterIndex.Count];
        for (var i = 0; i < (int)CounterIndex.Count; i++)
        {
            var total = 0L;
            if (_counters.TryLookup((uint)i, _perCpu.AsSpan()))
            {
                foreach (var v in _perCpu)
                    total += (long)v;
            }
            delta[i] = total - _counterTotals[i];
            _counterTotals[i] = total;
        }
        var missing = _stacksMissing;
        _stacksMissing = 0;
        return new SamplingCounters(
            Samples: delta[(int)CounterIndex.Samples],
            IdleSkipped: delta[(int)CounterIndex.Idle],
            UserStacksEmpty: delta[(int)CounterIndex.UserStackEmpty],
            KernelStacksEmpty: delta[(int)CounterIndex.KernelStackEmpty],
            UserStackCollisions: delta[(int)CounterIndex.UserStackCollision],
            KernelStackCollisions: delta[(int)CounterIndex.KernelStackCollision],
            UserStackErrors: delta[(int)CounterIndex.UserStackError],
            KernelStackErrors: delta[(int)CounterIndex.KernelStackError],
            CountsDropped: delta[(int)CounterIndex.CountsDropped],
            StacksMissing: missing,
            NewProcessNoticesDropped: delta[(int)CounterIndex.NewProcessDropped],
            UserStacksComplete: delta[(int)CounterIndex.UnwindComplete],
            UserStacksTruncated: delta[(int)CounterIndex.UnwindTruncated],
            TableFrames: delta[(int)CounterIndex.UnwindTableFrames],
            FramePointerFrames: delta[(int)CounterIndex.UnwindFramePointerFrames],
            UnsupportedRows: delta[(int)CounterIndex.UnwindUnsupported],
            UnwindReadFailures: delta[(int)CounterIndex.UnwindReadFailed]);
    }

    private void ReleaseKernelObjects()
    {
        Unwinding.Dispose();
        lock (_processEventsGate)
        {
            if (_ringBuffer != 0)
            {
                Libbpf.RingBufferFree(_ringBuffer);
                _ringBuffer = 0;
                _eventPidsHandle.Free();
            }
            _processEvents.Dispose();
        }
        _collection.Dispose();
        _activeBuffer.Dispose();
        _counters.Dispose();
        foreach (var map in _counts)
            map.Dispose();
        foreach (var map in _stacks)
            map.Dispose();
        foreach (var map in _userStacks)
            map.Dispose();
    }
}
