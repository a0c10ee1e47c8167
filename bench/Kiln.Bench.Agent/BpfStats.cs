using System.Globalization;

namespace Kiln.Bench.Agent;

/// <summary>
/// Turns on the kernel's per-program run-time accounting (<c>kernel.bpf_stats_enabled</c>) for as long as it lives and
/// puts the old value back on dispose. While it is on, every BPF program's fdinfo carries run_time_ns and run_cnt.
/// </summary>
internal sealed class BpfStats : IDisposable
{
    private const string Sysctl = "/proc/sys/kernel/bpf_stats_enabled";
    private const string PerfEventProgramType = "7"; // BPF_PROG_TYPE_PERF_EVENT
    private readonly string _previous;

    public BpfStats()
    {
        _previous = File.ReadAllText(Sysctl).Trim();
        File.WriteAllText(Sysctl, "1");
    }

    public void Dispose() => File.WriteAllText(Sysctl, _previous);

    /// <summary>
    /// Run time and run count, summed over the distinct perf_event programs that process <paramref name="pid"/> holds
    /// open (several descriptors may name one program: counted once, by prog_id).
    /// </summary>
    public static (long RunTimeNs, long RunCount) PerfEventPrograms(int pid)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long time = 0, count = 0;
        foreach (var path in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
        {
            // Keys repeat in some descriptors' fdinfo (one "inotify wd" line per watch): keep the first.
            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            try
            {
                foreach (var line in File.ReadLines(path))
                {
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    if (colon > 0)
                    {
                        fields.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
                    }
                }
            }
            catch (IOException)
            {
                continue; // the descriptor was closed while we listed them
            }
            if (fields.GetValueOrDefault("prog_type") == PerfEventProgramType && fields.TryGetValue("prog_id", out var id) && seen.Add(id))
            {
                time += long.Parse(fields.GetValueOrDefault("run_time_ns", "0"), CultureInfo.InvariantCulture);
                count += long.Parse(fields.GetValueOrDefault("run_cnt", "0"), CultureInfo.InvariantCulture);
            }
        }
        if (seen.Count == 0)
        {
            throw new InvalidOperationException($"process {pid} holds no perf_event BPF program");
        }
        return (time, count);
    }
}
