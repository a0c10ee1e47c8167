namespace Kiln.Storage;

/// <summary>
/// A list that one writer appends to while any number of readers index it without locks. Invariant: every
/// index below <see cref="Count"/> holds a published element, because the writer stores the element (and any
/// grown array) before it publishes the new count.
/// </summary>
internal sealed class AppendOnlyList<T>
{
    private T[] _items;
    private int _count;

    public AppendOnlyList(int capacity = 1024) => _items = new T[Math.Max(capacity, 16)];

    public int Count => Volatile.Read(ref _count);

    public T this[int index]
    {
        get
        {
            var items = Volatile.Read(ref _items);
            if ((uint)index >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(index), index, $"only {Count} items");
            }
            return items[index];
        }
    }

    /// <summary>Appends and returns the new element's index. Only one thread may append at a time.</summary>
    public int Add(T item)
    {
        var index = _count;
        if (index == _items.Length)
        {
            var grown = new T[_items.Length * 2];
            Array.Copy(_items, grown, index);
            Volatile.Write(ref _items, grown);
        }
        _items[index] = item;
        Volatile.Write(ref _count, index + 1);
        return index;
    }

    /// <summary>Empties the list; only safe while no reader is using it.</summary>
    public void Clear()
    {
        Array.Clear(_items);
        Volatile.Write(ref _count, 0);
    }

    /// <summary>Overwrites an element; readers see either the old or the new value.</summary>
    public void Set(int index, T item) => _items[index] = item;
}
