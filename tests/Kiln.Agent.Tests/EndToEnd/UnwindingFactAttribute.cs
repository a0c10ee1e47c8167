namespace Kiln.Agent.Tests.EndToEnd;

/// <summary>
/// A fact of <see cref="UnwindingEndToEndTests"/>: skipped unless the test runs as root and has gcc-12, clang-14,
/// objdump, Debian's python3 and perf (CI runs as root and installs them).
/// </summary>
public sealed class UnwindingFactAttribute : FactAttribute
{
    private static readonly string[] s_tools = ["gcc-12", "clang-14", "objdump", "perf"];

    public UnwindingFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Skip = "needs root (CAP_BPF, CAP_PERFMON)";
        }
        else if ((s_tools.FirstOrDefault(t => !OnPath(t)) ?? (File.Exists(UnwindingFixture.Python) ? null : UnwindingFixture.Python)) is { } missing)
        {
            Skip = $"needs {missing} (apt-get install gcc-12 clang-14 binutils python3 linux-perf); CI installs them";
        }
    }

    private static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(d => File.Exists(Path.Combine(d, name)));
}
