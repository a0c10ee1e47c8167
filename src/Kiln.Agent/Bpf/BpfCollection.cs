using Kiln.Agent.Interop;

namespace Kiln.Agent.Bpf;

/// <summary>
/// A BPF object loaded into the kernel: owns the bpf_object (and through it the programs and maps)
/// and every link attached through it. Disposing detaches the links first, then unloads.
/// </summary>
internal sealed class BpfCollection : IDisposable
{
    private readonly SafeBpfObjectHandle _obj;
    private readonly List<SafeBpfLinkHandle> _links = [];

    private BpfCollection(SafeBpfObjectHandle obj) => _obj = obj;

    /// <summary>
    /// Opens and loads <paramref name="path"/>, first resizing the maps named in
    /// <paramref name="maxEntries"/>; a rejected program's verifier log is part of the exception.
    /// </summary>
    internal static BpfCollection Load(string path, IReadOnlyDictionary<string, uint>? maxEntries = null)
    {
        var obj = BpfObjectSpec.Open(path);
        try
        {
            foreach (var (name, entries) in maxEntries ?? new Dictionary<string, uint>())
            {
                var map = Libbpf.BpfObjectFindMapByName(obj.DangerousGetHandle(), name);
                if (map == 0)
                    throw new InvalidOperationException($"BPF object has no map named '{name}'");
                var resized = Libbpf.BpfMapSetMaxEntries(map, entries);
                if (resized != 0)
                    throw new KernelCallException($"bpf_map__set_max_entries({name}, {entries})", Libbpf.Errno(resized), null, null);
            }
            using var log = LibbpfLog.Capture();
            var result = Libbpf.BpfObjectLoad(obj.DangerousGetHandle());
            if (result != 0)
            {
                var errno = Libbpf.Errno(result);
                var fix = errno is Errno.EPERM or Errno.EACCES
                    ? "run as root or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8)"
                    : "the kernel rejected the object; libbpf's log follows";
                throw new KernelCallException($"bpf_object__load({System.IO.Path.GetFileName(path)})", errno, fix, log.Tail());
            }
            return new BpfCollection(obj);
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }

    /// <summary>A duplicate fd of map <paramref name="name"/>, usable after this collection is disposed.</summary>
    internal BpfMap Map(string name)
    {
        var map = Libbpf.BpfObjectFindMapByName(_obj.DangerousGetHandle(), name);
        if (map == 0)
            throw new InvalidOperationException($"BPF object has no map named '{name}' — the committed profiler.bpf.o and the agent disagree; rebuild with src/Kiln.Agent/Bpf/build.sh");
        var fd = Libc.DupCloexec(Libbpf.BpfMapFd(map));
        if (fd < 0)
            throw new KernelCallException($"fcntl(F_DUPFD_CLOEXEC, map={name})", Marshal.GetLastPInvokeError(), "raise the open-file limit (ulimit -n)", null);
        return new BpfMap(name, new SafeBpfMapHandle(fd), Libbpf.BpfMapKeySize(map), Libbpf.BpfMapValueSize(map));
    }

    /// <summary>
    /// Attaches program <paramref name="program"/> to a perf event. On success the link owns the
    /// event (libbpf closes its fd when the link is destroyed).
    /// </summary>
    internal void AttachPerfEvent(string program, SafePerfEventHandle perfEvent, string what)
    {
        var prog = Libbpf.BpfObjectFindProgramByName(_obj.DangerousGetHandle(), program);
        if (prog == 0)
            throw new InvalidOperationException($"BPF object has no program named '{program}'");
        using var log = LibbpfLog.Capture();
        var added = false;
        perfEvent.DangerousAddRef(ref added);
        try
        {
            var link = Libbpf.BpfProgramAttachPerfEvent(prog, (int)perfEvent.DangerousGetHandle());
            if (link == 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new KernelCallException($"bpf_program__attach_perf_event({program}, {what})", errno,
                    errno is Errno.EPERM or Errno.EACCES ? "run as root or grant CAP_BPF and CAP_PERFMON" : null, log.Tail());
            }
            perfEvent.TransferToLink();
            _links.Add(new SafeBpfLinkHandle(link));
        }
        finally
        {
            if (added)
                perfEvent.DangerousRelease();
        }
    }

    public void Dispose()
    {
        foreach (var link in _links)
            link.Dispose();
        _links.Clear();
        _obj.Dispose();
    }
}
