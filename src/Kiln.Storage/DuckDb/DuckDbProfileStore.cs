using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using DuckDB.NET.Data;
using DuckDBType = DuckDB.NET.Native.DuckDBType;
using Kiln.Profiles;
using Kiln.Profiles.Pprof;
using Kiln.Profiles.Selectors;
using Microsoft.Extensions.Logging;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// The embedded store: one DuckDB database file under the data directory. Writes are group-committed by a
/// single writer thread (one transaction per batch of concurrent requests, acknowledged only after commit);
/// queries run on their own connections in parallel with writes.
/// </summary>
public sealed partial class DuckDbProfileStore : IProfileStore
{
    /// <summary>The database file's name inside the data directory.</summary>
    public const string FileName = "kiln.duckdb";

    // A batch is closed once it holds this many sample rows, bounding a transaction's size and latency.
    private const long MaxBatchRows = 2_000_000;

    // A commit costs about as much as appending tens of thousands of rows: every appender's flush is planned and run
    // as an INSERT, and the WAL is written and synced. So a batch smaller than MinBatchRows waits until CommitDelay
    // after its first write was queued, for later writes to share that cost (the writes waiting while the previous
    // batch was committed usually have already).
    private static readonly TimeSpan CommitDelay = TimeSpan.FromMilliseconds(25);
    private const long MinBatchRows = 50_000;

    private readonly string _path;
    private readonly DuckDBConnection _writer;
    private readonly ILogger _logger;
    private readonly SymbolTable _symbols = new();
    private readonly AppendOnlyList<SeriesEntry> _series = new();
    private readonly Dictionary<(string Type, LabelSet Labels), int> _seriesIds = [];
    private readonly Channel<PendingWrite> _writes = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _writerThread;
    private volatile bool _closing;
    private long _commits;

    // Held by the writer while it writes a batch and by retention, which must not race with a write that
    // references a stack retention is about to delete.
    private readonly Lock _writeGate = new();

    // Queries take it shared while they resolve stack and symbol ids; retention takes it exclusively.
    private readonly ReaderWriterLockSlim _symbolsLock = new();

    // Connections a merge or QueryRange reads its range on at once (see ShareRange): one per core when DuckDB has one
    // thread, otherwise DuckDB spreads each query over its own threads.
    private readonly int _queryShares;

    private DuckDbProfileStore(string path, DuckDBConnection writer, ILogger logger, int queryShares)
    {
        _path = path;
        _queryShares = queryShares;
        _writer = writer;
        _logger = logger;
        _writerThread = new Thread(WriteLoop) { IsBackground = true, Name = "kiln-store-writer" };
    }

    /// <summary>Opens (creating when absent) the store in <paramref name="dataDirectory"/> and loads its symbol index.</summary>
    /// <param name="dataDirectory">Directory holding <see cref="FileName"/>.</param>
    /// <param name="logger">Receives the store's start, checkpoint and retention messages.</param>
    /// <param name="workerThreads">
    /// DuckDB's threads (its <c>threads</c> setting), shared by writes and queries; 0 keeps DuckDB's default, one per
    /// core. With more than one, DuckDB hands part of each insert to a worker and the writer thread busy-waits for it
    /// (duckdb/duckdb#22178, not fixed in 1.5): one thread spent 5 – 10 % less CPU per ingested row on two cores. With
    /// one, a merge or QueryRange reads its range in shares on one connection per core at once (see ShareRange), each
    /// share's query running on its caller's thread, which keeps them as fast as DuckDB's own parallel aggregation.
    /// </param>
    public static DuckDbProfileStore Open(string dataDirectory, ILogger logger, int workerThreads = 1) =>
        Open(dataDirectory, logger, workerThreads, workerThreads == 1 ? Math.Min(Environment.ProcessorCount, MaxQueryShares) : 1);

    private const int MaxQueryShares = 8;

