namespace Kiln.Agent.Interop;

internal static partial class Libbpf
{
    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_object__open_file)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_object__open_file", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint BpfObjectOpenFile(string path, nint options);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_object__load)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_object__load", SetLastError = true)]
    internal static partial int BpfObjectLoad(nint obj);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_object__close)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_object__close")]
    internal static partial void BpfObjectClose(nint obj);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_object__next_program)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_object__next_program")]
    internal static partial nint BpfObjectNextProgram(nint obj, nint previous);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_object__next_map)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_object__next_map")]
    internal static partial nint BpfObjectNextMap(nint obj, nint previous);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_object__find_program_by_name)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_object__find_program_by_name", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint BpfObjectFindProgramByName(nint obj, string name);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_object__find_map_by_name)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_object__find_map_by_name", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint BpfObjectFindMapByName(nint obj, string name);

    // https://libbpf.readthedocs.io/en/latest/api.html (libbpf_num_possible_cpus)
    [LibraryImport(LibbpfName, EntryPoint = "libbpf_num_possible_cpus")]
    internal static partial int NumPossibleCpus();
}
