using System.Globalization;
using System.Text;
using Kiln.Profiles;
using Microsoft.Win32.SafeHandles;

namespace Kiln.Agent.Labels;

/// <summary>
/// Labels that describe a process, read from procfs: <c>node</c>, <c>pid</c>, <c>comm</c>, <c>executable</c>, <c>cgroup</c>,
/// <c>container_id</c>, <c>systemd_unit</c>; a label whose value is unknown is left out. Labels are cached per pid and
/// re-read when the pid's start time changes (pid reuse). Safe to call from several threads.
/// </summary>
/// <param name="node">The host's name, put in every set as <c>node</c> (left out when empty).</param>
/// <param name="procRoot">Where procfs is mounted; tests point it at a fake tree.</param>
public sealed class ProcessLabeler(string node, string procRoot = "/proc")
{
    public const string NodeLabel = "node";
    public const string PidLabel = "pid";
    public const string CommLabel = "comm";
    public const string ExecutableLabel = "executable";
    public const string CgroupLabel = "cgroup";
    public const string ContainerIdLabel = "container_id";
    public const string SystemdUnitLabel = "systemd_unit";

    // /proc/PID/stat is a few hundred bytes: 52 numeric fields and a comm of at most 64 characters.
    private const int StatBufferSize = 2048;

    private readonly string _node = node;
    private readonly string _procRoot = procRoot;
    private readonly Lock _lock = new();

    // pid → labels of the process that had this pid and start time; guarded by _lock.
    private readonly Dictionary<int, (ulong StartTime, LabelSet Labels)> _cache = [];

    /// <summary>Processes whose labels are cached.</summary>
    public int CachedCount
    {
        get
        {
            lock (_lock)
                return _cache.Count;
        }
    }

    /// <summary>
    /// The labels of process <paramref name="pid"/>. A process that has exited since it was sampled keeps the labels
    /// cached for its pid; one never seen before that is already gone gives null.
    /// </summary>
    public LabelSet? Labels(int pid)
    {
        var startTime = ReadStartTime(pid);
        (ulong StartTime, LabelSet Labels) cached;
        bool hit;
        lock (_lock)
            hit = _cache.TryGetValue(pid, out cached);
        if (startTime is null)
            return hit ? cached.Labels : null;
        if (hit && cached.StartTime == startTime)
            return cached.Labels;

        var labels = ReadLabels(pid);
        // The pid may have been reused while its files were read: only a start time read before and after vouches for them.
        if (labels is null || ReadStartTime(pid) != startTime)
            return hit ? cached.Labels : null;
        lock (_lock)
            _cache[pid] = (startTime.Value, labels);
        return labels;
    }

    /// <summary>Forgets every pid not in <paramref name="livePids"/>; pass the pids of the last window so the cache stays bounded.</summary>
    public void Trim(IReadOnlySet<int> livePids)
    {
        lock (_lock)
        {
            List<int>? dead = null;
            foreach (var pid in _cache.Keys)
            {
                if (!livePids.Contains(pid))
                    (dead ??= []).Add(pid);
            }
            if (dead is null)
                return;
            foreach (var pid in dead)
                _cache.Remove(pid);
        }
    }

    private LabelSet? ReadLabels(int pid)
    {
        var dir = Path.Combine(_procRoot, pid.ToString(CultureInfo.InvariantCulture));
        var comm = ReadText(Path.Combine(dir, "comm"));
        if (comm is null)
            return null; // gone
        var labels = new List<Label>(7)
        {
            new(PidLabel, pid.ToString(CultureInfo.InvariantCulture)),
            new(CommLabel, comm.TrimEnd('\n')),
        };
        if (_node.Length > 0)
            labels.Add(new(NodeLabel, _node));
        if (ReadExecutable(Path.Combine(dir, "exe")) is { } exe)
            labels.Add(new(ExecutableLabel, exe));
        if (ReadText(Path.Combine(dir, "cgroup")) is { } cgroupFile && CgroupPath.Parse(cgroupFile) is { } cgroup)
        {
            labels.Add(new(CgroupLabel, cgroup));
            if (CgroupPath.ContainerId(cgroup) is { } containerId)
                labels.Add(new(ContainerIdLabel, containerId));
            if (CgroupPath.SystemdUnit(cgroup) is { } unit)
                labels.Add(new(SystemdUnitLabel, unit));
        }
        return LabelSet.From(labels);
    }

    /// <summary>The start time in clock ticks since boot (field 22 of /proc/PID/stat), or null when the process is gone.</summary>
    internal ulong? ReadStartTime(int pid)
    {
        Span<byte> buffer = stackalloc byte[StatBufferSize];
        int length;
        try
        {
            using SafeFileHandle handle = File.OpenHandle(Path.Combine(_procRoot, pid.ToString(CultureInfo.InvariantCulture), "stat"));
            length = RandomAccess.Read(handle, buffer, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return ParseStartTime(buffer[..length]);
    }

    /// <summary>Field 22 of a /proc/PID/stat line, or null when malformed. Fields are counted from the last ')', since
    /// comm (field 2) may itself contain spaces and parentheses.</summary>
    internal static ulong? ParseStartTime(ReadOnlySpan<byte> stat)
    {
        var close = stat.LastIndexOf((byte)')');
        if (close < 0)
            return null;
        // After ')' come " state ppid …": field 3 is the first, so field 22 is the 20th.
        var fields = stat[(close + 1)..].TrimStart((byte)' ');
        var field = 3;
        foreach (var range in fields.Split((byte)' '))
        {
            if (field++ == 22)
                return ulong.TryParse(fields[range], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
        }
        return null;
    }

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // readlink(/proc/PID/exe): kernel threads have none, and other users' processes are unreadable without
    // CAP_SYS_PTRACE; both leave the label out. A replaced binary reads "PATH (deleted)": the suffix is dropped so
    // that an upgrade does not start a new series.
    private static string? ReadExecutable(string path)
    {
        string? target;
        try
        {
            target = new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        const string Deleted = " (deleted)";
        if (target is not null && target.EndsWith(Deleted, StringComparison.Ordinal))
            target = target[..^Deleted.Length];
        return string.IsNullOrEmpty(target) ? null : target;
    }
}
