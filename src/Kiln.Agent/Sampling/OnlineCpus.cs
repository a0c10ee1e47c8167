namespace Kiln.Agent.Sampling;

/// <summary>The CPUs that are online, from the kernel's cpu list format ("0-3,5,7-8").</summary>
internal static class OnlineCpus
{
    internal const string Path = "/sys/devices/system/cpu/online";

    internal static int[] Read() => Parse(File.ReadAllText(Path), Path);

    /// <summary>Parses a cpu list; throws <see cref="FormatException"/> quoting the text and its source.</summary>
    internal static int[] Parse(string text, string source)
    {
        var cpus = new List<int>();
        foreach (var part in text.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0)
            {
                cpus.Add(ParseCpu(part, text, source));
                continue;
            }
            var first = ParseCpu(part[..dash], text, source);
            var last = ParseCpu(part[(dash + 1)..], text, source);
            if (last < first)
                throw new FormatException($"{source}: bad cpu range '{part}' in '{text.Trim()}'");
            for (var cpu = first; cpu <= last; cpu++)
                cpus.Add(cpu);
        }
        if (cpus.Count == 0)
            throw new FormatException($"{source}: no CPUs listed in '{text.Trim()}'");
        return [.. cpus.Distinct().Order()];
    }

    private static int ParseCpu(string s, string text, string source) =>
        int.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var cpu)
            ? cpu
            : throw new FormatException($"{source}: bad cpu number '{s}' in '{text.Trim()}'");
}
