namespace Kiln.Profiles;

/// <summary>
/// Size limits that <see cref="PprofCodec.Decode"/> enforces so that a hostile or broken profile is refused
/// before it can exhaust memory. The defaults fit the largest real profiles (a busy host's minute of
/// on-CPU samples, a big heap profile) with room to spare.
/// </summary>
public sealed record PprofLimits
{
    /// <summary>The defaults, shared.</summary>
    public static PprofLimits Default { get; } = new();

    /// <summary>Most bytes of protobuf accepted, after gunzip (256 MiB); this is what stops a gzip bomb.</summary>
    public long MaxDecompressedBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Most samples in one profile.</summary>
    public int MaxSamples { get; init; } = 5_000_000;

    /// <summary>Most locations in one profile.</summary>
    public int MaxLocations { get; init; } = 5_000_000;

    /// <summary>Most functions in one profile.</summary>
    public int MaxFunctions { get; init; } = 5_000_000;

    /// <summary>Most mappings in one profile.</summary>
    public int MaxMappings { get; init; } = 1_000_000;

    /// <summary>Most entries in the string table.</summary>
    public int MaxStringTableEntries { get; init; } = 5_000_000;

    /// <summary>Most sample types (values per sample).</summary>
    public int MaxSampleTypes { get; init; } = 64;

    /// <summary>Most location ids in one sample's stack.</summary>
    public int MaxStackDepth { get; init; } = 16_384;

    /// <summary>Most labels on one sample.</summary>
    public int MaxLabelsPerSample { get; init; } = 1_024;

    /// <summary>Most lines (inlined frames) in one location.</summary>
    public int MaxLinesPerLocation { get; init; } = 1_024;
}
