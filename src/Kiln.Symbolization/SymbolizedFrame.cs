namespace Kiln.Symbolization;

/// <summary>How a frame was (or was not) resolved.</summary>
public enum FrameSource : byte
{
    /// <summary>The address lies in no known mapping of the process; kept as a bare address.</summary>
    Unmapped,

    /// <summary>The address is in a mapping but no symbol covers it; kept as mapping + normalized address for later symbolization.</summary>
    Unresolved,

    /// <summary>Resolved from the mapped file's ELF symbol tables.</summary>
    Elf,

    /// <summary>Resolved from the process's JIT perf map.</summary>
    PerfMap,

    /// <summary>Resolved from /proc/kallsyms.</summary>
    Kernel,
}

/// <summary>
/// Where a frame's code came from. One instance per process mapping (or kernel module), shared by all frames in
/// it, so frames carry a reference rather than copies. <see cref="File"/> is the path as the process sees it.
/// </summary>
public sealed record MappingInfo(ulong Start, ulong Limit, ulong Offset, string File, string? BuildId);

/// <summary>
/// One symbolized address. <see cref="NormalizedAddress"/> is the ELF virtual address for file-backed code
/// (what a server-side symbolizer with the same build ID needs), the file-offset-relative address for other
/// mappings, and the address itself for kernel and unmapped frames.
/// </summary>
public readonly record struct SymbolizedFrame(
    ulong Address,
    ulong NormalizedAddress,
    string? FunctionName,
    string? SystemName,
    MappingInfo? Mapping,
    FrameSource Source)
{
    public bool IsResolved => FunctionName != null;
}
