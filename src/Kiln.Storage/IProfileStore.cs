using Kiln.Profiles;
using Kiln.Profiles.Pprof;
using Kiln.Profiles.Selectors;

namespace Kiln.Storage;

/// <summary>
/// Durable profile storage. A series is a profile type plus a label set; its samples are
/// (timestamp, stack, value) rows, with stacks and symbols stored once and shared.
/// Ingest and query code use only this contract, so another engine (ClickHouse) can replace the embedded one.
/// </summary>
public interface IProfileStore : IAsyncDisposable
{
    /// <summary>
    /// Stores the profiles; when the returned task completes successfully they are durable (they survive
    /// a crash of the process). A failed write stores none of <paramref name="profiles"/>.
    /// </summary>
    Task<WriteStats> WriteAsync(IReadOnlyList<IngestProfile> profiles, CancellationToken cancellationToken);

    /// <summary>Every series with data overlapping <paramref name="range"/>, optionally of one type.</summary>
    IReadOnlyList<SeriesInfo> GetSeries(TimeRange range, ProfileType? type = null);

    /// <summary>
    /// Per-series totals bucketed by <paramref name="step"/>, buckets aligned to multiples of it (a point at t sums the
    /// profiles in [t, t + step) that lie in <paramref name="range"/>); zero: one point per stored profile. A series gets at
    /// most <paramref name="limit"/> points (0: no limit): when the step would give some series more, all are summed by
    /// <see cref="RangeSteps.Coarser"/>'s step instead. The result names the step used.
    /// </summary>
    Task<RangePoints> QueryRangeAsync(ProfileSelector selector, TimeRange range, TimeSpan step, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Merges every matching sample in <paramref name="range"/> into one profile with a single sample type,
    /// or null when nothing matches. Labels named in <paramref name="keepLabels"/> (series or per-sample labels)
    /// are kept on the samples; all others are merged away.
    /// </summary>
    Task<MergedStacks?> MergeAsync(ProfileSelector selector, TimeRange range, IReadOnlyCollection<string> keepLabels, CancellationToken cancellationToken);

    /// <summary>
    /// Sums the samples of time buckets that ended at or before <paramref name="before"/> into roll-ups that later merges
    /// read instead of the raw rows (an engine without roll-ups does nothing). Returns the number of buckets rolled up.
    /// </summary>
    Task<int> RollUpAsync(DateTimeOffset before, CancellationToken cancellationToken);

    /// <summary>Deletes samples older than <paramref name="cutoff"/> and the stacks and symbols no longer used.</summary>
    Task<RetentionStats> DeleteBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);

    /// <summary>Flushes everything to the database file (a checkpoint); called on graceful shutdown.</summary>
    Task FlushAsync(CancellationToken cancellationToken);

    /// <summary>Size of the store's files on disk, in bytes.</summary>
    long SizeOnDisk { get; }

    /// <summary>
    /// Transactions that stored writes since the store opened. Concurrent writes share one, so sample rows per commit
    /// show how well the store batches.
    /// </summary>
    long Commits { get; }
}

/// <summary>
/// One profile to store: the parsed and validated pprof, which of its sample values this series takes
/// (<paramref name="ValueIndex"/>), the series' type and labels, and the time it covers. The caller owns
/// <paramref name="Profile"/> and must keep it alive until the write completes.
/// </summary>
public sealed record IngestProfile(ProfileType Type, LabelSet Labels, PprofView Profile, int ValueIndex, long TimeNanos, long DurationNanos);

public readonly record struct WriteStats(int Profiles, long SampleRows, int NewStacks);

public readonly record struct RetentionStats(long SamplesDeleted, long StacksDeleted);

/// <summary>A stored series and the span of time its data covers.</summary>
public sealed record SeriesInfo(int Id, ProfileType Type, LabelSet Labels, long MinTimeNanos, long MaxTimeNanos);

/// <summary>One point of a metrics series: start of the bucket, summed value, summed profile duration, profile count.</summary>
public readonly record struct MetricPoint(long TimeNanos, long Value, long DurationNanos, int Count);

public sealed record SeriesPoints(SeriesInfo Series, IReadOnlyList<MetricPoint> Points);

/// <summary>QueryRange's points and the step they were summed by (zero: one point per profile).</summary>
public sealed record RangePoints(IReadOnlyList<SeriesPoints> Series, TimeSpan Step);

/// <summary>A half-open time range [Start, End) in Unix nanoseconds.</summary>
public readonly record struct TimeRange(long StartNanos, long EndNanos)
{
    public static TimeRange All { get; } = new(long.MinValue, long.MaxValue);

    public static TimeRange From(DateTimeOffset start, DateTimeOffset end) => new(ToNanos(start), ToNanos(end));

    public bool Overlaps(long minNanos, long maxNanos) => minNanos < EndNanos && maxNanos >= StartNanos;

    public static long ToNanos(DateTimeOffset t) => (t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    public static DateTimeOffset FromNanos(long nanos) => DateTimeOffset.UnixEpoch.AddTicks(nanos / 100);

    /// <summary>
    /// How many steps of <paramref name="stepNanos"/> the range touches, steps being aligned to multiples of their
    /// width (as QueryRange's are): one more than span / step when the range starts inside a step.
    /// </summary>
    public long Steps(long stepNanos) => FloorDiv(EndNanos - 1, stepNanos) - FloorDiv(StartNanos, stepNanos) + 1;

    /// <summary>⌊<paramref name="a"/> / <paramref name="b"/>⌋ for <paramref name="b"/> &gt; 0, also for negative <paramref name="a"/>.</summary>
    public static long FloorDiv(long a, long b) => a / b - (a % b < 0 ? 1 : 0);
}
