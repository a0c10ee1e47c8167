namespace Kiln.Agent.Interop;

internal static partial class Libc
{
    // https://man7.org/linux/man-pages/man3/vsnprintf.3.html — formats libbpf's log lines; on
    // x86-64 a va_list parameter is a pointer to the caller's __va_list_tag.
    [LibraryImport(LibcName, EntryPoint = "vsnprintf")]
    internal static unsafe partial int Vsnprintf(byte* buffer, nuint size, byte* format, nint args);
}
