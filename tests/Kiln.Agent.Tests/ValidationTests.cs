using Kiln.Agent.Interop;
using Kiln.Agent.Sampling;

namespace Kiln.Agent.Tests;

public class ValidationTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(1001)]
    public void Frequency_outside_1_to_1000_is_refused_with_the_flag_and_value(int frequency)
    {
        var e = Assert.Throws<ArgumentException>(() => new SamplerOptions { SamplingFrequency = frequency }.Validate());
        Assert.Equal($"--sampling-frequency must be between 1 and 1000 Hz. Actual value: {frequency}.", e.Message);
    }

    [Fact]
    public void Frequency_bounds_are_accepted()
    {
        new SamplerOptions { SamplingFrequency = 1 }.Validate();
        new SamplerOptions { SamplingFrequency = 1000 }.Validate();
        Assert.Equal(19, new SamplerOptions().SamplingFrequency);
        Assert.Equal(TimeSpan.FromSeconds(10), new SamplerOptions().ProfilingDuration);
    }

    [Fact]
    public void Profiling_duration_below_one_second_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new SamplerOptions { ProfilingDuration = TimeSpan.FromMilliseconds(10) }.Validate());
        Assert.StartsWith("--profiling-duration must be between 1s and 1h. Actual value: ", e.Message);
    }

    [Theory]
    [InlineData(1023)]
    [InlineData(2_000_000)]
    public void Stack_map_size_outside_range_is_refused(int entries)
    {
        var e = Assert.Throws<ArgumentException>(() => new SamplerOptions { StackMapEntries = entries }.Validate());
        Assert.Equal($"The stack map size must be between 1024 and 1048576 entries. Actual value: {entries}.", e.Message);
    }

    [Theory]
    [InlineData("0\n", new[] { 0 })]
    [InlineData("0-1\n", new[] { 0, 1 })]
    [InlineData("0,2-4,7", new[] { 0, 2, 3, 4, 7 })]
    public void Online_cpu_lists_parse(string text, int[] expected)
    {
        Assert.Equal(expected, OnlineCpus.Parse(text, "online"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("0-x")]
    [InlineData("3-1")]
    public void Bad_online_cpu_lists_name_the_source(string text)
    {
        var e = Assert.Throws<FormatException>(() => OnlineCpus.Parse(text, "/sys/devices/system/cpu/online"));
        Assert.StartsWith("/sys/devices/system/cpu/online: ", e.Message);
    }

    [Fact]
    public void This_machine_lists_online_cpus()
    {
        Assert.NotEmpty(OnlineCpus.Read());
    }

    [Fact]
    public void Missing_capabilities_are_named()
    {
        const ulong bpf = 1UL << Capabilities.CapBpf, perfmon = 1UL << Capabilities.CapPerfmon, sysAdmin = 1UL << Capabilities.CapSysAdmin;
        Assert.Equal(["CAP_BPF", "CAP_PERFMON"], Capabilities.MissingForSampling(0));
        Assert.Equal(["CAP_PERFMON"], Capabilities.MissingForSampling(bpf));
        Assert.Equal(["CAP_BPF"], Capabilities.MissingForSampling(perfmon));
        Assert.Empty(Capabilities.MissingForSampling(bpf | perfmon));
        Assert.Empty(Capabilities.MissingForSampling(sysAdmin));
    }

    [Fact]
    public void Kernel_errors_name_operation_errno_and_fix()
    {
        var e = new KernelCallException("perf_event_open(cpu=3)", Errno.EACCES, "run as root or grant CAP_PERFMON", null);
        Assert.Equal("perf_event_open(cpu=3) failed: EACCES (Permission denied) — run as root or grant CAP_PERFMON", e.Message);
        Assert.Equal(13, e.ErrorNumber);
    }
}
