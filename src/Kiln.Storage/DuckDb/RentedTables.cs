using System.Buffers;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Zeroed tables indexed by a store id (stack, location), rented from the shared pool for one query: a query's tables
/// are as long as the store's id space, and renting them saves allocating and faulting in megabytes per query.
/// </summary>
internal static class RentedTables
{
    /// <summary>A rented table of at least <paramref name="length"/> (and 1,024) entries, all zero.</summary>
    public static T[] RentZeroed<T>(int length)
    {
        var table = ArrayPool<T>.Shared.Rent(Math.Max(length, 1024));
        Array.Clear(table);
        return table;
    }

    /// <summary>A larger rented table holding <paramref name="table"/>'s entries, reaching <paramref name="index"/>; the old one is returned.</summary>
    public static T[] Grown<T>(T[] table, int index)
    {
        var grown = RentZeroed<T>(Math.Max(index + 1, table.Length * 2));
        table.AsSpan().CopyTo(grown);
        ArrayPool<T>.Shared.Return(table);
        return grown;
    }
}
