using Kiln.Api.Query;

namespace Kiln.Query;

/// <summary>How a report is shaped: filters, stack inversion, trimming, grouping and the value to report.</summary>
public sealed record ReportOptions
{
    /// <summary>Parca filters, applied to the profile (and to the baseline of a diff) before any report is built.</summary>
    public IReadOnlyList<Filter> Filters { get; init; } = [];

    /// <summary>Draw the flame graph leaf-first (the leaf becomes the root). Only FLAMEGRAPH_ARROW is affected.</summary>
    public bool InvertCallStack { get; init; }

    /// <summary>
    /// Parca's <c>node_trim_threshold</c>: a percentage (0–100). A flame graph node is kept only when its cumulative
    /// value is greater than this percentage of its parent's cumulative value. Null or 0 disables trimming.
    /// </summary>
    public float? NodeTrimThreshold { get; init; }

    /// <summary>
    /// Parca <c>group_by</c> fields for the flame graph: <c>function_name</c> (always implied), <c>mapping_file</c>,
    /// <c>location_address</c>, <c>function_file_name</c> and <c>labels.&lt;name&gt;</c>.
    /// </summary>
    public IReadOnlyList<string> GroupBy { get; init; } = [];

    /// <summary>Parca's <c>DiffProfile.absolute</c>: when false, the smaller profile's diff contribution is scaled to the larger total.</summary>
    public bool AbsoluteDiff { get; init; }

    /// <summary>Index of the pprof sample value to report; -1 picks <c>default_sample_type</c>, else the last sample type.</summary>
    public int SampleTypeIndex { get; init; } = -1;
}
