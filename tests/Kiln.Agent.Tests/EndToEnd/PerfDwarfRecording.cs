using System.Globalization;
using Kiln.Server.Tests;

namespace Kiln.Agent.Tests.EndToEnd;

/// <summary>
/// The ground truth for a process's stacks: <c>perf record -e cpu-clock --call-graph dwarf -p PID</c> (perf copies
/// 8 KiB of user stack per sample and unwinds it afterwards with .eh_frame and any debug files, e.g. libc6-dbg),
/// read back with <c>perf script</c> as one leaf-first stack of <c>(symbol, file)</c> frames per sample.
/// </summary>
internal sealed class PerfDwarfRecording
{
    private PerfDwarfRecording(string command, IReadOnlyList<IReadOnlyList<(string Symbol, string File)>> stacks)
    {
        Command = command;
        Stacks = stacks;
    }

    /// <summary>How perf was started, for failure messages.</summary>
    public string Command { get; }

    /// <summary>One per sample, leaf first; an unnamed frame is <c>[unknown]</c>, symbol versions are cut off.</summary>
    public IReadOnlyList<IReadOnlyList<(string Symbol, string File)>> Stacks { get; }

    /// <summary>Starts perf on <paramref name="pid"/>; the task ends when the process has exited and perf with it.</summary>
    public static Task<ProcessResult> Start(int pid, int frequency, string dataFile) =>
        ExternalProcess.RunAsync("perf", Arguments(pid, frequency, dataFile));

    /// <summary>Reads what <see cref="Start"/> recorded.</summary>
    public static async Task<PerfDwarfRecording> ReadAsync(ProcessResult record, string dataFile)
    {
        Assert.True(record.ExitCode == 0, $"perf record failed:\n{record}");
        // --no-inline: one line per real frame, named like Kiln names it (the ELF symbol containing the address).
        var script = await ExternalProcess.RunAsync("perf", ["script", "-i", dataFile, "-F", "comm,tid,ip,sym,dso", "--no-inline"]);
        Assert.True(script.ExitCode == 0, $"perf script failed:\n{script}");
        return new PerfDwarfRecording(record.Command, Parse(script.Stdout));
    }

    /// <summary>Each named leaf function's share of samples in percent; unnamed leaves are left out.</summary>
    public Dictionary<string, double> SelfPercent()
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var stack in Stacks)
        {
            if (stack.Count > 0 && stack[0].Symbol != "[unknown]")
            {
                counts[stack[0].Symbol] = counts.GetValueOrDefault(stack[0].Symbol) + 1;
            }
        }
        return counts.ToDictionary(c => c.Key, c => 100.0 * c.Value / Stacks.Count, StringComparer.Ordinal);
    }

    private static string[] Arguments(int pid, int frequency, string dataFile) =>
        ["record", "-F", frequency.ToString(CultureInfo.InvariantCulture), "-e", "cpu-clock", "--call-graph", "dwarf",
         "-p", pid.ToString(CultureInfo.InvariantCulture), "-o", dataFile, "-q"];

    // A sample is a header line ("python3  6801 ") followed by frame lines ("\t  12c98c _PyEval_EvalFrameDefault
    // (/usr/bin/python3.11)"); kernel frames come first, as in Kiln's stacks.
    private static List<IReadOnlyList<(string, string)>> Parse(string script)
    {
        var stacks = new List<IReadOnlyList<(string, string)>>();
        List<(string, string)>? current = null;
        foreach (var line in script.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }
            if (!char.IsWhiteSpace(line[0]))
            {
                current = [];
                stacks.Add(current);
                continue;
            }
            var text = line.Trim();
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            var open = text.LastIndexOf(" (", StringComparison.Ordinal);
            if (current is null || space < 0 || open <= space || !text.EndsWith(')'))
            {
                throw new FormatException($"unexpected perf script line: '{line}'");
            }
            var symbol = text[(space + 1)..open];
            var version = symbol.IndexOf('@', StringComparison.Ordinal);
            current.Add((version > 0 ? symbol[..version] : symbol, text[(open + 2)..^1]));
        }
        return stacks;
    }
}
