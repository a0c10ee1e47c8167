using Kiln.Profiles;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// A series in the in-memory catalog. The writer extends its time span only after the data is committed,
/// so a reader that sees the span also sees the rows.
/// </summary>
internal sealed class SeriesEntry(int id, ProfileType type, LabelSet labels)
{
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

    public void Reset(long min, long max)
    {
        Volatile.Write(ref _minTime, min);
        Volatile.Write(ref _maxTime, max);
    }

    public void Clear() => Reset(long.MaxValue, long.MinValue);

    public SeriesInfo ToInfo() => new(Id, Type, Labels, MinTime, MaxTime);
}
