using Kiln.Profiles;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// A series in the in-memory catalog. The writer extends its time span only after the data is committed,
/// so a reader that sees the span also sees the rows.
/// </summary>
internal sealed class SeriesEntry(int id, ProfileType type, LabelSet labels)
{
    // The newest profile timestamps, so that a retried write (same series, same time) is recognised.
    private const int RecentCapacity = 64;
    private readonly HashSet<long> _recent = [];
    private readonly Queue<long> _recentOrder = new();
    private long _minTime = long.MaxValue;
    private long _maxTime = long.MinValue;

    public int Id { get; } = id;

    public ProfileType Type { get; } = type;

    public LabelSet Labels { get; } = labels;

    public long MinTime => Volatile.Read(ref _minTime);

    public long MaxTime => Volatile.Read(ref _maxTime);

    public bool HasData => MaxTime >= MinTime;

    public void Extend(long min, long max)
    {
        if (min < _minTime)
        {
            Volatile.Write(ref _minTime, min);
        }
        if (max > _maxTime)
        {
            Volatile.Write(ref _maxTime, max);
        }
    }

    /// <summary>True when a profile at <paramref name="timeNanos"/> is already stored (writer thread only).</summary>
    public bool HasProfileAt(long timeNanos) => _recent.Contains(timeNanos);

    /// <summary>Remembers a stored profile's time (writer thread only).</summary>
    public void RememberProfileAt(long timeNanos)
    {
        if (!_recent.Add(timeNanos))
        {
            return;
        }
        _recentOrder.Enqueue(timeNanos);
        if (_recentOrder.Count > RecentCapacity)
        {
            _recent.Remove(_recentOrder.Dequeue());
        }
    }

    public void Reset(long min, long max)
    {
        Volatile.Write(ref _minTime, min);
        Volatile.Write(ref _maxTime, max);
    }

    public void Clear() => Reset(long.MaxValue, long.MinValue);

    public SeriesInfo ToInfo() => new(Id, Type, Labels, MinTime, MaxTime);
}
