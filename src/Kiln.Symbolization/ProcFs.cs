using System.Globalization;
using System.Text;

namespace Kiln.Symbolization;

/// <summary>Small readers of /proc/PID files used by symbolization.</summary>
public static class ProcFs
{
    /// <summary>The process's pid inside its own (innermost) pid namespace, from <c>NSpid:</c> in /proc/PID/status;
    /// <paramref name="pid"/> itself when the line is missing (old kernels) or the process is gone.</summary>
    public static int ReadNamespacePid(int pid, string procRoot = "/proc")
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "status")))
            {
                if (!line.StartsWith("NSpid:", StringComparison.Ordinal)) continue;
                var fields = line.AsSpan(6).Trim();
                var last = fields.LastIndexOfAny(' ', '\t');
                var lastField = last < 0 ? fields : fields[(last + 1)..];
                return int.TryParse(lastField, NumberStyles.None, CultureInfo.InvariantCulture, out var ns) ? ns : pid;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return pid;
    }

    /// <summary>The environment the process started with (/proc/PID/environ), or null when unreadable.</summary>
    public static Dictionary<string, string>? ReadEnvironment(int pid, string procRoot = "/proc")
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "environ"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in Encoding.UTF8.GetString(bytes).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0) env[entry[..eq]] = entry[(eq + 1)..];
        }
        return env;
    }

    /// <summary>The process start time in clock ticks since boot (field 22 of /proc/PID/stat), or null when gone.
    /// Together with the pid it identifies a process across pid reuse.</summary>
    public static ulong? ReadStartTime(int pid, string procRoot = "/proc")
    {
        string stat;
        try
        {
            stat = File.ReadAllText(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // comm (field 2) may contain spaces and parentheses: fields after it start at the last ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0) return null;
        var fields = stat[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state); field 22 is fields[19].
        return fields.Length > 19 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : null;
    }

    /// <summary>How long ago a process started, from its start time in clock ticks since boot (USER_HZ = 100);
    /// <see cref="TimeSpan.MaxValue"/> when /proc/uptime cannot be read.</summary>
    public static TimeSpan ProcessAge(ulong startTicks, string procRoot = "/proc")
    {
        try
        {
            var uptime = File.ReadAllText(Path.Combine(procRoot, "uptime"));
            var seconds = double.Parse(uptime.AsSpan(0, uptime.IndexOf(' ', StringComparison.Ordinal)), NumberStyles.Float, CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(seconds - startTicks / 100.0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
        {
            return TimeSpan.MaxValue;
        }
    }
}
