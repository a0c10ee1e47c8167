using System.Globalization;

namespace Kiln.Bench.Agent;

/// <summary>What /proc says about a process (or the machine), read the way `ps` and `top` do.</summary>
internal static class ProcFs
{
    private static readonly double s_ticksPerSecond = 100; // USER_HZ: 100 on every Linux x86-64 kernel

    /// <summary>utime + stime of the whole process (every thread, live or exited) so far.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // Fields after "(comm) ": state is index 0, utime index 11, stime index 12 (stat(5) fields 14 and 15).
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / s_ticksPerSecond);
    }

    /// <summary>
    /// On-CPU time of the process's live threads in nanoseconds (the first field of each /proc/PID/task/TID/schedstat):
    /// finer than <see cref="CpuTime"/>'s 10 ms ticks, but blind to threads that already exited.
    /// </summary>
    public static long LiveThreadsCpuNs(int pid)
    {
        long total = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var text = File.ReadAllText(Path.Combine(task, "schedstat"));
                total += long.Parse(text[..text.IndexOf(' ', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // The thread exited while we listed them.
            }
        }
        return total;
    }

    /// <summary>Each live thread's name and on-CPU nanoseconds (schedstat), by thread id.</summary>
    public static Dictionary<int, (string Name, long Ns)> ThreadCpuNs(int pid)
    {
        var threads = new Dictionary<int, (string, long)>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var text = File.ReadAllText(Path.Combine(task, "schedstat"));
                var ns = long.Parse(text[..text.IndexOf(' ', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
                threads[int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)] = (File.ReadAllText(Path.Combine(task, "comm")).Trim(), ns);
            }
            catch (IOException)
            {
            }
        }
        return threads;
    }

    /// <summary>CPU between two <see cref="ThreadCpuNs"/> snapshots summed by thread name, largest first, e.g.
    /// ".NET TP Worker 812 ms, .NET Tiered Com 433 ms" (threads that exited in between are missing).</summary>
    public static string ByThreadName(Dictionary<int, (string Name, long Ns)> before, Dictionary<int, (string Name, long Ns)> after)
    {
        var byName = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (tid, (name, ns)) in after)
        {
            byName[name] = byName.GetValueOrDefault(name) + ns - (before.TryGetValue(tid, out var b) ? b.Ns : 0);
        }
        return string.Join(", ", byName.Where(p => p.Value >= 1_000_000).OrderByDescending(p => p.Value)
            .Select(p => $"{p.Key} {p.Value / 1e6:F0} ms"));
    }

    /// <summary>A "kB" field of /proc/PID/status (VmRSS, VmHWM, …) in bytes.</summary>
    public static long StatusBytes(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                var value = line[(field.Length + 1)..].Trim();
                return long.Parse(value[..value.IndexOf(' ', StringComparison.Ordinal)], CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException($"/proc/{pid}/status has no {field}");
    }

    /// <summary>The 1-, 5- and 15-minute load averages, as /proc/loadavg writes them.</summary>
    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    public static string Mb(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MB";
}
