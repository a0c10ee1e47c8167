namespace Kiln.Agent.Sampling;

/// <summary>How the <see cref="Sampler"/> samples; mirrors the agent's command-line flags.</summary>
public sealed class SamplerOptions
{
    public const int MinFrequency = 1;
    public const int MaxFrequency = 1000;

    /// <summary>Samples per second per CPU (<c>--sampling-frequency</c>, 1–1000, default 19: off the
    /// beat of common timers so that periodic work is not systematically hit or missed).</summary>
    public int SamplingFrequency { get; set; } = 19;

    /// <summary>Length of one window (<c>--profiling-duration</c>, 1 s – 1 h, default 10 s).</summary>
    public TimeSpan ProfilingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The compiled BPF object; default: Bpf/profiler.bpf.o beside Kiln.Agent.dll.</summary>
    public string? ObjectPath { get; set; }

    /// <summary>
    /// Buckets of each stack-trace map (1024–1048576, default 16384). A stack whose hash lands in a
    /// bucket already holding another stack in the same window is lost (counted as a collision),
    /// so more distinct stacks per window need more buckets. Each bucket preallocates about 1 KiB
    /// of kernel memory, twice (the maps are double-buffered): the default costs about 34 MiB.
    /// </summary>
    public int StackMapEntries { get; set; } = 16384;

    /// <summary>Windows held for a slow consumer before new ones are dropped (and counted).</summary>
    public int WindowQueueCapacity { get; set; } = 8;

    internal string ResolvedObjectPath =>
        ObjectPath ?? Path.Combine(AppContext.BaseDirectory, "Bpf", Bpf.ProfilerAbi.ObjectFileName);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad option, its value and what is allowed.</summary>
    public void Validate()
    {
        if (SamplingFrequency is < MinFrequency or > MaxFrequency)
            throw new ArgumentException($"--sampling-frequency must be between {MinFrequency} and {MaxFrequency} Hz. Actual value: {SamplingFrequency}.");
        if (ProfilingDuration < TimeSpan.FromSeconds(1) || ProfilingDuration > TimeSpan.FromHours(1))
            throw new ArgumentException($"--profiling-duration must be between 1s and 1h. Actual value: {ProfilingDuration}.");
        if (StackMapEntries is < 1024 or > 1 << 20)
            throw new ArgumentException($"The stack map size must be between 1024 and 1048576 entries. Actual value: {StackMapEntries}.");
        if (WindowQueueCapacity < 1)
            throw new ArgumentException($"The window queue capacity must be at least 1. Actual value: {WindowQueueCapacity}.");
    }
}
