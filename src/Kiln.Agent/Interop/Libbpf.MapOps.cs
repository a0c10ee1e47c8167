namespace Kiln.Agent.Interop;

internal static partial class Libbpf
{
    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map_lookup_elem; BPF_MAP_LOOKUP_ELEM in bpf(2))
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map_lookup_elem", SetLastError = true)]
    internal static unsafe partial int BpfMapLookupElem(int fd, void* key, void* value);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map_update_elem)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map_update_elem", SetLastError = true)]
    internal static unsafe partial int BpfMapUpdateElem(int fd, void* key, void* value, ulong flags);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map_delete_elem)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map_delete_elem", SetLastError = true)]
    internal static unsafe partial int BpfMapDeleteElem(int fd, void* key);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map_get_next_key; NULL key = first key)
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map_get_next_key", SetLastError = true)]
    internal static unsafe partial int BpfMapGetNextKey(int fd, void* key, void* nextKey);
}
