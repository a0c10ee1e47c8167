namespace Kiln.Agent.Hosting;

/// <summary>
/// Gives back memory the GC holds without using it. The GC keeps what it freed committed — free regions, large-object
/// holes, and everything under RetainVM, which the server (same executable) wants — so a burst (the start, a table
/// build, a big perf map) would set the agent's resident size for good. When the slack passes a threshold, at most
/// every 20 seconds, one compacting collection returns it: tens of milliseconds now and then, against a resident size
/// the issue bounds at 150 MB. With 200 processes at 99 Hz each window's profiles leave ~10-25 MB of it, and a trim
/// at most once a minute let the resident size climb to 134-157 MB between trims (110-114 MB with these settings).
/// </summary>
internal static class MemoryTrim
{
    private const long SlackBytes = 16L << 20;
    private static readonly TimeSpan s_minInterval = TimeSpan.FromSeconds(20);
    private static long s_lastTrim;

    /// <summary>Collects (blocking, compacting, decommitting) when committed memory exceeds live memory by more than
    /// 16 MB and the last trim is 20 seconds old; returns whether it did.</summary>
    public static bool IfSlack()
    {
        if (s_lastTrim != 0 && Environment.TickCount64 - s_lastTrim < (long)s_minInterval.TotalMilliseconds)
            return false;
        var info = GC.GetGCMemoryInfo();
        var live = info.HeapSizeBytes - info.FragmentedBytes;
        if (info.TotalCommittedBytes - live < SlackBytes)
            return false;
        Collect();
        return true;
    }

    /// <summary>Collects now (blocking, compacting, decommitting), e.g. after a burst of unwind-table builds.</summary>
    public static void Collect()
    {
        s_lastTrim = Environment.TickCount64;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }
}
