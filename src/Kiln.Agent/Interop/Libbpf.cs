namespace Kiln.Agent.Interop;

/// <summary>
/// libbpf 1.x (the system's libbpf.so.1). Integer-returning functions return a negative errno on
/// failure; pointer-returning ones return NULL and set errno. https://libbpf.readthedocs.io/en/latest/api.html
/// </summary>
internal static partial class Libbpf
{
    internal const string LibbpfName = "libbpf.so.1";

    /// <summary>The errno of a failed call: libbpf returns -errno and also sets errno, libc returns
    /// -1 and sets errno; -1 is EPERM for libbpf, which errno then agrees with.</summary>
    internal static int Errno(long result) =>
        result < -1 && result >= -4095 ? (int)-result : Marshal.GetLastPInvokeError();
}
