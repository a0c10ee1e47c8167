namespace Kiln.Symbolization;

/// <summary>Running totals of a <see cref="Symbolizer"/>'s work, for the agent's metrics. Monotonic except the cache sizes.</summary>
public sealed class SymbolizerCounters
{
    internal long UserAddressesField;
    internal long ElfHitsField;
    internal long PerfMapHitsField;
    internal long ElfMissesField;
    internal long PerfMapMissesField;
    internal long UnmappedField;
    internal long UnresolvedOtherField;
    internal long ObjectOpenFailuresField;
    internal long KernelHitsField;
    internal long KernelMissesField;
    internal long MapsReadsField;
    internal long SnapshotsUsedField;

    public long UserAddresses => Volatile.Read(ref UserAddressesField);

    public long ElfHits => Volatile.Read(ref ElfHitsField);

    public long PerfMapHits => Volatile.Read(ref PerfMapHitsField);

    /// <summary>Addresses in an ELF mapping that no symbol covered (stripped binary, or the file could not be read).</summary>
    public long ElfMisses => Volatile.Read(ref ElfMissesField);

    /// <summary>Addresses in JIT memory (memfd:doublemapper or anonymous executable) not found in the perf map.</summary>
    public long PerfMapMisses => Volatile.Read(ref PerfMapMissesField);

    /// <summary>Addresses in no mapping of the process (or of a process whose maps could never be read).</summary>
    public long Unmapped => Volatile.Read(ref UnmappedField);

    /// <summary>Addresses in other mappings ([vdso], non-executable, special files).</summary>
    public long UnresolvedOther => Volatile.Read(ref UnresolvedOtherField);

    public long ObjectOpenFailures => Volatile.Read(ref ObjectOpenFailuresField);

    public long KernelHits => Volatile.Read(ref KernelHitsField);

    public long KernelMisses => Volatile.Read(ref KernelMissesField);

    public long MapsReads => Volatile.Read(ref MapsReadsField);

    /// <summary>Processes symbolized from the snapshot <see cref="Symbolizer.Prepare"/> took because they had exited.</summary>
    public long SnapshotsUsed => Volatile.Read(ref SnapshotsUsedField);

    /// <summary>All user and kernel addresses that were not resolved to a name.</summary>
    public long Misses => ElfMisses + PerfMapMisses + Unmapped + UnresolvedOther + KernelMisses;

    public int CachedProcesses { get; internal set; }

    public int CachedFiles { get; internal set; }
}
