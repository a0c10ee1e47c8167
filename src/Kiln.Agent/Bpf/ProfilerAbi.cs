using System.Runtime.CompilerServices;

namespace Kiln.Agent.Bpf;

/// <summary>Names and constants of profiler.bpf.c that the agent depends on; keep in step with the C source.</summary>
internal static class ProfilerAbi
{
    internal const string ObjectFileName = "profiler.bpf.o";
    internal const string Program = "sample";
    internal const string ActiveBuffer = "active_buffer";
    internal const string Counters = "counters";
    internal const string ProcessEvents = "process_events";
    internal const int MaxStackDepth = 127;

    internal static string Counts(int buffer) => buffer == 0 ? "counts_0" : "counts_1";

    internal static string Stacks(int buffer) => buffer == 0 ? "stacks_0" : "stacks_1";
}

/// <summary>Mirror of <c>struct sample_key</c> in profiler.bpf.c (32 bytes; a unit test checks it).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SampleKey
{
    public uint Pid;
    public uint Tid;
    /// <summary>&gt;= 0: id in the stack map; &lt; 0: -errno from bpf_get_stackid.</summary>
    public int UserStackId;
    public int KernelStackId;
    public CommBytes Comm;
}

/// <summary>A task's comm: 16 bytes, NUL-padded (TASK_COMM_LEN).</summary>
[InlineArray(16)]
internal struct CommBytes
{
    private byte _first;
}

/// <summary>Indexes of the per-CPU <c>counters</c> array (<c>enum counter</c> in profiler.bpf.c).</summary>
internal enum CounterIndex
{
    Samples = 0,
    Idle = 1,
    UserStackEmpty = 2,
    KernelStackEmpty = 3,
    UserStackCollision = 4,
    KernelStackCollision = 5,
    UserStackError = 6,
    KernelStackError = 7,
    CountsDropped = 8,
    NewProcessDropped = 9,
    Count = 10,
}

/// <summary>One stack from a BPF_MAP_TYPE_STACK_TRACE map: up to 127 instruction pointers, leaf first, zero-padded.</summary>
[InlineArray(ProfilerAbi.MaxStackDepth)]
internal struct StackFrames
{
    private ulong _first;
}
