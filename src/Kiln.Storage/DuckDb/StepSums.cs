using System.Buffers;
using System.Numerics;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// QueryRange's per-series, per-step sums added up in a flat array of cells indexed by (series, step), from rows of
/// (series_id, ts, total, duration, profiles) streamed out of DuckDB. A day at a 5-minute step is 1,000 series × 289 steps
/// here; DuckDB's hash aggregate over the same 1.44 M per-minute rows took ~60 ms, mostly creating and combining its
/// 128-bit sum states. A cell holds a step's three sums together: the rows come in no order of series or time, and each
/// lands on one cache line, not three. The points come out in time order. Holds pooled arrays: dispose it.
/// </summary>
internal sealed class StepSums : IDisposable
{
    /// <summary>Above this many (series, step) cells the arrays would be too big: the store lets DuckDB group instead.</summary>
    public const long MaxCells = 1 << 21;

    /// <summary>Above this many (series, step) pairs to count, a bit each, the store lets DuckDB count instead.</summary>
    public const long MaxCountedSteps = 1L << 28;

    /// <summary>The (series, step) pairs of <paramref name="series"/> series over <paramref name="steps"/> steps, at most long.MaxValue.</summary>
    public static long Cells(int series, long steps) => steps > long.MaxValue / Math.Max(series, 1) ? long.MaxValue : series * steps;

    private readonly IReadOnlyList<SeriesEntry> _series;
    private readonly int[] _rowOf;
    private readonly long _firstNanos;
    private readonly long _stepNanos;
    private readonly int _steps;
    private readonly Cell[] _cells;
    private readonly long _countedStepNanos;
    private readonly long _countedFirstNanos;
    private readonly int _countedWords;
    private readonly ulong[]? _counted;

    /// <summary>
    /// Sums for <paramref name="series"/> over <paramref name="range"/>, in steps aligned to multiples of themselves.
    /// With <paramref name="countedStepNanos"/>, also which steps of that width hold a profile (a bit each), so that
    /// <see cref="MostPoints"/> tells how many points a series would have at that step; the rows added must then be no
    /// coarser than it.
    /// </summary>
    public StepSums(IReadOnlyList<SeriesEntry> series, TimeRange range, long stepNanos, long countedStepNanos = 0)
    {
        var cells = Cells(series.Count, range.Steps(stepNanos));
        if (cells > MaxCells)
        {
            throw new ArgumentOutOfRangeException(nameof(stepNanos), $"{cells} cells are more than {MaxCells}");
        }
        if (countedStepNanos > 0 && Cells(series.Count, range.Steps(countedStepNanos)) > MaxCountedSteps)
        {
            throw new ArgumentOutOfRangeException(nameof(countedStepNanos), $"{Cells(series.Count, range.Steps(countedStepNanos))} steps to count are more than {MaxCountedSteps}");
        }
        _series = series;
        _stepNanos = stepNanos;
        _steps = (int)range.Steps(stepNanos);
        _firstNanos = TimeRange.FloorDiv(range.StartNanos, stepNanos) * stepNanos;
        _rowOf = new int[series.Max(s => s.Id) + 1];
        _rowOf.AsSpan().Fill(-1);
        for (var i = 0; i < series.Count; i++)
        {
            _rowOf[series[i].Id] = i;
        }
        _cells = Rent<Cell>((int)cells);
        if (countedStepNanos > 0)
        {
            _countedStepNanos = countedStepNanos;
            _countedFirstNanos = TimeRange.FloorDiv(range.StartNanos, countedStepNanos) * countedStepNanos;
            _countedWords = (int)((range.Steps(countedStepNanos) + 63) / 64);
            _counted = Rent<ulong>(series.Count * _countedWords);
        }
    }

    /// <summary>Adds a chunk of (series_id INTEGER, ts BIGINT, total BIGINT, duration BIGINT, profiles INTEGER) rows.</summary>
    public void Add(in ColumnarQuery.Chunk chunk) =>
        Add(chunk.Int32(0), chunk.Int64(1), chunk.Int64(2), chunk.Int64(3), chunk.Int32(4));

    /// <summary>Adds rows given as columns of equal length.</summary>
    public void Add(ReadOnlySpan<int> ids, ReadOnlySpan<long> times, ReadOnlySpan<long> totals, ReadOnlySpan<long> durations, ReadOnlySpan<int> profiles)
    {
        var cells = _cells;
        var perStep = 1.0 / _stepNanos;
        var perCountedStep = 1.0 / _countedStepNanos;
        for (var i = 0; i < ids.Length; i++)
        {
            var row = (uint)ids[i] < (uint)_rowOf.Length ? _rowOf[ids[i]] : -1;
            var step = Quotient(times[i] - _firstNanos, _stepNanos, perStep);
            if (row < 0 || (ulong)step >= (ulong)_steps)
            {
                throw new InvalidOperationException($"a row of series {ids[i]} at {times[i]} lies outside the series or range asked for");
            }
            ref var cell = ref cells[row * _steps + (int)step];
            cell.Value = checked(cell.Value + totals[i]);
            cell.Duration = checked(cell.Duration + durations[i]);
            cell.Count += profiles[i];
            if (_counted is not null)
            {
                var counted = Quotient(times[i] - _countedFirstNanos, _countedStepNanos, perCountedStep);
                _counted[row * _countedWords + (int)(counted >> 6)] |= 1UL << (int)(counted & 63);
            }
        }
    }

