namespace Kiln.Symbolization.Tests;

/// <summary>A fact that needs root (to read /proc/kallsyms addresses): skipped otherwise; CI runs as root.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
            Skip = "needs root (CAP_SYSLOG) to see /proc/kallsyms addresses";
    }
}
