namespace Kiln.Storage.DuckDb;

/// <summary>
/// Maps a pprof table's ids (arbitrary non-zero uint64, usually dense from 1) to store ids: an array when the
/// ids are dense, a dictionary otherwise. Ids were validated by the decoder, so a miss is a bug.
/// </summary>
internal sealed class IdMap
{
    private readonly int[] _dense;
    private Dictionary<ulong, int>? _sparse;

    public IdMap(int count) => _dense = new int[count + 1];

    public void Set(ulong pprofId, int storeId)
    {
        if (pprofId < (ulong)_dense.Length)
        {
            _dense[pprofId] = storeId;
        }
        else
        {
            (_sparse ??= [])[pprofId] = storeId;
        }
    }

    public int Get(ulong pprofId)
    {
        if (pprofId < (ulong)_dense.Length)
        {
            var id = _dense[pprofId];
            if (id != 0)
            {
                return id;
            }
        }
        else if (_sparse is not null && _sparse.TryGetValue(pprofId, out var id))
        {
            return id;
        }
        throw new InvalidOperationException($"pprof id {pprofId} was not declared; the profile should have been rejected by validation");
    }
}
