using System.Buffers;
using System.Numerics;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// QueryRange's per-series, per-step sums added up in flat arrays indexed by (series, step), from rows of
/// (series_id, ts, total, duration, profiles) streamed out of DuckDB. A day at a 5-minute step is 1,000 series × 289 steps
/// here; DuckDB's hash aggregate over the same 1.44 M per-minute rows took ~60 ms, mostly creating and combining its
/// 128-bit sum states. The points come out in time order. Holds pooled arrays: dispose it.
/// </summary>
internal sealed class StepSums : IDisposable
{
    /// <summary>Above this many (series, step) cells the arrays would be too big: the store lets DuckDB group instead.</summary>
    public const long MaxCells = 1 << 21;

    /// <summary>Above this many (series, step) pairs to count, a bit each, the store lets DuckDB count instead.</summary>
    public const long MaxCountedSteps = 1L << 28;

    private readonly IReadOnlyList<SeriesEntry> _series;
    private readonly int[] _rowOf;
    private readonly long _firstNanos;
    private readonly long _stepNanos;
    private readonly int _steps;
    private readonly long[] _values;
    private readonly long[] _durations;
    private readonly int[] _counts;
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
        var cells = series.Count * range.Steps(stepNanos);
        if (cells > MaxCells)
        {
            throw new ArgumentOutOfRangeException(nameof(stepNanos), $"{cells} cells are more than {MaxCells}");
        }
        if (countedStepNanos > 0 && series.Count * range.Steps(countedStepNanos) > MaxCountedSteps)
        {
            throw new ArgumentOutOfRangeException(nameof(countedStepNanos), $"{series.Count * range.Steps(countedStepNanos)} steps to count are more than {MaxCountedSteps}");
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
        _values = Rent<long>((int)cells);
        _durations = Rent<long>((int)cells);
        _counts = Rent<int>((int)cells);
        if (countedStepNanos > 0)
        {
            _countedStepNanos = countedStepNanos;
            _countedFirstNanos = TimeRange.FloorDiv(range.StartNanos, countedStepNanos) * countedStepNanos;
            _countedWords = (int)((range.Steps(countedStepNanos) + 63) / 64);
            _counted = Rent<ulong>(series.Count * _countedWords);
        }
    }

    /// <summary>Adds a chunk of (series_id INTEGER, ts BIGINT, total BIGINT, duration BIGINT, profiles INTEGER) rows.</summary>
    public void Add(in ColumnarQuery.Chunk chunk)
    {
        var ids = chunk.Int32(0);
        var times = chunk.Int64(1);
        var totals = chunk.Int64(2);
        var durations = chunk.Int64(3);
        var profiles = chunk.Int32(4);
        for (var i = 0; i < chunk.Rows; i++)
        {
            var row = (uint)ids[i] < (uint)_rowOf.Length ? _rowOf[ids[i]] : -1;
            var step = (times[i] - _firstNanos) / _stepNanos;
            if (row < 0 || (ulong)step >= (ulong)_steps)
            {
                throw new InvalidOperationException($"a row of series {ids[i]} at {times[i]} lies outside the series or range asked for");
            }
            var cell = row * _steps + (int)step;
            _values[cell] = checked(_values[cell] + totals[i]);
            _durations[cell] = checked(_durations[cell] + durations[i]);
            _counts[cell] += profiles[i];
            if (_counted is not null)
            {
                var counted = (times[i] - _countedFirstNanos) / _countedStepNanos;
                _counted[row * _countedWords + (int)(counted >> 6)] |= 1UL << (int)(counted & 63);
            }
        }
    }

    /// <summary>Adds the sums of <paramref name="other"/>, made for the same series, range and step.</summary>
    public void Add(StepSums other)
    {
        if (other._steps != _steps || other._rowOf.Length != _rowOf.Length || other._firstNanos != _firstNanos || other._stepNanos != _stepNanos
            || other._countedStepNanos != _countedStepNanos)
        {
            throw new ArgumentException("the sums were made for other series, range or step", nameof(other));
        }
        var cells = _series.Count * _steps;
        var values = _values.AsSpan(0, cells);
        var durations = _durations.AsSpan(0, cells);
        var counts = _counts.AsSpan(0, cells);
        var otherValues = other._values.AsSpan(0, cells);
        var otherDurations = other._durations.AsSpan(0, cells);
        var otherCounts = other._counts.AsSpan(0, cells);
        for (var cell = 0; cell < cells; cell++)
        {
            values[cell] = checked(values[cell] + otherValues[cell]);
            durations[cell] = checked(durations[cell] + otherDurations[cell]);
            counts[cell] += otherCounts[cell];
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
                foreach (var count in _counts.AsSpan(row * _steps, _steps))
                {
                    points += count;
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

    /// <summary>Each series with any profile in the range, with a point per step that has one.</summary>
    public List<SeriesPoints> ToPoints()
    {
        var result = new List<SeriesPoints>();
        for (var row = 0; row < _series.Count; row++)
        {
            var counts = _counts.AsSpan(row * _steps, _steps);
            var n = counts.Length - counts.Count(0);
            if (n == 0)
            {
                continue;
            }
            var points = new List<MetricPoint>(n);
            for (var step = 0; step < _steps; step++)
            {
                if (counts[step] > 0)
                {
                    var cell = row * _steps + step;
                    points.Add(new MetricPoint(_firstNanos + step * _stepNanos, _values[cell], _durations[cell], counts[step]));
                }
            }
            result.Add(new SeriesPoints(_series[row].ToInfo(), points));
        }
        return result;
    }

    public void Dispose()
    {
        ArrayPool<long>.Shared.Return(_values);
        ArrayPool<long>.Shared.Return(_durations);
        ArrayPool<int>.Shared.Return(_counts);
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
}
