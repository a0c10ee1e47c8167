using System.Globalization;
using System.Text;

namespace Kiln.Symbolization;

/// <summary>Small readers of /proc/PID files used by symbolization.</summary>
public static class ProcFs
{
    [ThreadStatic]
    private static byte[]? t_buffer;

    /// <summary>
    /// Reads a whole procfs file (whose size the kernel does not tell) into this thread's buffer: the span is valid
    /// until the same thread's next call. Saves the reader, builder and string of <see cref="File.ReadAllText(string)"/>
    /// for files read for every process every window.
    /// </summary>
    /// <exception cref="IOException">The file is gone or cannot be read.</exception>
    internal static ReadOnlySpan<byte> ReadAll(string path)
    {
        var buffer = t_buffer ??= new byte[16 * 1024];
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var total = 0;
        while (true)
        {
            if (total == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
                t_buffer = buffer;
            }
            var n = RandomAccess.Read(handle, buffer.AsSpan(total), total);
            if (n <= 0) break;
            total += n;
        }
        return buffer.AsSpan(0, total);
    }

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
        ReadOnlySpan<byte> stat;
        try
        {
            stat = ReadAll($"{procRoot}/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // comm (field 2) may contain spaces and parentheses: fields after it start at the last ')'.
        var close = stat.LastIndexOf((byte)')');
        if (close < 0 || close + 2 > stat.Length) return null;
        var rest = stat[(close + 2)..];
        // rest starts at field 3 (state); field 22 follows 19 more spaces.
        for (var field = 3; field < 22; field++)
        {
            var space = rest.IndexOf((byte)' ');
            if (space < 0) return null;
            rest = rest[(space + 1)..];
        }
        var endOfField = rest.IndexOf((byte)' ');
        if (endOfField >= 0) rest = rest[..endOfField];
        return ulong.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : null;
    }

    /// <summary>How long ago a process started, from its start time in clock ticks since boot (USER_HZ = 100);
    /// <see cref="TimeSpan.MaxValue"/> when /proc/uptime cannot be read.</summary>
    public static TimeSpan ProcessAge(ulong startTicks, string procRoot = "/proc")
    {
        try
        {
            var uptime = ReadAll($"{procRoot}/uptime");
            var seconds = double.Parse(uptime[..uptime.IndexOf((byte)' ')], NumberStyles.Float, CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(seconds - startTicks / 100.0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
        {
            return TimeSpan.MaxValue;
        }
    }
}
