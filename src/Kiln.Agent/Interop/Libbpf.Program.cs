namespace Kiln.Agent.Interop;

internal static partial class Libbpf
{
    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_program__name)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_program__name")]
    internal static partial nint BpfProgramName(nint program);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_program__section_name)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_program__section_name")]
    internal static partial nint BpfProgramSectionName(nint program);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_program__type)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_program__type")]
    internal static partial int BpfProgramType(nint program);
}
