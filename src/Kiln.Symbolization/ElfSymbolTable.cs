namespace Kiln.Symbolization;

/// <summary>
/// Function symbols sorted by address, one per address (aliases collapse to the preferred name:
/// fewer leading underscores, then global over weak over local, then shorter). Lookups are binary
/// searches that allocate nothing. Names stay in the file's string table (UTF-8); a name and its demangled
/// form become strings the first time a lookup returns them, and are cached.
/// </summary>
public sealed class ElfSymbolTable
{
    private readonly ulong[] _addresses;
    private readonly ulong[] _sizes;
    private readonly int[] _nameOffsets;
    private readonly PackedNames _names;
    // Filled lazily on first hit; each slot's reference write is atomic, so races only repeat work.
    private readonly string?[] _nameCache;
    private readonly string?[] _demangled;

    private ElfSymbolTable(ulong[] addresses, ulong[] sizes, int[] nameOffsets, PackedNames names)
    {
        _addresses = addresses;
        _sizes = sizes;
        _nameOffsets = nameOffsets;
        _names = names;
        _nameCache = new string?[addresses.Length];
        _demangled = new string?[addresses.Length];
    }

    public static ElfSymbolTable Empty { get; } = new([], [], [], new PackedNames(0));

    public int Count => _addresses.Length;

    public ulong AddressAt(int index) => _addresses[index];

    public ulong SizeAt(int index) => _sizes[index];

    /// <summary>The symbol's name as stored in the file (mangled for C++ and Rust), cached after the first call.</summary>
    public string NameAt(int index) => _nameCache[index] ??= _names.StringAt(_nameOffsets[index]);

    /// <summary>The demangled name (or the stored name when it is not mangled), cached after the first call.</summary>
    public string DemangledNameAt(int index) => _demangled[index] ??= Demangler.Demangle(NameAt(index));

    /// <summary>
    /// Finds the symbol covering <paramref name="address"/> (an ELF virtual address): the last symbol starting
    /// at or before it whose size covers it, or — when that symbol's size is 0 — that nearest preceding symbol.
    /// </summary>
    public bool TryFind(ulong address, out int index)
    {
        var found = SortedAddresses.LastAtOrBefore(_addresses, address);
        index = found;
        if (found < 0) return false;
        var size = _sizes[found];
        if (size == 0 || address - _addresses[found] < size) return true;
        index = -1;
        return false;
    }

    /// <summary>Index of the first symbol with exactly this name, or -1 (linear; for tests and diagnostics).</summary>
    public int IndexOf(string name)
    {
        var utf8 = System.Text.Encoding.UTF8.GetBytes(name);
        for (var i = 0; i < _nameOffsets.Length; i++)
        {
            if (_names.At(_nameOffsets[i]).SequenceEqual(utf8)) return i;
        }
        return -1;
    }

    /// <summary>Collects the function symbols of one symbol table whose names live in <c>strings</c> (its string table).</summary>
    internal sealed class Builder(byte[] strings)
    {
        private Entry[] _items = [];
        private int _count;

        public int Count => _count;

        /// <summary>Adds a symbol whose name starts at <paramref name="nameOffset"/> of the string table (non-empty, in range).</summary>
        public void Add(ulong address, ulong size, int nameOffset, int binding)
        {
            var name = strings.AsSpan(nameOffset);
            var length = name.IndexOf((byte)0);
            if (length < 0) length = name.Length;
            var underscores = 0;
            while (underscores < length && name[underscores] == '_') underscores++;
            // Lower rank is preferred. STB_GLOBAL=1, STB_WEAK=2, STB_LOCAL=0.
            var bindingRank = binding switch { 1 => 0, 2 => 1, _ => 2 };
            var rank = (Math.Min(underscores, 15) << 20) | (bindingRank << 16) | Math.Min(length, 0xffff);
            if (_count == _items.Length) Array.Resize(ref _items, Math.Max(_items.Length * 2, 256));
            _items[_count++] = new Entry(address, size, nameOffset, rank);
        }

        public ElfSymbolTable Build()
        {
            if (_count == 0) return Empty;
            var items = _items.AsSpan(0, _count);
            items.Sort(static (x, y) =>
            {
                var c = x.Address.CompareTo(y.Address);
                if (c != 0) return c;
                // A sized symbol beats a zero-sized one at the same address.
                c = (x.Size == 0).CompareTo(y.Size == 0);
                return c != 0 ? c : x.Rank.CompareTo(y.Rank);
            });
            var distinct = 1;
            for (var i = 1; i < items.Length; i++)
                if (items[i].Address != items[i - 1].Address) distinct++;
            var addresses = new ulong[distinct];
            var sizes = new ulong[distinct];
            var offsets = new int[distinct];
            var n = 0;
            for (var i = 0; i < items.Length; i++)
            {
                if (n > 0 && addresses[n - 1] == items[i].Address) continue;
                (addresses[n], sizes[n], offsets[n]) = (items[i].Address, items[i].Size, items[i].NameOffset);
                n++;
            }
            return new ElfSymbolTable(addresses, sizes, offsets, new PackedNames(strings));
        }

        private readonly record struct Entry(ulong Address, ulong Size, int NameOffset, int Rank);
    }
}
