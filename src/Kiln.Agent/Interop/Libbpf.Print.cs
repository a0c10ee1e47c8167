namespace Kiln.Agent.Interop;

internal static partial class Libbpf
{
    internal const int PrintWarn = 0;  // LIBBPF_WARN
    internal const int PrintInfo = 1;  // LIBBPF_INFO
    internal const int PrintDebug = 2; // LIBBPF_DEBUG

    // https://libbpf.readthedocs.io/en/latest/api.html (libbpf_set_print) — callback is
    // int (*)(enum libbpf_print_level, const char *format, va_list args).
    [LibraryImport(LibbpfName, EntryPoint = "libbpf_set_print")]
    internal static unsafe partial nint LibbpfSetPrint(delegate* unmanaged<int, byte*, nint, int> print);
}
