namespace Kiln.Agent.Interop;

internal static partial class Libc
{
    /// <summary>x86-64 syscall number of perf_event_open (arch/x86/entry/syscalls/syscall_64.tbl).</summary>
    private const long SysPerfEventOpen = 298;

    /// <summary>Close the event's fd on exec, so child processes never inherit it.</summary>
    internal const ulong PerfFlagFdCloexec = 1UL << 3;

    // https://man7.org/linux/man-pages/man2/syscall.2.html — glibc's syscall(2) is variadic but
    // does not use va_start (it only moves registers), so a fixed-arity import is safe on x86-64.
    [LibraryImport(LibcName, EntryPoint = "syscall", SetLastError = true)]
    private static unsafe partial long Syscall(long number, PerfEventAttr* attr, long pid, long cpu, long groupFd, ulong flags);

    // https://man7.org/linux/man-pages/man2/perf_event_open.2.html
    internal static unsafe int PerfEventOpen(ref PerfEventAttr attr, int pid, int cpu, int groupFd, ulong flags)
    {
        fixed (PerfEventAttr* p = &attr)
        {
            return (int)Syscall(SysPerfEventOpen, p, pid, cpu, groupFd, flags);
        }
    }
}
