namespace Kiln.Agent.Interop;

internal static partial class Libbpf
{
    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map__name)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map__name")]
    internal static partial nint BpfMapName(nint map);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map__type)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map__type")]
    internal static partial int BpfMapType(nint map);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map__key_size)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map__key_size")]
    internal static partial uint BpfMapKeySize(nint map);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map__value_size)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map__value_size")]
    internal static partial uint BpfMapValueSize(nint map);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map__max_entries)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map__max_entries")]
    internal static partial uint BpfMapMaxEntries(nint map);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map__fd) — owned by the bpf_object.
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map__fd")]
    internal static partial int BpfMapFd(nint map);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map__set_max_entries) — only before bpf_object__load.
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map__set_max_entries")]
    internal static partial int BpfMapSetMaxEntries(nint map, uint maxEntries);
}
