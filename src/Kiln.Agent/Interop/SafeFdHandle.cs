namespace Kiln.Agent.Interop;

/// <summary>A file descriptor the agent owns (a perf event, a duplicated BPF map fd); closed on release.</summary>
internal class SafeFdHandle : SafeHandle
{
    internal SafeFdHandle(int fd)
        : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    internal int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}

/// <summary>A perf event fd from perf_event_open. Attaching a BPF program hands it to the
/// resulting <see cref="SafeBpfLinkHandle"/>, which closes it (see <see cref="TransferToLink"/>).</summary>
internal sealed class SafePerfEventHandle(int fd) : SafeFdHandle(fd)
{
    /// <summary>Marks the fd as owned by a bpf_link, so this handle no longer closes it.</summary>
    internal void TransferToLink() => SetHandleAsInvalid();
}

/// <summary>A duplicate of a BPF map's fd: keeps the map alive and usable independently of its bpf_object.</summary>
internal sealed class SafeBpfMapHandle(int fd) : SafeFdHandle(fd);
