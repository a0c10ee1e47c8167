namespace Kiln.Agent.Sampling;

/// <summary>
/// CPU samples of one (pid, tid, thread comm, user stack, kernel stack) combination within a window.
/// Stacks are instruction pointers, leaf first; an empty stack means none was captured (see
/// <see cref="SamplingCounters"/> for why). Equal stacks in a window share one array: do not mutate.
/// </summary>
/// <param name="Pid">The process (tgid).</param>
/// <param name="Tid">The thread.</param>
/// <param name="ThreadComm">The thread's comm (up to 15 bytes) at sampling time; the process's comm is in /proc/PID/comm.</param>
/// <param name="UserStack">User-space return addresses, leaf first, walked with unwind tables or frame pointers.</param>
/// <param name="KernelStack">Kernel addresses, leaf first (empty when the sample hit user mode).</param>
/// <param name="Count">Number of samples.</param>
public readonly record struct Sample(int Pid, int Tid, string ThreadComm, ulong[] UserStack, ulong[] KernelStack, long Count);

/// <summary>What happened to the samples of a window besides the ones in <see cref="SampleWindow.Samples"/>.</summary>
/// <param name="Samples">Samples of non-idle tasks the BPF program saw (the sum of all counts, plus <see cref="CountsDropped"/>).</param>
/// <param name="IdleSkipped">Samples of the idle task (pid 0), not recorded.</param>
/// <param name="UserStacksEmpty">Samples with no user stack (kernel threads).</param>
/// <param name="KernelStacksEmpty">Samples taken in user mode, so with no kernel stack.</param>
/// <param name="UserStackCollisions">User stacks lost because their stack-map bucket held another stack (-EEXIST).</param>
/// <param name="KernelStackCollisions">The same for kernel stacks.</param>
/// <param name="UserStackErrors">Other bpf_get_stackid failures for user stacks.</param>
/// <param name="KernelStackErrors">Other bpf_get_stackid failures for kernel stacks.</param>
/// <param name="CountsDropped">Samples lost entirely because the counts map was full.</param>
/// <param name="StacksMissing">Stack ids a count referred to that were gone from the stack map when drained.</param>
/// <param name="NewProcessNoticesDropped">New processes the kernel could not announce early (queue full); they are
/// symbolized when the window is drained, which misses them if they exited by then.</param>
/// <param name="UserStacksComplete">User stacks whose walk reached the thread's root (an unwind row marking the
/// outermost frame, as in <c>_start</c> or <c>clone3</c>).</param>
/// <param name="UserStacksTruncated">User stacks cut at 127 frames.</param>
/// <param name="TableFrames">User frames stepped with an unwind table (.eh_frame) row.</param>
/// <param name="FramePointerFrames">User frames stepped with frame pointers (no table row covers the pc: JIT code, a
/// process whose tables are not loaded yet, a binary without CFI).</param>
/// <param name="UnsupportedRows">Frames whose CFI the BPF unwinder cannot follow (stepped with frame pointers).</param>
/// <param name="UnwindReadFailures">Walks ended early because user memory could not be read.</param>
public readonly record struct SamplingCounters(
    long Samples,
    long IdleSkipped,
    long UserStacksEmpty,
    long KernelStacksEmpty,
    long UserStackCollisions,
    long KernelStackCollisions,
    long UserStackErrors,
    long KernelStackErrors,
    long CountsDropped,
    long StacksMissing,
    long NewProcessNoticesDropped,
    long UserStacksComplete = 0,
    long UserStacksTruncated = 0,
    long TableFrames = 0,
    long FramePointerFrames = 0,
    long UnsupportedRows = 0,
    long UnwindReadFailures = 0);

/// <summary>All samples of every CPU over one profiling window, as drained from the kernel.</summary>
public sealed class SampleWindow(DateTimeOffset start, TimeSpan duration, int samplingFrequency, IReadOnlyList<Sample> samples, SamplingCounters counters)
{
    /// <summary>When the window began (the previous drain's buffer flip, or the attach).</summary>
    public DateTimeOffset Start { get; } = start;

    public TimeSpan Duration { get; } = duration;

    /// <summary>Samples per second per CPU: one sample stands for 1e9 / frequency ns of CPU time.</summary>
    public int SamplingFrequency { get; } = samplingFrequency;

    /// <summary>One entry per distinct (pid, tid, comm, user stack, kernel stack), in no particular order.</summary>
    public IReadOnlyList<Sample> Samples { get; } = samples;

    public SamplingCounters Counters { get; } = counters;
}
