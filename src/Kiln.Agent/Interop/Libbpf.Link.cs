namespace Kiln.Agent.Interop;

internal static partial class Libbpf
{
    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_program__attach_perf_event) — on
    // success the link owns the perf event fd: bpf_link__destroy disables and closes it.
    [LibraryImport(LibbpfName, EntryPoint = "bpf_program__attach_perf_event", SetLastError = true)]
    internal static partial nint BpfProgramAttachPerfEvent(nint program, int perfEventFd);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_link__destroy)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_link__destroy")]
    internal static partial int BpfLinkDestroy(nint link);
}
