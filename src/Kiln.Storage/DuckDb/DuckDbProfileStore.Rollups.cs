using DuckDB.NET.Data;
using Microsoft.Extensions.Logging;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Roll-ups: per (series, stack, sample labels) sums of whole 10-minute and 1-hour buckets, so that a merge over a long
/// range reads one row per distinct stack and series per bucket instead of one per profile. A bucket is rolled up only
/// once it ended (<see cref="RollUpAsync"/>); a merge sums the rolled buckets that lie wholly inside its range and the
/// raw samples of the rest (the range's edges, buckets not rolled yet). Three things keep roll-ups equal to the raw
/// rows they replace: a write that lands in a rolled bucket deletes that bucket's roll-up in its own transaction;
/// retention deletes the roll-ups of every bucket that starts before its cutoff (a bucket it cuts is read raw, then
/// rolled again); and a merge reads the list of rolled buckets and the sums in one transaction, so it never sees a
/// bucket invalidated in one and not the other.
/// <para>
/// Rolling up a 10-minute bucket also sums its profiles per series and minute into <c>profile_rollups</c>, kept,
/// invalidated and deleted with that bucket. QueryRange reads them for steps of whole minutes: a day is 1,440 rows per
/// series there instead of 8,640 profiles at one every 10 s.
/// </para>
/// </summary>
public sealed partial class DuckDbProfileStore
{
    /// <summary>Roll-up bucket widths in nanoseconds, widest first; each divides the one before.</summary>
    internal static readonly long[] RollupWidths = [3_600_000_000_000, 600_000_000_000];

    // The writer's view (under _writeGate): per width, buckets holding samples that are not rolled up (with the wall-clock
    // time of the last write into each, 0 when unknown), and rolled buckets.
    private readonly Dictionary<long, long>[] _pendingBuckets = [[], []];
    private readonly HashSet<long>[] _rolledBuckets = [[], []];

    /// <summary>The width whose rolled buckets also hold per-minute profile sums.</summary>
    internal const long ProfileRollupWidth = 600_000_000_000;

    internal const long MinuteNanos = 60_000_000_000;

    /// <summary>Start of the <paramref name="width"/>-wide bucket holding <paramref name="ts"/>.</summary>
    internal static long BucketOf(long ts, long width) => ts - (((ts % width) + width) % width);

    /// <summary>
    /// Rolls up every bucket that ended at or before <paramref name="before"/>, holds samples not rolled up yet and was
    /// last written to before <paramref name="before"/> (wall clock: a backfill into old buckets is left alone while it
    /// lasts), narrowest first, one bucket per hold of the writer's lock. Returns the number of buckets rolled up.
    /// </summary>
    public Task<int> RollUpAsync(DateTimeOffset before, CancellationToken cancellationToken) =>
        Task.Run(() => RollUp(TimeRange.ToNanos(before), cancellationToken), cancellationToken);

