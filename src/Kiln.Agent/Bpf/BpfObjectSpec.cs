using Kiln.Agent.Interop;

namespace Kiln.Agent.Bpf;

/// <summary>BPF map types the agent cares about (enum bpf_map_type in include/uapi/linux/bpf.h).</summary>
public enum BpfMapType
{
    Unspecified = 0,
    Hash = 1,
    Array = 2,
    PerCpuArray = 6,
    StackTrace = 7,
    LruHash = 9,
    HashOfMaps = 13,
    RingBuf = 27,
}

/// <summary>A program in a BPF object file: its function name and ELF section (e.g. "perf_event").</summary>
public sealed record BpfProgramSpec(string Name, string SectionName);

/// <summary>A map declared in a BPF object file, as libbpf parsed it (before any kernel is involved).</summary>
public sealed record BpfMapSpec(string Name, BpfMapType Type, uint KeySize, uint ValueSize, uint MaxEntries);

/// <summary>
/// What a compiled BPF object contains, parsed by libbpf without loading anything into the kernel:
/// needs no privileges, so it can be inspected and tested anywhere libbpf.so.1 exists.
/// </summary>
public sealed class BpfObjectSpec
{
    private BpfObjectSpec(string path, IReadOnlyList<BpfProgramSpec> programs, IReadOnlyList<BpfMapSpec> maps)
    {
        Path = path;
        Programs = programs;
        Maps = maps;
    }

    /// <summary>The object file this spec was read from.</summary>
    public string Path { get; }

    public IReadOnlyList<BpfProgramSpec> Programs { get; }

    /// <summary>The object's maps, including ones libbpf synthesizes (.rodata, .bss) if the source has globals.</summary>
    public IReadOnlyList<BpfMapSpec> Maps { get; }

    /// <summary>Parses <paramref name="path"/> with bpf_object__open_file; throws <see cref="KernelCallException"/> naming the file when libbpf cannot.</summary>
    public static BpfObjectSpec Read(string path)
    {
        using var obj = Open(path);
        var raw = obj.DangerousGetHandle();
        var programs = new List<BpfProgramSpec>();
        for (var p = Libbpf.BpfObjectNextProgram(raw, 0); p != 0; p = Libbpf.BpfObjectNextProgram(raw, p))
            programs.Add(new BpfProgramSpec(Str(Libbpf.BpfProgramName(p)), Str(Libbpf.BpfProgramSectionName(p))));
        var maps = new List<BpfMapSpec>();
        for (var m = Libbpf.BpfObjectNextMap(raw, 0); m != 0; m = Libbpf.BpfObjectNextMap(raw, m))
        {
            maps.Add(new BpfMapSpec(Str(Libbpf.BpfMapName(m)), (BpfMapType)Libbpf.BpfMapType(m),
                Libbpf.BpfMapKeySize(m), Libbpf.BpfMapValueSize(m), Libbpf.BpfMapMaxEntries(m)));
        }
        return new BpfObjectSpec(path, programs, maps);
    }

    /// <summary>Opens (does not load) the object; the caller owns the handle.</summary>
    internal static SafeBpfObjectHandle Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"BPF object not found: {path} — it ships beside Kiln.Agent.dll (src/Kiln.Agent/Bpf/profiler.bpf.o); rebuild with src/Kiln.Agent/Bpf/build.sh", path);
        }
        using var log = LibbpfLog.Capture();
        var obj = Libbpf.BpfObjectOpenFile(path, 0);
        if (obj == 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new KernelCallException($"bpf_object__open_file({path})", errno,
                "the file is not a BPF ELF object libbpf 1.x can read; rebuild it with src/Kiln.Agent/Bpf/build.sh", log.Tail());
        }
        return new SafeBpfObjectHandle(obj);
    }

    private static string Str(nint utf8) => Marshal.PtrToStringUTF8(utf8) ?? "";
}
