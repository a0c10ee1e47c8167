namespace Kiln.Agent.Interop;

internal static partial class Libbpf
{
    internal const uint BpfMapTypeArray = 2;

    /// <summary>BPF_F_INNER_MAP: the map may be an inner map of a map-in-map whose template has other max_entries.</summary>
    internal const uint BpfFInnerMap = 1U << 12;

    /// <summary><c>struct bpf_map_create_opts</c> (libbpf 1.x, 48 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MapCreateOptions
    {
        public nuint Size;
        public uint BtfFd;
        public uint BtfKeyTypeId;
        public uint BtfValueTypeId;
        public uint BtfVmlinuxValueTypeId;
        public uint InnerMapFd;
        public uint MapFlags;
        public ulong MapExtra;
        public uint NumaNode;
        public uint MapIfindex;
    }

    /// <summary><c>struct bpf_map_batch_opts</c> (24 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MapBatchOptions
    {
        public nuint Size;
        public ulong ElemFlags;
        public ulong Flags;
    }

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map_create): returns a new map fd, or -errno.
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static unsafe partial int BpfMapCreate(uint mapType, string name, uint keySize, uint valueSize, uint maxEntries, MapCreateOptions* options);

    // https://libbpf.readthedocs.io/en/latest/api.html (bpf_map_update_batch): count is in/out.
    [LibraryImport(LibbpfName, EntryPoint = "bpf_map_update_batch", SetLastError = true)]
    internal static unsafe partial int BpfMapUpdateBatch(int fd, void* keys, void* values, uint* count, MapBatchOptions* options);
}
