namespace Kiln.Agent.Interop;

internal static partial class Libc
{
    private const int FDupfdCloexec = 1030;

    // https://man7.org/linux/man-pages/man2/close.2.html
    [LibraryImport(LibcName, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    // https://man7.org/linux/man-pages/man2/fcntl.2.html (F_DUPFD_CLOEXEC)
    [LibraryImport(LibcName, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    /// <summary>Duplicates <paramref name="fd"/> with close-on-exec set; -1 and errno on failure.</summary>
    internal static int DupCloexec(int fd) => Fcntl(fd, FDupfdCloexec, 3);
}
