using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Kiln.Agent.Bpf;
using Kiln.Agent.Interop;

namespace Kiln.Agent.Tests;

public class LayoutTests
{
    [Fact]
    public void PerfEventAttr_is_PERF_ATTR_SIZE_VER5()
    {
        Assert.Equal(112, Marshal.SizeOf<PerfEventAttr>());
        Assert.Equal(PerfEventAttr.SizeVer5, (uint)Unsafe.SizeOf<PerfEventAttr>());
        Assert.Equal(PerfEventAttr.SizeVer5, PerfEventAttr.CpuClock(99).Size);
    }

    [Fact]
    public void PerfEventAttr_fields_sit_at_the_kernel_offsets()
    {
        Assert.Equal(16, (int)Marshal.OffsetOf<PerfEventAttr>(nameof(PerfEventAttr.SamplePeriodOrFreq)));
        Assert.Equal(40, (int)Marshal.OffsetOf<PerfEventAttr>(nameof(PerfEventAttr.Flags)));
        Assert.Equal(56, (int)Marshal.OffsetOf<PerfEventAttr>(nameof(PerfEventAttr.Config1)));
        Assert.Equal(88, (int)Marshal.OffsetOf<PerfEventAttr>(nameof(PerfEventAttr.SampleStackUser)));
        Assert.Equal(108, (int)Marshal.OffsetOf<PerfEventAttr>(nameof(PerfEventAttr.SampleMaxStack)));
    }

    [Fact]
    public void CpuClock_asks_for_frequency_mode_and_starts_disabled()
    {
        var attr = PerfEventAttr.CpuClock(19);
        Assert.Equal(1u, attr.Type);
        Assert.Equal(0ul, attr.Config);
        Assert.Equal(19ul, attr.SamplePeriodOrFreq);
        Assert.Equal((1ul << 10) | 1ul, attr.Flags);
    }

    [Fact]
    public void SampleKey_matches_struct_sample_key()
    {
        Assert.Equal(32, Unsafe.SizeOf<SampleKey>());
        Assert.Equal(16, Unsafe.SizeOf<CommBytes>());
        Assert.Equal(127 * 8, Unsafe.SizeOf<StackFrames>());
    }
}
