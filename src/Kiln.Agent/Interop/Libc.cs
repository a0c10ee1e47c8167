namespace Kiln.Agent.Interop;

/// <summary>The few glibc functions the agent calls directly; one file per function family.</summary>
internal static partial class Libc
{
    internal const string LibcName = "libc.so.6";
}
