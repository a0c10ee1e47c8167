namespace Kiln.Agent.Interop;

internal static partial class Libbpf
{
    // https://libbpf.readthedocs.io/en/latest/api.html (ring_buffer__new: a consumer of one BPF_MAP_TYPE_RINGBUF map;
    // sample_cb(ctx, data, size) is called for each record; NULL on failure with errno set)
    [LibraryImport(LibbpfName, EntryPoint = "ring_buffer__new", SetLastError = true)]
    internal static unsafe partial nint RingBufferNew(int mapFd, delegate* unmanaged[Cdecl]<nint, nint, nuint, int> sampleCallback, nint context, nint options);

    // ring_buffer__poll: waits up to timeout_ms for records (epoll) and consumes them; returns the number of
    // records consumed or a negative errno (-EINTR when a signal interrupted the wait).
    [LibraryImport(LibbpfName, EntryPoint = "ring_buffer__poll", SetLastError = true)]
    internal static partial int RingBufferPoll(nint ringBuffer, int timeoutMs);

    // ring_buffer__free: unmaps and frees the consumer (the map itself stays).
    [LibraryImport(LibbpfName, EntryPoint = "ring_buffer__free")]
    internal static partial void RingBufferFree(nint ringBuffer);
}
