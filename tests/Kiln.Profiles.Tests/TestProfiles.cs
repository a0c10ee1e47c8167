using Kiln.Profiles.Pprof;

namespace Kiln.Profiles.Tests;

/// <summary>Small, fully known profiles shared by the tests.</summary>
internal static class TestProfiles
{
    public static readonly FrameSpec Main = new("main", "main.go", 10, MappingFile: "/bin/app", BuildId: "abc123", Address: 0x1000);
    public static readonly FrameSpec Work = new("work", "work.go", 20, MappingFile: "/bin/app", BuildId: "abc123", Address: 0x2000);
    public static readonly FrameSpec Hash = new("hash", "hash.go", 30, MappingFile: "/bin/app", BuildId: "abc123", Address: 0x3000);

    /// <summary>
    /// Two sample types (samples/count, cpu/nanoseconds), three locations main/work/hash with dense ids 1..3, one mapping,
    /// three samples: main;work;hash = (1, 10), main;work = (2, 20), main = (3, 30) with label comm=app on the first.
    /// </summary>
    public static Profile Cpu(long timeNanos = 1_000, long durationNanos = 500)
    {
        return new ProfileBuilder()
            .AddSampleType("samples", "count")
            .AddSampleType("cpu", "nanoseconds")
            .SetPeriod("cpu", "nanoseconds", 10_000_000)
            .SetTime(timeNanos, durationNanos)
            .AddSample([Hash, Work, Main], [1, 10], [("comm", "app")])
            .AddSample([Work, Main], [2, 20])
            .AddSample([Main], [3, 30])
            .Build();
    }
}
