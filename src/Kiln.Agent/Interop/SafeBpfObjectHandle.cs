namespace Kiln.Agent.Interop;

/// <summary>A libbpf <c>struct bpf_object *</c>; closing it unloads its programs and maps (unless pinned or still referenced).</summary>
internal sealed class SafeBpfObjectHandle : SafeHandle
{
    internal SafeBpfObjectHandle(nint obj)
        : base(invalidHandleValue: 0, ownsHandle: true) => SetHandle(obj);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        Libbpf.BpfObjectClose(handle);
        return true;
    }
}

/// <summary>A libbpf <c>struct bpf_link *</c>; destroying it detaches the program (and closes the perf event it owns).</summary>
internal sealed class SafeBpfLinkHandle : SafeHandle
{
    internal SafeBpfLinkHandle(nint link)
        : base(invalidHandleValue: 0, ownsHandle: true) => SetHandle(link);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => Libbpf.BpfLinkDestroy(handle) == 0;
}
