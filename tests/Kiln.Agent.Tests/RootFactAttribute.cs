namespace Kiln.Agent.Tests;

/// <summary>A fact that loads real BPF programs: skipped unless the test runs as root (CI does).</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
            Skip = "needs root (CAP_BPF, CAP_PERFMON)";
    }
}
