using System.Text;

namespace Kiln.Symbolization;

/// <summary>
/// Function symbols sorted by address, one per address (aliases collapse to the preferred name:
/// fewer leading underscores, then global over weak over local, then shorter). Lookups are binary
/// searches that allocate nothing; demangled names are computed once per symbol and cached.
/// </summary>
public sealed class ElfSymbolTable
{
    private readonly ulong[] _addresses;
    private readonly ulong[] _sizes;
    private readonly string[] _names;
    // Demangled names, filled lazily on first hit; the slot's reference write is atomic, so races only repeat work.
    private readonly string?[] _demangled;

    private ElfSymbolTable(ulong[] addresses, ulong[] sizes, string[] names)
    {
        _addresses = addresses;
        _sizes = sizes;
        _names = names;
        _demangled = new string?[names.Length];
    }

    public static ElfSymbolTable Empty { get; } = new([], [], []);

    public int Count => _addresses.Length;

    public ulong AddressAt(int index) => _addresses[index];

    public ulong SizeAt(int index) => _sizes[index];

    /// <summary>The symbol's name as stored in the file (mangled for C++ and Rust).</summary>
    public string NameAt(int index) => _names[index];

    /// <summary>The demangled name (or the stored name when it is not mangled), cached after the first call.</summary>
    public string DemangledNameAt(int index) => _demangled[index] ??= Demangler.Demangle(_names[index]);

    /// <summary>
    /// Finds the symbol covering <paramref name="address"/> (an ELF virtual address): the last symbol starting
    /// at or before it whose size covers it, or — when that symbol's size is 0 — that nearest preceding symbol.
    /// </summary>
    public bool TryFind(ulong address, out int index)
    {
        var a = _addresses;
        int lo = 0, hi = a.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (a[mid] <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        index = found;
        if (found < 0) return false;
        var size = _sizes[found];
        if (size == 0 || address - a[found] < size) return true;
        index = -1;
        return false;
    }

    /// <summary>Index of the first symbol with exactly this name, or -1 (linear; for tests and diagnostics).</summary>
    public int IndexOf(string name) => Array.IndexOf(_names, name);

    internal sealed class Builder
    {
        private readonly List<(ulong Address, ulong Size, string Name, int Rank)> _items = [];
        private readonly Dictionary<string, string> _intern = new(StringComparer.Ordinal);

        public void Add(ulong address, ulong size, ReadOnlySpan<byte> utf8Name, int binding)
        {
            var name = Encoding.UTF8.GetString(utf8Name);
            if (_intern.TryGetValue(name, out var existing)) name = existing;
            else _intern[name] = name;
            // Lower rank is preferred. STB_GLOBAL=1, STB_WEAK=2, STB_LOCAL=0.
            var bindingRank = binding switch { 1 => 0, 2 => 1, _ => 2 };
            var underscores = 0;
            while (underscores < name.Length && name[underscores] == '_') underscores++;
            var rank = (Math.Min(underscores, 15) << 20) | (bindingRank << 16) | Math.Min(name.Length, 0xffff);
            _items.Add((address, size, name, rank));
        }

        public ElfSymbolTable Build()
        {
            if (_items.Count == 0) return Empty;
            _items.Sort(static (x, y) =>
            {
                var c = x.Address.CompareTo(y.Address);
                if (c != 0) return c;
                // A sized symbol beats a zero-sized one at the same address.
                c = (x.Size == 0).CompareTo(y.Size == 0);
                return c != 0 ? c : x.Rank.CompareTo(y.Rank);
            });
            var addresses = new List<ulong>(_items.Count);
            var sizes = new List<ulong>(_items.Count);
            var names = new List<string>(_items.Count);
            foreach (var item in _items)
            {
                if (addresses.Count > 0 && addresses[^1] == item.Address) continue;
                addresses.Add(item.Address);
                sizes.Add(item.Size);
                names.Add(item.Name);
            }
            return new ElfSymbolTable([.. addresses], [.. sizes], [.. names]);
        }
    }
}
