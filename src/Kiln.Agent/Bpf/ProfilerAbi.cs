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
    internal const string UnwindTables = "unwind_tables";
    internal const string UnwindProcesses = "unwind_processes";
    internal const int MaxStackDepth = 127;
    internal const int MaxUnwindMappings = 128;

    /// <summary>Binary search in BPF takes at most 24 steps: tables of more rows are refused.</summary>
    internal const int MaxUnwindRows = 1 << 24;

    internal static string Counts(int buffer) => buffer == 0 ? "counts_0" : "counts_1";

    internal static string Stacks(int buffer) => buffer == 0 ? "stacks_0" : "stacks_1";

    internal static string UserStacks(int buffer) => buffer == 0 ? "user_stacks_0" : "user_stacks_1";
}

/// <summary>Mirror of <c>struct sample_key</c> in profiler.bpf.c (32 bytes; a unit test checks it).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SampleKey
{
    public uint Pid;
    public uint Tid;
    /// <summary>&gt;= 0: id in user_stacks_N; &lt; 0: -errno (-EFAULT: no user stack, -EEXIST: id collision).</summary>
    public int UserStackId;
    /// <summary>&gt;= 0: id in stacks_N; &lt; 0: -errno from bpf_get_stackid.</summary>
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
    UnwindComplete = 10,
    UnwindTruncated = 11,
    UnwindTableFrames = 12,
    UnwindFramePointerFrames = 13,
    UnwindUnsupported = 14,
    UnwindReadFailed = 15,
    Count = 16,
}

/// <summary>One stack from a BPF_MAP_TYPE_STACK_TRACE map: up to 127 instruction pointers, leaf first, zero-padded.</summary>
[InlineArray(ProfilerAbi.MaxStackDepth)]
internal struct StackFrames
{
    private ulong _first;
}

/// <summary>Mirror of <c>struct user_stack</c> in profiler.bpf.c (1032 bytes): a user stack the BPF program walked.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UserStack
{
    public ulong Hash;
    public uint Length;
    /// <summary>1 when the walk reached the thread's root (an End row).</summary>
    public uint Complete;
    public StackFrames Frames;
}

/// <summary>Mirror of <c>struct unwind_mapping</c> (32 bytes): ELF address = pc − <see cref="Bias"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UnwindMapping
{
    public ulong Start;
    public ulong End;
    public ulong Bias;
    public uint TableId;
    public uint Rows;
}

/// <summary>Mirror of <c>struct unwind_process</c>: a process's mappings with unwind tables, sorted by start.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UnwindProcess
{
    public uint Count;
    /// <summary><see cref="UnwindProcessFlags"/>; the BPF program clears <see cref="UnwindProcessFlags.Young"/> when it acts on it.</summary>
    public uint Flags;
    public UnwindMappings Mappings;
}

[Flags]
internal enum UnwindProcessFlags : uint
{
    None = 0,
    /// <summary>Started moments ago, maybe still mapping libraries: announce it again on a pc outside every known mapping.</summary>
    Young = 1,
}

[InlineArray(ProfilerAbi.MaxUnwindMappings)]
internal struct UnwindMappings
{
    private UnwindMapping _first;
}