    /// <summary>
    /// ⌊<paramref name="a"/> / <paramref name="b"/>⌋ for 0 ≤ a &lt; 2⁵³ and b &gt; 0 through the reciprocal: a multiplication
    /// and one correction instead of a 64-bit division, which took ~40 % of the time per row. (The step from rows
    /// outside the range may be off by more; the caller's bounds check refuses them all the same.)
    /// </summary>
    private static long Quotient(long a, long b, double reciprocal)
    {
        var q = (long)(a * reciprocal);
        var rest = a - q * b;
        return rest < 0 ? q - 1 : rest >= b ? q + 1 : q;
    }

    /// <summary>Adds the sums of <paramref name="other"/>, made for the same series, range and step.</summary>
    public void Add(StepSums other)
    {
        if (other._steps != _steps || other._rowOf.Length != _rowOf.Length || other._firstNanos != _firstNanos || other._stepNanos != _stepNanos
            || other._countedStepNanos != _countedStepNanos)
        {
            throw new ArgumentException("the sums were made for other series, range or step", nameof(other));
        }
        var cells = _cells.AsSpan(0, _series.Count * _steps);
        var otherCells = other._cells.AsSpan(0, cells.Length);
        for (var i = 0; i < cells.Length; i++)
        {
            ref var cell = ref cells[i];
            cell.Value = checked(cell.Value + otherCells[i].Value);
            cell.Duration = checked(cell.Duration + otherCells[i].Duration);
            cell.Count += otherCells[i].Count;
        }
        if (_counted is not null && other._counted is not null)
        {
            var words = _series.Count * _countedWords;
            for (var word = 0; word < words; word++)
            {
                _counted[word] |= other._counted[word];
            }
        }
    }

    /// <summary>
    /// The most points any series would have at the step counted (see the constructor): steps of it with a profile in
    /// them, or with none, profiles.
    /// </summary>
    public long MostPoints()
    {
        long most = 0;
        for (var row = 0; row < _series.Count; row++)
        {
            long points = 0;
            if (_counted is null)
            {
                foreach (var cell in _cells.AsSpan(row * _steps, _steps))
                {
                    points += cell.Count;
                }
            }
            else
            {
                foreach (var word in _counted.AsSpan(row * _countedWords, _countedWords))
                {
                    points += BitOperations.PopCount(word);
                }
            }
            most = Math.Max(most, points);
        }
        return most;
    }

    /// <summary>
    /// Each series with any profile in the range, with a point per step that has one. All the points are in one array
    /// (a day of 1,000 series at a 2-minute step is 720,000 points), each series' a segment of it: a list per series
    /// took a third of the time the sums did, most of it the collections that moved those lists.
    /// </summary>
    public List<SeriesPoints> ToPoints()
    {
        var total = 0;
        foreach (var cell in _cells.AsSpan(0, _series.Count * _steps))
        {
            total += cell.Count > 0 ? 1 : 0;
        }
        var all = GC.AllocateUninitializedArray<MetricPoint>(total);
        var result = new List<SeriesPoints>();
        var at = 0;
        for (var row = 0; row < _series.Count; row++)
        {
            var cells = _cells.AsSpan(row * _steps, _steps);
            var start = at;
            for (var step = 0; step < cells.Length; step++)
            {
                if (cells[step].Count > 0)
                {
                    all[at++] = new MetricPoint(_firstNanos + step * _stepNanos, cells[step].Value, cells[step].Duration, cells[step].Count);
                }
            }
            if (at > start)
            {
                result.Add(new SeriesPoints(_series[row].ToInfo(), new ArraySegment<MetricPoint>(all, start, at - start)));
            }
        }
        return result;
    }

    public void Dispose()
    {
        ArrayPool<Cell>.Shared.Return(_cells);
        if (_counted is not null)
        {
            ArrayPool<ulong>.Shared.Return(_counted);
        }
    }

    private static T[] Rent<T>(int count)
    {
        var array = ArrayPool<T>.Shared.Rent(Math.Max(count, 1));
        array.AsSpan(0, count).Clear();
        return array;
    }

    private struct Cell
    {
        public long Value;
        public long Duration;
        public int Count;
    }
}
