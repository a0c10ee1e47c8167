namespace Kiln.Agent.Sampling;

/// <summary>Checks the Linux capabilities sampling needs before anything is loaded, so the error names them.</summary>
internal static class Capabilities
{
    internal const int CapSysAdmin = 21;
    internal const int CapPerfmon = 38;
    internal const int CapBpf = 39;

    /// <summary>The effective capability set of this process (CapEff in /proc/self/status).</summary>
    internal static ulong Effective()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("CapEff:", StringComparison.Ordinal))
                return ulong.Parse(line.AsSpan(7).Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        }
        return 0;
    }

    /// <summary>The capabilities missing for BPF sampling ("CAP_BPF", "CAP_PERFMON"), empty when
    /// the set suffices: CAP_BPF with CAP_PERFMON (Linux 5.8+), or CAP_SYS_ADMIN.</summary>
    internal static IReadOnlyList<string> MissingForSampling(ulong effective)
    {
        if (Has(effective, CapSysAdmin) || (Has(effective, CapBpf) && Has(effective, CapPerfmon)))
            return [];
        var missing = new List<string>();
        if (!Has(effective, CapBpf))
            missing.Add("CAP_BPF");
        if (!Has(effective, CapPerfmon))
            missing.Add("CAP_PERFMON");
        return missing;
    }

    /// <summary>Throws <see cref="UnauthorizedAccessException"/> naming what is missing.</summary>
    internal static void RequireSampling()
    {
        var missing = MissingForSampling(Effective());
        if (missing.Count > 0)
        {
            throw new UnauthorizedAccessException(
                $"sampling needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); this process lacks {string.Join(" and ", missing)} — run as root or grant them (e.g. setcap cap_bpf,cap_perfmon+ep on the kiln binary)");
        }
    }

    private static bool Has(ulong set, int cap) => (set & (1UL << cap)) != 0;
}
