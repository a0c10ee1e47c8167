using System.Runtime.InteropServices;

namespace Kiln.Agent.Interop;

/// <summary>
/// Mirror of the kernel's <c>struct perf_event_attr</c> (include/uapi/linux/perf_event.h) up to
/// PERF_ATTR_SIZE_VER5 = 112 bytes (Linux 4.1+), which ends with <c>sample_max_stack</c>: every
/// field the agent could want. Newer kernels zero-fill the fields past <see cref="Size"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PerfEventAttr
{
    /// <summary>PERF_ATTR_SIZE_VER5; a unit test checks it equals the struct's size.</summary>
    internal const uint SizeVer5 = 112;

    internal const uint TypeSoftware = 1;        // PERF_TYPE_SOFTWARE
    internal const ulong ConfigCpuClock = 0;     // PERF_COUNT_SW_CPU_CLOCK
    internal const ulong FlagDisabled = 1UL << 0;
    internal const ulong FlagFreq = 1UL << 10;

    public uint Type;
    public uint Size;
    public ulong Config;
    public ulong SamplePeriodOrFreq;
    public ulong SampleType;
    public ulong ReadFormat;
    /// <summary>The bit field (disabled:1, inherit:1, pinned:1, … freq:1 at bit 10, …).</summary>
    public ulong Flags;
    public uint WakeupEventsOrWatermark;
    public uint BpType;
    public ulong Config1;
    public ulong Config2;
    public ulong BranchSampleType;
    public ulong SampleRegsUser;
    public uint SampleStackUser;
    public int ClockId;
    public ulong SampleRegsIntr;
    public uint AuxWatermark;
    public ushort SampleMaxStack;
    public ushort Reserved2;

    /// <summary>A disabled software cpu-clock event sampling at <paramref name="frequency"/> Hz
    /// (libbpf enables it when the program is attached).</summary>
    internal static PerfEventAttr CpuClock(int frequency) => new()
    {
        Type = TypeSoftware,
        Size = SizeVer5,
        Config = ConfigCpuClock,
        SamplePeriodOrFreq = (ulong)frequency,
        Flags = FlagDisabled | FlagFreq,
    };
}
