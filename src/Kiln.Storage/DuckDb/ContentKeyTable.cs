using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Stack content keys (<see cref="StackKeys"/>) → stack ids: an open-addressing table with linear probing that keeps a
/// key and its id side by side, so that a lookup reads one cache line where a <see cref="Dictionary{TKey,TValue}"/> reads
/// two (its bucket, then its entry). The writer looks up every sample of every profile here, and the table is too big and
/// too rarely reused per series to stay in cache: with a Dictionary at 60,000 stacks these lookups were a quarter of the
/// writer thread's time. <see cref="Prefetch"/> lets the writer start loading a sample's slot a few samples ahead.
/// Content keys are XXH3 hashes, so their low bits pick the slot as they are. Writer thread only.
/// </summary>
internal sealed class ContentKeyTable
{
    // Id 0 marks an empty slot: stack ids start at 1.
    [StructLayout(LayoutKind.Sequential)]
    private struct Entry
    {
        public UInt128 Key;
        public int Id;
    }

    private Entry[] _entries = new Entry[1024];
    private int _count;

    public int Count => _count;

    public bool TryGetValue(UInt128 key, out int id)
    {
        var entries = _entries;
        var mask = entries.Length - 1;
        for (var slot = (int)(ulong)key & mask; ; slot = (slot + 1) & mask)
        {
            ref var entry = ref entries[slot];
            if (entry.Id == 0)
            {
                id = 0;
                return false;
            }
            if (entry.Key == key)
            {
                id = entry.Id;
                return true;
            }
        }
    }

    /// <summary>Adds <paramref name="key"/> or replaces its id.</summary>
    public void Set(UInt128 key, int id)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(id);
        if ((_count + 1) * 2 > _entries.Length)
        {
            Resize(_entries.Length * 2);
        }
        if (Insert(_entries, key, id))
        {
            _count++;
        }
    }

    /// <summary>A hint: starts loading the slot where <paramref name="key"/> would be.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(UInt128 key)
    {
        if (Sse.IsSupported)
        {
            var entries = _entries;
            // Not pinned: should the GC move the array meanwhile, the hint is wasted, nothing else.
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(entries), (int)(ulong)key & (entries.Length - 1))));
        }
    }

    /// <summary>Removes every key whose id is in <paramref name="ids"/> (retention deleted their stacks).</summary>
    public void RemoveIds(ISet<int> ids)
    {
        var old = _entries;
        _entries = new Entry[old.Length];
        _count = 0;
        foreach (ref var entry in old.AsSpan())
        {
            if (entry.Id != 0 && !ids.Contains(entry.Id))
            {
                Insert(_entries, entry.Key, entry.Id);
                _count++;
            }
        }
    }

    public void Clear()
    {
        _entries = new Entry[1024];
        _count = 0;
    }

    private void Resize(int capacity)
    {
        var old = _entries;
        _entries = new Entry[capacity];
        foreach (ref var entry in old.AsSpan())
        {
            if (entry.Id != 0)
            {
                Insert(_entries, entry.Key, entry.Id);
            }
        }
    }

    // True when the key was new.
    private static bool Insert(Entry[] entries, UInt128 key, int id)
    {
        var mask = entries.Length - 1;
        for (var slot = (int)(ulong)key & mask; ; slot = (slot + 1) & mask)
        {
            ref var entry = ref entries[slot];
            if (entry.Id == 0)
            {
                entry.Key = key;
                entry.Id = id;
                return true;
            }
            if (entry.Key == key)
            {
                entry.Id = id;
                return false;
            }
        }
    }
}