    /// <summary>Opens the store with merges and QueryRange read in <paramref name="queryShares"/> shares at once (see ShareRange).</summary>
    internal static DuckDbProfileStore Open(string dataDirectory, ILogger logger, int workerThreads, int queryShares)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(workerThreads);
        ArgumentOutOfRangeException.ThrowIfLessThan(queryShares, 1);
        Directory.CreateDirectory(dataDirectory);
        var path = Path.GetFullPath(Path.Combine(dataDirectory, FileName));
        DuckDBConnection connection;
        try
        {
            connection = new DuckDBConnection($"Data Source={path}");
            connection.Open();
        }
        catch (DuckDBException e)
        {
            throw new InvalidOperationException(
                $"cannot open the database {path}: {e.Message}. Is another Kiln server using the same --data-dir?", e);
        }
        var store = new DuckDbProfileStore(path, connection, logger, queryShares);
        try
        {
            store.Execute(Schema.Create);
            if (workerThreads > 0)
            {
                store.Execute($"SET threads = {workerThreads}");
            }
            store.Load();
        }
        catch
        {
            connection.Dispose();
            throw;
        }
        store._writerThread.Start();
        LogOpened(logger, path, store._series.Count, store._symbols.StackCount);
        return store;
    }

    /// <inheritdoc />
    public long SizeOnDisk
    {
        get
        {
            long size = 0;
            foreach (var file in new[] { _path, _path + ".wal" })
            {
                var info = new FileInfo(file);
                if (info.Exists)
                {
                    size += info.Length;
                }
            }
            return size;
        }
    }

    /// <inheritdoc />
    public long Commits => Interlocked.Read(ref _commits);

    /// <inheritdoc />
    public Task<WriteStats> WriteAsync(IReadOnlyList<IngestProfile> profiles, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        if (profiles.Count == 0)
        {
            return Task.FromResult(default(WriteStats));
        }
        // The stacks' content keys are computed here, on the caller's thread, so that concurrent requests hash in
        // parallel and the single writer only looks them up.
        var pending = new PendingWrite(profiles);
        if (!_writes.Writer.TryWrite(pending))
        {
            pending.Dispose();
            throw new ObjectDisposedException(nameof(DuckDbProfileStore), "the store is shutting down");
        }
        // The caller may stop waiting, but a queued write is still carried out: it was accepted.
        return pending.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public IReadOnlyList<SeriesInfo> GetSeries(TimeRange range, ProfileType? type = null)
    {
        var result = new List<SeriesInfo>();
        var count = _series.Count;
        for (var i = 0; i < count; i++)
        {
            var s = _series[i];
            if (s.HasData && range.Overlaps(s.MinTime, s.MaxTime) && (type is null || s.Type == type))
            {
                result.Add(s.ToInfo());
            }
        }
        return result;
    }

    /// <inheritdoc />
    public async Task<RangePoints> QueryRangeAsync(ProfileSelector selector, TimeRange range, TimeSpan step, int limit, CancellationToken cancellationToken)
    {
        var matched = MatchSeries(selector, range);
        if (matched.Count == 0)
        {
            return new RangePoints([], step);
        }
        var seriesPredicate = SeriesPredicate(matched);
        return await Task.Run(() =>
        {
            using var connection = OpenReader();
            // One snapshot for the list of rolled-up buckets, the counts and the sums (see DuckDbProfileStore.Rollups.cs).
            using var transaction = connection.BeginTransaction();
            var stepNanos = Nanos(step);
            if (limit <= 0 || (stepNanos > 0 && range.Steps(stepNanos) <= limit))
            {
                // No series can have more points than the range has steps.
                return new RangePoints(Points(connection, matched, seriesPredicate, range, step, cancellationToken), step);
            }
            // One pass sums by the step a series with too many points gets, and counts on the way how many points each
            // series has at the step asked for (with none, its profiles): no count before the sums (a day of 1,000 series
            // spent 150 - 270 ms counting distinct minutes in DuckDB, and 20 ms counting profiles). Only when no series
            // has too many is the range read again, at the step asked for.
            var coarser = RangeSteps.Coarser(range, limit, step);
            if (StepSums.Cells(matched.Count, range.Steps(Nanos(coarser))) <= StepSums.MaxCells
                && (stepNanos == 0 || StepSums.Cells(matched.Count, range.Steps(stepNanos)) <= StepSums.MaxCountedSteps))
            {
                using var sums = SumSteps(connection, matched, seriesPredicate, range, Nanos(coarser), stepNanos, cancellationToken);
                return sums.MostPoints() > limit
                    ? new RangePoints(sums.ToPoints(), coarser)
                    : new RangePoints(Points(connection, matched, seriesPredicate, range, step, cancellationToken), step);
            }
            // Too many (series, step) pairs to count in arrays: DuckDB counts first.
            if (ExceedsPoints(connection, seriesPredicate, range, stepNanos, limit))
            {
                step = coarser;
            }
            return new RangePoints(Points(connection, matched, seriesPredicate, range, step, cancellationToken), step);
        }, cancellationToken).ConfigureAwait(false);
    }

    private static long Nanos(TimeSpan span) => span.Ticks * 100;

    /// <summary>Per-series sums by <paramref name="step"/> (zero: one point per profile), each series' points in time order.</summary>
    private IReadOnlyList<SeriesPoints> Points(DuckDBConnection connection, List<SeriesEntry> matched, string seriesPredicate, TimeRange range,
        TimeSpan step, CancellationToken cancellationToken)
    {
        var stepNanos = Nanos(step);
        var steps = stepNanos > 0 ? range.Steps(stepNanos) : 0;
        if (stepNanos > 0 && StepSums.Cells(matched.Count, steps) <= StepSums.MaxCells)
        {
            using var sums = SumSteps(connection, matched, seriesPredicate, range, stepNanos, 0, cancellationToken);
            return sums.ToPoints();
        }
        // Steps are aligned to multiples of themselves, as Parca's are: a point at t sums the profiles in [t, t + step).
        // Bucket numbers are counted from the range's first bucket, as INTEGER when they fit (faster to group by).
        var first = stepNanos > 0 ? TimeRange.FloorDiv(range.StartNanos, stepNanos) : 0;
        var bucket = $"({FloorDivSql("ts", stepNanos, range)} - {first})::{(steps < int.MaxValue ? "INTEGER" : "BIGINT")}";
        // Steps of whole minutes read the per-minute sums of rolled buckets: each minute lies in one step.
        var source = ProfileSource(connection, seriesPredicate, [range], stepNanos > 0 && stepNanos % MinuteNanos == 0);
        // Too many (series, step) cells for arrays, or no step: DuckDB groups.
        // Unordered: a hash aggregate's rows come in no order, and sorting each series' points here is cheaper than
        // DuckDB's ORDER BY over all of them.
        var sql = stepNanos > 0
            ? $"""
               SELECT series_id, ({first} + b::BIGINT) * {stepNanos} AS t, v, d, n FROM (
                   SELECT series_id, {bucket} AS b, SUM(total)::BIGINT AS v, SUM(duration)::BIGINT AS d, SUM(profiles)::INTEGER AS n
                   FROM {source}
                   GROUP BY series_id, b)
               """
            : $"""
               SELECT series_id, ts, SUM(total)::BIGINT, SUM(duration)::BIGINT, COUNT(*)::INTEGER
               FROM {source}
               GROUP BY ALL
               """;
        var bySeries = new Dictionary<int, List<MetricPoint>>(matched.Count);
        var capacity = (int)Math.Clamp(steps, 4, 1024);
        List<MetricPoint>? points = null;
        var current = -1;
        ColumnarQuery.Run(connection, sql, [DuckDBType.Integer, DuckDBType.BigInt, DuckDBType.BigInt, DuckDBType.BigInt, DuckDBType.Integer], (in ColumnarQuery.Chunk chunk) =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var ids = chunk.Int32(0);
            var times = chunk.Int64(1);
            var values = chunk.Int64(2);
            var durations = chunk.Int64(3);
            var counts = chunk.Int32(4);
            for (var i = 0; i < chunk.Rows; i++)
            {
                if (ids[i] != current || points is null)
                {
                    current = ids[i];
                    if (!bySeries.TryGetValue(current, out points))
                    {
                        bySeries[current] = points = new List<MetricPoint>(capacity);
                    }
                }
                points.Add(new MetricPoint(times[i], values[i], durations[i], counts[i]));
            }
        });
        var result = new List<SeriesPoints>(bySeries.Count);
        foreach (var s in matched)
        {
            if (bySeries.TryGetValue(s.Id, out var found))
            {
                found.Sort(static (a, b) => a.TimeNanos.CompareTo(b.TimeNanos));
                result.Add(new SeriesPoints(s.ToInfo(), found));
            }
        }
        return result;
    }

    /// <summary>
    /// Per-series, per-step sums in arrays. Each share of the range sums into arrays of its own, on its own connection
    /// (see ShareRange); the others' sums are then added to the first's.
    /// </summary>
    private StepSums SumSteps(DuckDBConnection connection, List<SeriesEntry> matched, string seriesPredicate, TimeRange range, long stepNanos,
        long countedStepNanos, CancellationToken cancellationToken)
    {
        // Steps of whole minutes read the per-minute sums of rolled buckets: each minute lies in one step (and in one
        // counted step, or stands for its profiles when those are counted).
        var byMinute = (countedStepNanos > 0 ? countedStepNanos : stepNanos) % MinuteNanos == 0;
        StepSums Sum(DuckDBConnection c, List<TimeRange> ranges)
        {
            var sums = new StepSums(matched, range, stepNanos, countedStepNanos);
            try
            {
                ColumnarQuery.Run(c, $"SELECT series_id, ts, total, duration, profiles FROM {ProfileSource(c, seriesPredicate, ranges, byMinute)}",
                    [DuckDBType.Integer, DuckDBType.BigInt, DuckDBType.BigInt, DuckDBType.BigInt, DuckDBType.Integer], (in ColumnarQuery.Chunk chunk) =>
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        sums.Add(chunk);
                    });
                return sums;
            }
            catch
            {
                sums.Dispose();
                throw;
            }
        }
        var shares = ShareRange(connection, range, ProfileWidths(byMinute), matched.Min(s => s.MinTime), matched.Max(s => s.MaxTime) + 1, _queryShares);
        var others = StartOtherShares(shares, Sum, cancellationToken);
        try
        {
            var sums = Sum(connection, shares[0]);
            try
            {
                foreach (var other in others)
                {
                    using var otherSums = other.GetAwaiter().GetResult();
                    sums.Add(otherSums);
                }
                return sums;
            }
            catch
            {
                sums.Dispose();
                throw;
            }
        }
        finally
        {
            WaitForShares(others);
        }
    }

    /// <summary>
    /// Whether some series has more than <paramref name="limit"/> points at <paramref name="stepNanos"/> (zero: one per
    /// profile) in <paramref name="range"/>, counted by DuckDB without reading the points.
    /// </summary>
    private static bool ExceedsPoints(DuckDBConnection connection, string seriesPredicate, TimeRange range, long stepNanos, long limit)
    {
        // Counted over what the points are read from: a rolled minute stands for its profiles, and lies in one step.
        var source = ProfileSource(connection, seriesPredicate, [range], stepNanos <= 0 || stepNanos % MinuteNanos == 0);
        using var command = connection.CreateCommand();
        long Most(string points)
        {
            command.CommandText = $"SELECT COALESCE(MAX(n), 0)::BIGINT FROM (SELECT {points} AS n FROM {source} GROUP BY series_id)";
            return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
        // A series has at most one point per profile: counting profiles is cheaper than counting distinct steps,
        // and enough whenever it is below the limit.
        if (Most("SUM(profiles)") <= limit)
        {
            return false;
        }
        return stepNanos <= 0 || Most($"COUNT(DISTINCT {FloorDivSql("ts", stepNanos, range)})") > limit;
    }

    /// <inheritdoc />
    public async Task<MergedStacks?> MergeAsync(ProfileSelector selector, TimeRange range, IReadOnlyCollection<string> keepLabels, CancellationToken cancellationToken)
    {
        var matched = MatchSeries(selector, range);
        if (matched.Count == 0)
        {
            return null;
        }
        var bySeries = keepLabels.Count > 0;
        var seriesPredicate = SeriesPredicate(matched);
        var periodSql = $"""
            SELECT COALESCE(MAX(period), 0)::BIGINT, COALESCE(MIN(ts), 0)::BIGINT, COALESCE(MAX(ts + duration), 0)::BIGINT
            FROM profiles WHERE {SeriesPredicate(matched)} AND ts >= {range.StartNanos} AND ts < {range.EndNanos}
            """;
        return await Task.Run(() =>
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            using var connection = OpenReader();
            // One snapshot for the list of rolled-up buckets and the sums (see DuckDbProfileStore.Rollups.cs).
            using var transaction = connection.BeginTransaction();
            long period, first, last;
            using (var command = connection.CreateCommand())
            {
                command.CommandText = periodSql;
                using var r = command.ExecuteReader();
                r.Read();
                (period, first, last) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
            }
            using var builder = new MergedStacksBuilder(_symbols, selector.Type, period, first, Math.Max(0, last - first));
            var shares = ShareRange(connection, range, RollupWidths, first, last + 1, _queryShares);
            if (bySeries)
            {
                SumByLabels(connection, shares, seriesPredicate, builder, matched.ToDictionary(s => s.Id), keepLabels, cancellationToken);
            }
            else
            {
                SumByStack(connection, shares, seriesPredicate, builder, cancellationToken);
            }
            if (builder.IsEmpty)
            {
                return null;
            }
            MergedStacks result;
            _symbolsLock.EnterReadLock();
            try
            {
                result = builder.Build();
            }
            finally
            {
                _symbolsLock.ExitReadLock();
            }
            LogMerged(_logger, matched.Count, result.SampleCount, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return result;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A merge that keeps no labels: every row of the shares' ranges, summed per stack id in an array indexed by it (one
    /// per share, on its own connection; see ShareRange), then handed to <paramref name="builder"/> in stack id order.
    /// DuckDB's GROUP BY stack_id did the same in a hash table at ~3× the CPU: for a "last hour" that is not whole
    /// buckets, the ~20 M raw rows at its edges made DuckDB 43 % of the query's CPU (15 % after, plus 6 % for the
    /// sums here). The arrays are as long as the stack table, which the store holds in memory anyway.
    /// </summary>
    private void SumByStack(DuckDBConnection connection, List<TimeRange>[] shares, string seriesPredicate, MergedStacksBuilder builder,
        CancellationToken cancellationToken)
    {
        var length = _symbols.Stacks.Count + 1;
        long[] Sum(DuckDBConnection c, List<TimeRange> ranges)
        {
            var sums = RentedTables.RentZeroed<long>(length);
            ColumnarQuery.Run(c, $"SELECT stack_id, value FROM {MergeSource(c, seriesPredicate, "stack_id", ranges)}",
                [DuckDBType.Integer, DuckDBType.BigInt], (in ColumnarQuery.Chunk chunk) =>
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var stacks = chunk.Int32(0);
                    var values = chunk.Int64(1);
                    // In a local: the closure's field would be read from memory for every row.
                    var into = sums;
                    for (var i = 0; i < stacks.Length; i++)
                    {
                        var id = stacks[i];
                        if ((uint)id >= (uint)into.Length)
                        {
                            // The writer added stacks after the query started.
                            sums = into = RentedTables.Grown(into, id);
                        }
                        into[id] = checked(into[id] + values[i]);
                    }
                });
            return sums;
        }

        var others = StartOtherShares(shares, Sum, cancellationToken);
        long[]? total = null;
        try
        {
            total = Sum(connection, shares[0]);
            foreach (var other in others)
            {
                var sums = other.GetAwaiter().GetResult();
                if (sums.Length > total.Length)
                {
                    (total, sums) = (sums, total);
                }
                for (var id = 0; id < sums.Length; id++)
                {
                    total[id] = checked(total[id] + sums[id]);
                }
                ArrayPool<long>.Shared.Return(sums);
            }
            _symbolsLock.EnterReadLock();
            try
            {
                for (var id = 1; id < total.Length; id++)
                {
                    if (total[id] != 0)
                    {
                        builder.Add(id, total[id]);
                    }
                }
            }
            finally
            {
                _symbolsLock.ExitReadLock();
            }
        }
        finally
        {
            WaitForShares(others);
            if (total is not null)
            {
                ArrayPool<long>.Shared.Return(total);
            }
        }
    }

    /// <summary>
    /// A merge that keeps labels: DuckDB sums the shares' rows per (series, stack, sample labels), and
    /// <paramref name="builder"/> merges the rows whose kept labels are equal.
    /// </summary>
    private void SumByLabels(DuckDBConnection connection, List<TimeRange>[] shares, string seriesPredicate, MergedStacksBuilder builder,
        Dictionary<int, SeriesEntry> seriesById, IReadOnlyCollection<string> keepLabels, CancellationToken cancellationToken)
    {
        const string columns = "series_id, stack_id, labels_id";
        DuckDBType[] types = [DuckDBType.Integer, DuckDBType.Integer, DuckDBType.Integer, DuckDBType.BigInt];
        string Sql(DuckDBConnection c, List<TimeRange> ranges) =>
            $"SELECT {columns}, SUM(value)::BIGINT AS v FROM {MergeSource(c, seriesPredicate, columns, ranges)} GROUP BY {columns}";

        // The first share is read here, straight into the builder; the others each on their own connection, kept
        // until this one is done (the builder is not thread-safe), then added: the builder sums a stack's rows.
        var others = StartOtherShares(shares, (other, ranges) =>
        {
            var rows = new MergeRows();
            ColumnarQuery.Run(other, Sql(other, ranges), types, (in ColumnarQuery.Chunk chunk) =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                rows.Add(chunk);
            });
            return rows;
        }, cancellationToken);
        try
        {
            _symbolsLock.EnterReadLock();
            try
            {
                ColumnarQuery.Run(connection, Sql(connection, shares[0]), types, (in ColumnarQuery.Chunk chunk) =>
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    AddRows(chunk.Int32(0), chunk.Int32(1), chunk.Int32(2), chunk.Int64(3));
                });
                foreach (var other in others)
                {
                    var rows = other.GetAwaiter().GetResult();
                    AddRows(rows.Series, rows.Stacks, rows.Labels, rows.Values);
                }
            }
            finally
            {
                _symbolsLock.ExitReadLock();
            }
        }
        finally
        {
            WaitForShares(others);
        }

        void AddRows(ReadOnlySpan<int> series, ReadOnlySpan<int> stacks, ReadOnlySpan<int> labels, ReadOnlySpan<long> values)
        {
            for (var i = 0; i < stacks.Length; i++)
            {
                builder.Add(stacks[i], series[i], seriesById[series[i]].Labels, labels[i], keepLabels, values[i]);
            }
        }
    }

    /// <inheritdoc />
    public Task<RetentionStats> DeleteBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        Task.Run(() => DeleteBefore(TimeRange.ToNanos(cutoff)), cancellationToken);

    /// <inheritdoc />
    public Task FlushAsync(CancellationToken cancellationToken) => Task.Run(() =>
    {
        lock (_writeGate)
        {
            Execute("CHECKPOINT");
        }
    }, cancellationToken);

    /// <summary>Stops accepting writes, finishes those queued, checkpoints and closes the database.</summary>
    public async ValueTask DisposeAsync()
    {
        _closing = true;
        if (_writes.Writer.TryComplete())
        {
            await Task.Run(_writerThread.Join).ConfigureAwait(false);
            lock (_writeGate)
            {
                try
                {
                    Execute("CHECKPOINT");
                }
                catch (DuckDBException e)
                {
                    LogCheckpointFailed(_logger, e);
                }
                _writer.Dispose();
            }
            _symbolsLock.Dispose();
        }
    }

    private List<SeriesEntry> MatchSeries(ProfileSelector selector, TimeRange range)
    {
        var matched = new List<SeriesEntry>();
        var count = _series.Count;
        for (var i = 0; i < count; i++)
        {
            var s = _series[i];
            if (s.HasData && s.Type == selector.Type && range.Overlaps(s.MinTime, s.MaxTime) && selector.Matches(s.Labels))
            {
                matched.Add(s);
            }
        }
        return matched;
    }

    /// <summary>
    /// SQL for ⌊<paramref name="column"/> / <paramref name="divisor"/>⌋ over times in <paramref name="range"/>: DuckDB's //
    /// truncates towards zero, which is the floor for the times after 1970.
    /// </summary>
    private static string FloorDivSql(string column, long divisor, TimeRange range) => range.StartNanos >= 0
        ? $"({column} // {divisor})"
        : $"(({FloorSql(column, divisor)}) // {divisor})";

    private static string SeriesPredicate(List<SeriesEntry> series)
    {
        var sb = new System.Text.StringBuilder("series_id IN (");
        for (var i = 0; i < series.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }
            sb.Append(series[i].Id);
        }
        return sb.Append(')').ToString();
    }

    // DuckDB.NET shares one database instance between connections to the same file in a process.
    private DuckDBConnection OpenReader()
    {
        var connection = new DuckDBConnection($"Data Source={_path}");
        connection.Open();
        return connection;
    }

    /// <summary>
    /// Starts reading shares 1… of <paramref name="shares"/> (see ShareRange) at once, each on a connection and in a
    /// transaction of its own, while the caller reads share 0 in its own; the caller takes their results when done.
    /// </summary>
    private Task<T>[] StartOtherShares<T>(List<TimeRange>[] shares, Func<DuckDBConnection, List<TimeRange>, T> read, CancellationToken cancellationToken)
    {
        var tasks = new Task<T>[shares.Length - 1];
        for (var k = 1; k < shares.Length; k++)
        {
            var ranges = shares[k];
            tasks[k - 1] = Task.Run(() =>
            {
                using var connection = OpenReader();
                using var transaction = connection.BeginTransaction();
                return read(connection, ranges);
            }, cancellationToken);
        }
        return tasks;
    }

    /// <summary>Waits for the shares <see cref="StartOtherShares"/> started; after an error in the caller's own share, theirs are moot.</summary>
    private static void WaitForShares(Task[] shares)
    {
        try
        {
            Task.WaitAll(shares);
        }
        catch (AggregateException)
        {
        }
    }

    private void Execute(string sql)
    {
        using var command = _writer.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private void WriteLoop()
    {
        var reader = _writes.Reader;
        var batch = new List<PendingWrite>();
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            batch.Clear();
            long rows = 0;
            Take(reader, batch, ref rows);
            // Wait for more writes to share the commit, unless the batch is big enough or the store is closing.
            var linger = CommitDelay - Stopwatch.GetElapsedTime(batch[0].QueuedAt);
            if (rows < MinBatchRows && linger > TimeSpan.Zero && !_closing)
            {
                Thread.Sleep(linger);
                Take(reader, batch, ref rows);
            }
            lock (_writeGate)
            {
                try
                {
                    WriteStats stats;
                    try
                    {
                        stats = WriteBatch(batch);
                    }
                    finally
                    {
                        foreach (var pending in batch)
                        {
                            pending.Dispose();
                        }
                    }
                    foreach (var pending in batch)
                    {
                        pending.Completion.TrySetResult(pending.Stats);
                    }
                    LogBatchWritten(_logger, batch.Count, stats.SampleRows, stats.NewStacks);
                }
                catch (Exception e) when (e is DuckDBException or InvalidOperationException or IOException)
                {
                    LogBatchFailed(_logger, batch.Count, e);
                    foreach (var pending in batch)
                    {
                        pending.Completion.TrySetException(new StoreWriteException($"the store could not commit the write: {e.Message}", e));
                    }
                    // The in-memory index may hold ids the rolled-back transaction never stored: rebuild it.
                    ReloadAfterFailure();
                }
            }
        }
    }

    private static void Take(ChannelReader<PendingWrite> reader, List<PendingWrite> batch, ref long rows)
    {
        while (rows < MaxBatchRows && reader.TryRead(out var pending))
        {
            batch.Add(pending);
            rows += pending.EstimatedRows;
        }
    }

    private void ReloadAfterFailure()
    {
        try
        {
            _symbolsLock.EnterWriteLock();
            try
            {
                _symbols.Clear();
                _seriesIds.Clear();
                _series.Clear();
                Load();
            }
            finally
            {
                _symbolsLock.ExitWriteLock();
            }
        }
        catch (Exception e) when (e is DuckDBException or InvalidOperationException)
        {
            LogBatchFailed(_logger, 0, e);
        }
    }

    private WriteStats WriteBatch(List<PendingWrite> batch)
    {
        var added = new AddedSymbols();
        var seriesTimes = new List<(SeriesEntry Series, long Min, long Max)>();
        var writtenTimes = new List<long>();
        List<(int Width, long Bucket)> touchedBuckets;
        long rows = 0;
        var profiles = 0;
        var duplicates = 0;
        using (var transaction = _writer.BeginTransaction())
        {
            using (var samples = new SampleRowAppender(_writer))
            using (var profileRows = _writer.CreateAppender("profiles"))
            {
                foreach (var pending in batch)
                {
                    long pendingRows = 0;
                    var startStacks = added.Stacks.Count;
                    for (var i = 0; i < pending.Profiles.Count; i++)
                    {
                        var p = pending.Profiles[i];
                        var series = GetOrAddSeries(p.Type, p.Labels, added);
                        if (series.HasProfileAt(p.TimeNanos))
                        {
                            // A retry of a write whose acknowledgement was lost: storing it again would double it.
                            duplicates++;
                            continue;
                        }
                        series.RememberProfileAt(p.TimeNanos);
                        var (sampleRows, total) = AppendSamples(p, pending.Keys[i], series.Id, samples, added);
                        profileRows.CreateRow()
                            .AppendValue(series.Id)
                            .AppendValue(p.TimeNanos)
                            .AppendValue(p.DurationNanos)
                            .AppendValue(p.Profile.Period)
                            .AppendValue(total)
                            .AppendValue((int)sampleRows)
                            .EndRow();
                        seriesTimes.Add((series, p.TimeNanos, p.TimeNanos));
                        writtenTimes.Add(p.TimeNanos);
                        pendingRows += sampleRows;
                    }
                    pending.Stats = new WriteStats(pending.Profiles.Count, pendingRows, added.Stacks.Count - startStacks);
                    rows += pendingRows;
                    profiles += pending.Profiles.Count;
                }
                samples.Close();
            }
            AppendSymbols(added);
            touchedBuckets = InvalidateRollups(writtenTimes);
            transaction.Commit();
        }
        Interlocked.Increment(ref _commits);
        MarkPending(touchedBuckets);
        // Only now is the data durable: publish the series' new time spans to readers.
        foreach (var (series, min, max) in seriesTimes)
        {
            series.Extend(min, max);
        }
        if (duplicates > 0)
        {
            LogDuplicates(_logger, duplicates);
        }
        return new WriteStats(profiles, rows, added.Stacks.Count);
    }

    private SeriesEntry GetOrAddSeries(ProfileType type, LabelSet labels, AddedSymbols added)
    {
        var key = (type.ToString(), labels);
        if (_seriesIds.TryGetValue(key, out var id))
        {
            return _series[id - 1];
        }
        id = _series.Count + 1;
        var entry = new SeriesEntry(id, type, labels);
        _series.Add(entry);
        _seriesIds.Add(key, id);
        added.Series.Add(entry);
        return entry;
    }

    // How many samples ahead AppendSamples prefetches a content key's slot: enough to cover a memory load with the
    // work of appending that many rows.
    private const int PrefetchDistance = 4;

    private (long Rows, long Total) AppendSamples(IngestProfile p, StackKeys keys, int seriesId, SampleRowAppender samples, AddedSymbols added)
    {
        var profile = p.Profile;
        var samplesView = profile.Samples;
        ProfileSymbols? resolver = null;
        long rows = 0, total = 0;
        try
        {
            for (var s = 0; s < samplesView.Length; s++)
            {
                ref readonly var sample = ref samplesView[s];
                var value = profile.Values(sample)[p.ValueIndex];
                if (value == 0)
                {
                    continue;
                }
                // The table is too big to stay in cache: start loading a later sample's slot now.
                if (s + PrefetchDistance < samplesView.Length)
                {
                    _symbols.PrefetchStackByContent(keys[s + PrefetchDistance]);
                }
                var key = keys[s];
                if (!_symbols.TryGetStackByContent(key, out var stackId))
                {
                    resolver ??= new ProfileSymbols(profile, keys, _symbols, added);
                    stackId = resolver.Stack(sample);
                    _symbols.AddStackContent(key, stackId);
                }
                var labelsId = sample.LabelCount == 0 ? 0 : _symbols.GetOrAddSampleLabels(SampleLabelCodec.Encode(profile, sample), added.SampleLabels);
                samples.Append(seriesId, p.TimeNanos, stackId, labelsId, value);
                rows++;
                total += value;
            }
        }
        finally
        {
            resolver?.Dispose();
        }
        return (rows, total);
    }

    private void AppendSymbols(AddedSymbols added)
    {
        if (added.Series.Count > 0)
        {
            using var a = _writer.CreateAppender("series");
            foreach (var s in added.Series)
            {
                a.CreateRow().AppendValue(s.Id).AppendValue(s.Type.ToString()).AppendValue(LabelCodec.Encode(s.Labels)).EndRow();
            }
        }
        if (added.Mappings.Count > 0)
        {
            using var a = _writer.CreateAppender("mappings");
            foreach (var m in added.Mappings)
            {
                a.CreateRow().AppendValue(m.Id).AppendValue(m.File).AppendValue(m.BuildId).AppendValue(m.Start).AppendValue(m.Limit).AppendValue(m.Offset)
                    .AppendValue(m.HasFunctions).AppendValue(m.HasFilenames).AppendValue(m.HasLineNumbers).AppendValue(m.HasInlineFrames).EndRow();
            }
        }
        if (added.Functions.Count > 0)
        {
            using var a = _writer.CreateAppender("functions");
            foreach (var f in added.Functions)
            {
                a.CreateRow().AppendValue(f.Id).AppendValue(f.Name).AppendValue(f.SystemName).AppendValue(f.Filename).AppendValue(f.StartLine).EndRow();
            }
        }
        if (added.Locations.Count > 0)
        {
            using var a = _writer.CreateAppender("locations");
            foreach (var l in added.Locations)
            {
                a.CreateRow().AppendValue(l.Id).AppendValue(l.MappingId).AppendValue(l.Address).AppendValue(l.IsFolded)
                    .AppendValue(MemoryMarshal.AsBytes(l.Lines.AsSpan()).ToArray()).EndRow();
            }
        }
        if (added.Stacks.Count > 0)
        {
            using var a = _writer.CreateAppender("stacks");
            foreach (var id in added.Stacks)
            {
                a.CreateRow().AppendValue(id).AppendValue(MemoryMarshal.AsBytes(_symbols.Stacks[id - 1].AsSpan()).ToArray()).EndRow();
            }
        }
        if (added.SampleLabels.Count > 0)
        {
            using var a = _writer.CreateAppender("sample_labels");
            foreach (var (id, labels) in added.SampleLabels)
            {
                a.CreateRow().AppendValue(id).AppendValue(labels).EndRow();
            }
        }
    }

    private void Load()
    {
        using var command = _writer.CreateCommand();
        command.CommandText = "SELECT id, profile_type, labels FROM series ORDER BY id";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                var entry = new SeriesEntry(r.GetInt32(0), ProfileType.Parse(r.GetString(1)), LabelCodec.Decode(r.GetString(2)));
                _series.Add(entry);
                _seriesIds[(entry.Type.ToString(), entry.Labels)] = entry.Id;
            }
        }
        command.CommandText = "SELECT series_id, MIN(ts), MAX(ts) FROM profiles GROUP BY series_id";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                _series[r.GetInt32(0) - 1].Extend(r.GetInt64(1), r.GetInt64(2));
            }
        }
        command.CommandText = "SELECT series_id, ts FROM profiles QUALIFY row_number() OVER (PARTITION BY series_id ORDER BY ts DESC) <= 64 ORDER BY series_id, ts";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                _series[r.GetInt32(0) - 1].RememberProfileAt(r.GetInt64(1));
            }
        }
        command.CommandText = "SELECT * FROM mappings ORDER BY id";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                _symbols.LoadMapping(new MappingRow(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetFieldValue<ulong>(3), r.GetFieldValue<ulong>(4), r.GetFieldValue<ulong>(5),
                    r.GetBoolean(6), r.GetBoolean(7), r.GetBoolean(8), r.GetBoolean(9)));
            }
        }
        command.CommandText = "SELECT * FROM functions ORDER BY id";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                _symbols.LoadFunction(new FunctionRow(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4)));
            }
        }
        command.CommandText = "SELECT * FROM locations ORDER BY id";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                var lines = MemoryMarshal.Cast<byte, LocationLine>(ReadBlob(r, 4)).ToArray();
                _symbols.LoadLocation(new LocationRow(r.GetInt32(0), r.GetInt32(1), r.GetFieldValue<ulong>(2), r.GetBoolean(3), lines));
            }
        }
        command.CommandText = "SELECT id, locations FROM stacks ORDER BY id";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                _symbols.LoadStack(r.GetInt32(0), MemoryMarshal.Cast<byte, int>(ReadBlob(r, 1)).ToArray());
            }
        }
        command.CommandText = "SELECT id, labels FROM sample_labels ORDER BY id";
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                _symbols.LoadSampleLabels(r.GetInt32(0), r.GetString(1));
            }
        }
        LoadRollups();
    }

    private static byte[] ReadBlob(System.Data.Common.DbDataReader reader, int ordinal)
    {
        using var stream = reader.GetStream(ordinal);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    private RetentionStats DeleteBefore(long cutoffNanos)
    {
        lock (_writeGate)
        {
            long samplesDeleted;
            var deadStacks = new List<int>();
            using (var transaction = _writer.BeginTransaction())
            {
                using var command = _writer.CreateCommand();
                command.CommandText = $"DELETE FROM samples WHERE ts < {cutoffNanos}";
                samplesDeleted = command.ExecuteNonQuery();
                command.CommandText = $"DELETE FROM profiles WHERE ts < {cutoffNanos}";
                command.ExecuteNonQuery();
                command.CommandText = "SELECT id FROM stacks WHERE id NOT IN (SELECT DISTINCT stack_id FROM samples)";
                using (var r = command.ExecuteReader())
                {
                    while (r.Read())
                    {
                        deadStacks.Add(r.GetInt32(0));
                    }
                }
                command.CommandText = "DELETE FROM stacks WHERE id NOT IN (SELECT DISTINCT stack_id FROM samples)";
                command.ExecuteNonQuery();
                DeleteRollupsBefore(cutoffNanos);
                transaction.Commit();
            }
            ForgetRollupsBefore(cutoffNanos);
            _symbolsLock.EnterWriteLock();
            try
            {
                _symbols.RemoveStacks(deadStacks);
            }
            finally
            {
                _symbolsLock.ExitWriteLock();
            }
            // Recompute every series' span from what is left; a series with nothing left stops matching queries.
            var remaining = new Dictionary<int, (long Min, long Max)>();
            using (var command = _writer.CreateCommand())
            {
                command.CommandText = "SELECT series_id, MIN(ts), MAX(ts) FROM profiles GROUP BY series_id";
                using var r = command.ExecuteReader();
                while (r.Read())
                {
                    remaining[r.GetInt32(0)] = (r.GetInt64(1), r.GetInt64(2));
                }
            }
            for (var i = 0; i < _series.Count; i++)
            {
                var s = _series[i];
                if (remaining.TryGetValue(s.Id, out var span))
                {
                    s.Reset(span.Min, span.Max);
                }
                else
                {
                    s.Clear();
                }
            }
            // Freed blocks are reused by later writes once checkpointed, which keeps the file from growing.
            Execute("CHECKPOINT");
            LogRetention(_logger, samplesDeleted, deadStacks.Count);
            return new RetentionStats(samplesDeleted, deadStacks.Count);
        }
    }

    /// <summary>A share's (series, stack, sample labels, value) rows, kept until the builder can take them.</summary>
    private sealed class MergeRows
    {
        private int[] _series = new int[ColumnarQuery.ChunkRows];
        private int[] _stacks = new int[ColumnarQuery.ChunkRows];
        private int[] _labels = new int[ColumnarQuery.ChunkRows];
        private long[] _values = new long[ColumnarQuery.ChunkRows];
        private int _count;

        public ReadOnlySpan<int> Series => _series.AsSpan(0, _count);

        public ReadOnlySpan<int> Stacks => _stacks.AsSpan(0, _count);

        public ReadOnlySpan<int> Labels => _labels.AsSpan(0, _count);

        public ReadOnlySpan<long> Values => _values.AsSpan(0, _count);

        /// <summary>Copies a chunk of (series, stack, labels, value) rows.</summary>
        public void Add(in ColumnarQuery.Chunk chunk)
        {
            if (_count + chunk.Rows > _stacks.Length)
            {
                var size = Math.Max(_count + chunk.Rows, _stacks.Length * 2);
                Array.Resize(ref _series, size);
                Array.Resize(ref _stacks, size);
                Array.Resize(ref _labels, size);
                Array.Resize(ref _values, size);
            }
            chunk.Int32(0).CopyTo(_series.AsSpan(_count));
            chunk.Int32(1).CopyTo(_stacks.AsSpan(_count));
            chunk.Int32(2).CopyTo(_labels.AsSpan(_count));
            chunk.Int64(3).CopyTo(_values.AsSpan(_count));
            _count += chunk.Rows;
        }
    }

    private sealed class PendingWrite : IDisposable
    {
        public PendingWrite(IReadOnlyList<IngestProfile> profiles)
        {
            Profiles = profiles;
            Keys = new StackKeys[profiles.Count];
            for (var i = 0; i < profiles.Count; i++)
            {
                // One pprof with several sample types gives consecutive profiles over the same view: key it once.
                Keys[i] = i > 0 && ReferenceEquals(profiles[i].Profile, profiles[i - 1].Profile)
                    ? Keys[i - 1]
                    : StackKeys.Compute(profiles[i].Profile);
            }
            QueuedAt = Stopwatch.GetTimestamp();
        }

        public IReadOnlyList<IngestProfile> Profiles { get; }

        /// <summary>Per profile, its samples' stack content keys (shared between profiles of one pprof).</summary>
        public StackKeys[] Keys { get; }

        public void Dispose()
        {
            foreach (var keys in Keys)
            {
                keys?.Dispose();
            }
        }

        public TaskCompletionSource<WriteStats> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>When the write was queued (a <see cref="Stopwatch"/> timestamp).</summary>
        public long QueuedAt { get; }

        public long EstimatedRows
        {
            get
            {
                long rows = 0;
                foreach (var p in Profiles)
                {
                    rows += p.Profile.Samples.Length;
                }
                return rows;
            }
        }

        public WriteStats Stats { get; set; }
    }

    private sealed class AddedSymbols
    {
        public List<SeriesEntry> Series { get; } = [];
        public List<MappingRow> Mappings { get; } = [];
        public List<FunctionRow> Functions { get; } = [];
        public List<LocationRow> Locations { get; } = [];
        public List<int> Stacks { get; } = [];
        public List<(int Id, string Labels)> SampleLabels { get; } = [];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Opened store {Path}: {Series} series, {Stacks} stacks")]
    private static partial void LogOpened(ILogger logger, string path, int series, int stacks);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Committed {Requests} write request(s): {Rows} sample rows, {NewStacks} new stacks")]
    private static partial void LogBatchWritten(ILogger logger, int requests, long rows, int newStacks);

    [LoggerMessage(Level = LogLevel.Error, Message = "Failed to commit {Requests} write request(s); none of them was stored")]
    private static partial void LogBatchFailed(ILogger logger, int requests, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checkpoint at shutdown failed")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Skipped {Count} profile(s) already stored for the same series and time (a retried write)")]
    private static partial void LogDuplicates(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Merged {Series} series into {Samples} samples in {Milliseconds:F1} ms")]
    private static partial void LogMerged(ILogger logger, int series, int samples, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention deleted {Samples} sample rows and {Stacks} unused stacks")]
    private static partial void LogRetention(ILogger logger, long samples, int stacks);
}