    private int RollUp(long beforeNanos, CancellationToken cancellationToken)
    {
        var done = 0;
        for (var w = RollupWidths.Length - 1; w >= 0; w--)
        {
            var width = RollupWidths[w];
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                lock (_writeGate)
                {
                    long? next = null;
                    foreach (var (bucket, lastWrite) in _pendingBuckets[w])
                    {
                        if (bucket + width <= beforeNanos && lastWrite <= beforeNanos && (next is null || bucket < next))
                        {
                            next = bucket;
                        }
                    }
                    if (next is not { } start)
                    {
                        break;
                    }
                    RollUpBucket(w, start);
                }
                done++;
            }
        }
        if (done > 0)
        {
            LogRolledUp(_logger, done);
        }
        return done;
    }

    private void RollUpBucket(int w, long start)
    {
        var width = RollupWidths[w];
        // A wide bucket whose narrower buckets are all rolled sums their rows instead of the raw samples.
        var narrower = w + 1 < RollupWidths.Length ? RollupWidths[w + 1] : 0;
        var fromNarrower = narrower > 0 && !_pendingBuckets[w + 1].Keys.Any(b => b >= start && b < start + width);
        var source = fromNarrower
            ? $"sample_rollups WHERE width = {narrower} AND bucket >= {start} AND bucket < {start + width}"
            : $"samples WHERE ts >= {start} AND ts < {start + width}";
        using (var transaction = _writer.BeginTransaction())
        {
            Execute($"""
                INSERT INTO sample_rollups
                SELECT {width}, {start}, series_id, stack_id, labels_id, SUM(value)::BIGINT FROM {source}
                GROUP BY series_id, stack_id, labels_id
                """);
            if (width == ProfileRollupWidth)
            {
                Execute($"INSERT INTO profile_rollups {ProfileMinutesSql($"ts >= {start} AND ts < {start + width}")}");
            }
            Execute($"INSERT INTO rollup_buckets VALUES ({width}, {start})");
            transaction.Commit();
        }
        _pendingBuckets[w].Remove(start);
        _rolledBuckets[w].Add(start);
    }

    /// <summary>
    /// In the writer's transaction: the roll-ups of the buckets the batch writes into stop being valid. Returns the
    /// (width index, bucket) pairs to mark pending once the transaction commits.
    /// </summary>
    private List<(int Width, long Bucket)> InvalidateRollups(IEnumerable<long> times)
    {
        var touched = new List<(int, long)>();
        var seen = new HashSet<(int, long)>();
        foreach (var ts in times)
        {
            for (var w = 0; w < RollupWidths.Length; w++)
            {
                var bucket = BucketOf(ts, RollupWidths[w]);
                if (!seen.Add((w, bucket)))
                {
                    continue;
                }
                touched.Add((w, bucket));
                if (_rolledBuckets[w].Contains(bucket))
                {
                    Execute($"DELETE FROM sample_rollups WHERE width = {RollupWidths[w]} AND bucket = {bucket}");
                    Execute($"DELETE FROM rollup_buckets WHERE width = {RollupWidths[w]} AND bucket = {bucket}");
                    if (RollupWidths[w] == ProfileRollupWidth)
                    {
                        Execute($"DELETE FROM profile_rollups WHERE bucket = {bucket}");
                    }
                }
            }
        }
        return touched;
    }

    /// <summary>After the writer's commit: the buckets written into hold samples that are not rolled up.</summary>
    private void MarkPending(List<(int Width, long Bucket)> touched)
    {
        var now = TimeRange.ToNanos(DateTimeOffset.UtcNow);
        foreach (var (w, bucket) in touched)
        {
            _rolledBuckets[w].Remove(bucket);
            _pendingBuckets[w][bucket] = now;
        }
    }

    /// <summary>In retention's transaction: roll-ups of buckets that start before the cutoff go with the samples.</summary>
    private void DeleteRollupsBefore(long cutoffNanos)
    {
        Execute($"DELETE FROM sample_rollups WHERE bucket < {cutoffNanos}");
        Execute($"DELETE FROM rollup_buckets WHERE bucket < {cutoffNanos}");
        Execute($"DELETE FROM profile_rollups WHERE bucket < {cutoffNanos}");
    }

    /// <summary>
    /// Rows of <c>profile_rollups</c> for the profiles matching <paramref name="where"/>: their 10-minute bucket, minute and
    /// series, with the sums of total and duration and the number of profiles.
    /// </summary>
    internal static string ProfileMinutesSql(string where) => $"""
        SELECT {FloorSql("ts", ProfileRollupWidth)}, {FloorSql("ts", MinuteNanos)}, series_id, SUM(total)::BIGINT, SUM(duration)::BIGINT, COUNT(*)::INTEGER
        FROM profiles WHERE {where}
        GROUP BY ALL
        """;

    private static string FloorSql(string column, long width) => $"{column} - (({column} % {width}) + {width}) % {width}";

    /// <summary>After retention's commit: buckets wholly deleted are forgotten, a bucket the cutoff cuts is pending again.</summary>
    private void ForgetRollupsBefore(long cutoffNanos)
    {
        for (var w = 0; w < RollupWidths.Length; w++)
        {
            var width = RollupWidths[w];
            var cut = BucketOf(cutoffNanos, width);
            var hadData = _pendingBuckets[w].ContainsKey(cut) || _rolledBuckets[w].Contains(cut);
            foreach (var bucket in _pendingBuckets[w].Keys.Where(b => b < cutoffNanos).ToList())
            {
                _pendingBuckets[w].Remove(bucket);
            }
            _rolledBuckets[w].RemoveWhere(b => b < cutoffNanos);
            if (hadData && cut < cutoffNanos)
            {
                _pendingBuckets[w][cut] = 0;
            }
        }
    }

    private void LoadRollups()
    {
        for (var w = 0; w < RollupWidths.Length; w++)
        {
            _pendingBuckets[w].Clear();
            _rolledBuckets[w].Clear();
        }
        using var command = _writer.CreateCommand();
        command.CommandText = "SELECT width, bucket FROM rollup_buckets";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                var w = Array.IndexOf(RollupWidths, r.GetInt64(0));
                if (w >= 0)
                {
                    _rolledBuckets[w].Add(r.GetInt64(1));
                }
            }
        }
        // A store written before profile roll-ups existed has rolled 10-minute buckets without them: sum those once.
        var missing = new List<long>();
        command.CommandText = $"SELECT bucket FROM rollup_buckets WHERE width = {ProfileRollupWidth} EXCEPT SELECT bucket FROM profile_rollups";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                missing.Add(r.GetInt64(0));
            }
        }
        foreach (var bucket in missing)
        {
            Execute($"INSERT INTO profile_rollups {ProfileMinutesSql($"ts >= {bucket} AND ts < {bucket + ProfileRollupWidth}")}");
        }
        for (var w = 0; w < RollupWidths.Length; w++)
        {
            var width = RollupWidths[w];
            command.CommandText = $"SELECT DISTINCT {FloorSql("ts", width)} FROM profiles";
            using var r = command.ExecuteReader();
            while (r.Read())
            {
                var bucket = r.GetInt64(0);
                if (!_rolledBuckets[w].Contains(bucket))
                {
                    _pendingBuckets[w][bucket] = 0;
                }
            }
        }
    }

    /// <summary>
    /// The FROM clause of a merge over <paramref name="ranges"/>: rolled buckets wholly inside one of them (widest first)
    /// from <c>sample_rollups</c>, everything else from <c>samples</c>. Must run in the transaction that runs the merge.
    /// </summary>
    private static string MergeSource(DuckDBConnection connection, string seriesPredicate, string columns, IEnumerable<TimeRange> ranges)
    {
        var parts = new List<string>();
        foreach (var range in ranges)
        {
            var (rolled, raw) = Carve(connection, range, RollupWidths);
            foreach (var (width, start, end) in rolled)
            {
                parts.Add($"SELECT {columns}, value FROM sample_rollups WHERE width = {width} AND bucket >= {start} AND bucket < {end} AND {seriesPredicate}");
            }
            foreach (var (start, end) in raw)
            {
                parts.Add($"SELECT {columns}, value FROM samples WHERE {seriesPredicate} AND ts >= {start} AND ts < {end}");
            }
        }
        return parts.Count == 0 ? $"(SELECT {columns}, value FROM samples WHERE false)" : "(" + string.Join("\nUNION ALL ", parts) + ")";
    }

    /// <summary>
    /// The FROM clause of QueryRange over <paramref name="ranges"/> with columns (series_id, ts, total, duration, profiles):
    /// with <paramref name="byMinute"/>, the minutes of rolled 10-minute buckets wholly inside one of them from
    /// <c>profile_rollups</c> (ts is the minute's start) and everything else from <c>profiles</c>; without, all from
    /// <c>profiles</c>. Must run in the transaction that runs the query.
    /// </summary>
    private static string ProfileSource(DuckDBConnection connection, string seriesPredicate, IEnumerable<TimeRange> ranges, bool byMinute)
    {
        var parts = new List<string>();
        foreach (var range in ranges)
        {
            var (rolled, raw) = Carve(connection, range, ProfileWidths(byMinute));
            foreach (var (_, start, end) in rolled)
            {
                parts.Add($"SELECT series_id, minute AS ts, total, duration, profiles FROM profile_rollups WHERE bucket >= {start} AND bucket < {end} AND {seriesPredicate}");
            }
            foreach (var (start, end) in raw)
            {
                parts.Add($"SELECT series_id, ts, total, duration, 1 AS profiles FROM profiles WHERE {seriesPredicate} AND ts >= {start} AND ts < {end}");
            }
        }
        return parts.Count == 0
            ? "(SELECT series_id, ts, total, duration, 1 AS profiles FROM profiles WHERE false)"
            : "(" + string.Join("\nUNION ALL ", parts) + ")";
    }

    /// <summary>
    /// Cuts <paramref name="range"/> into at most <paramref name="count"/> shares of about equal work, for a query that
    /// reads them on as many connections at once (with one DuckDB thread, DuckDB runs each query on its caller's thread
    /// alone). Every run of rolled buckets and every raw range of the range's carve into <paramref name="widths"/> (in
    /// <paramref name="connection"/>'s transaction) is cut into equal parts, a run at bucket boundaries; a run of fewer
    /// buckets than shares goes bucket by bucket to the shares with the fewest. Of a raw range, the part where the series
    /// have data (<paramref name="dataStart"/> to <paramref name="dataEnd"/>) is cut evenly, the rest goes to the first and
    /// last pieces. Each share is carved again in its own transaction: whatever was rolled up or invalidated in between,
    /// the shares cover the range once, so sums stay right.
    /// </summary>
    internal static List<TimeRange>[] ShareRange(DuckDBConnection connection, TimeRange range, long[] widths, long dataStart, long dataEnd, int count)
    {
        var pieces = new List<(long Start, long End, int Share)>();
        if (count > 1 && Math.Min(range.EndNanos, dataEnd) - Math.Max(range.StartNanos, dataStart) >= MinShareNanos * count)
        {
            var (rolled, raw) = Carve(connection, range, widths);
            var buckets = new int[count];
            foreach (var (width, runStart, runEnd) in rolled)
            {
                var n = (runEnd - runStart) / width;
                if (n >= count)
                {
                    for (var k = 0; k < count; k++)
                    {
                        pieces.Add((runStart + width * (n * k / count), runStart + width * (n * (k + 1) / count), k));
                        buckets[k] += (int)((n * (k + 1) / count) - (n * k / count));
                    }
                    continue;
                }
                for (var b = runStart; b < runEnd; b += width)
                {
                    var least = Array.IndexOf(buckets, buckets.Min());
                    pieces.Add((b, b + width, least));
                    buckets[least]++;
                }
            }
            foreach (var (rawStart, rawEnd) in raw)
            {
                var (start, end) = (Math.Max(rawStart, dataStart), Math.Min(rawEnd, dataEnd));
                if (end <= start)
                {
                    pieces.Add((rawStart, rawEnd, 0));
                    continue;
                }
                for (var k = 0; k < count; k++)
                {
                    pieces.Add((k == 0 ? rawStart : start + (end - start) / count * k, k == count - 1 ? rawEnd : start + (end - start) / count * (k + 1), k));
                }
            }
        }
        if (pieces.Count == 0)
        {
            return [[range]];
        }
        pieces.Sort();
        var shares = new List<TimeRange>[count];
        for (var k = 0; k < count; k++)
        {
            shares[k] = [];
        }
        foreach (var (pieceStart, pieceEnd, k) in pieces)
        {
            var ranges = shares[k];
            if (ranges.Count > 0 && ranges[^1].EndNanos == pieceStart)
            {
                ranges[^1] = ranges[^1] with { EndNanos = pieceEnd };
            }
            else
            {
                ranges.Add(new TimeRange(pieceStart, pieceEnd));
            }
        }
        return Array.FindAll(shares, ranges => ranges.Count > 0);
    }

    // A query's data shorter than this per share is read on one connection: another costs more than it saves.
    private const long MinShareNanos = 60_000_000_000;

    /// <summary>The roll-up widths QueryRange reads: the per-minute profile sums for steps of whole minutes, else none.</summary>
    private static long[] ProfileWidths(bool byMinute) => byMinute ? [ProfileRollupWidth] : [];

    /// <summary>
    /// Splits <paramref name="range"/> into runs of adjacent rolled buckets lying wholly inside it, of the
    /// <paramref name="widths"/> (widest first, then narrower ones inside what is left), and the ranges left to read raw.
    /// </summary>
    private static (List<(long Width, long Start, long End)> Rolled, List<(long Start, long End)> Raw) Carve(DuckDBConnection connection, TimeRange range, long[] widths)
    {
        if (widths.Length == 0)
        {
            return ([], [(range.StartNanos, range.EndNanos)]);
        }
        var buckets = new List<(long Width, long Bucket)>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT width, bucket FROM rollup_buckets WHERE bucket >= {range.StartNanos} AND bucket < {range.EndNanos} ORDER BY bucket";
            using var r = command.ExecuteReader();
            while (r.Read())
            {
                var (width, bucket) = (r.GetInt64(0), r.GetInt64(1));
                if (bucket + width <= range.EndNanos)
                {
                    buckets.Add((width, bucket));
                }
            }
        }
        var raw = new List<(long Start, long End)> { (range.StartNanos, range.EndNanos) };
        var rolled = new List<(long Width, long Start, long End)>();
        foreach (var width in widths)
        {
            var next = new List<(long Start, long End)>();
            foreach (var (start, end) in raw)
            {
                var at = start;
                long runStart = 0, runEnd = 0;
                foreach (var (w, bucket) in buckets)
                {
                    if (w != width || bucket < at || bucket + width > end)
                    {
                        continue;
                    }
                    if (bucket > at)
                    {
                        next.Add((at, bucket));
                    }
                    // Adjacent rolled buckets are read as one range of the roll-up table.
                    if (runEnd != bucket)
                    {
                        AddRun(rolled, width, runStart, runEnd);
                        runStart = bucket;
                    }
                    runEnd = bucket + width;
                    at = bucket + width;
                }
                AddRun(rolled, width, runStart, runEnd);
                if (at < end)
                {
                    next.Add((at, end));
                }
            }
            raw = next;
        }
        return (rolled, raw);
    }

    private static void AddRun(List<(long Width, long Start, long End)> rolled, long width, long start, long end)
    {
        if (end > start)
        {
            rolled.Add((width, start, end));
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Rolled up {Buckets} bucket(s)")]
    private static partial void LogRolledUp(ILogger logger, int buckets);
}
