using Microsoft.Extensions.Logging;

namespace Kiln.Agent.Sampling;

internal static partial class SamplerLog
{
    [LoggerMessage(1, LogLevel.Information, "Sampling {CpuCount} CPUs at {Frequency} Hz in windows of {Duration}")]
    public static partial void Started(ILogger logger, int cpuCount, int frequency, TimeSpan duration);

    [LoggerMessage(2, LogLevel.Debug, "Drained {Entries} sample entries ({Samples} samples, {Stacks} stacks) in {Milliseconds:F1} ms")]
    public static partial void WindowDrained(ILogger logger, int entries, long samples, int stacks, double milliseconds);

    [LoggerMessage(3, LogLevel.Warning, "Dropped the sample window starting {Start:O}: the consumer is {Capacity} windows behind")]
    public static partial void WindowDropped(ILogger logger, DateTimeOffset start, int capacity);

    [LoggerMessage(4, LogLevel.Error, "Draining BPF sample maps failed; sampling stopped")]
    public static partial void DrainFailed(ILogger logger, Exception exception);
}
