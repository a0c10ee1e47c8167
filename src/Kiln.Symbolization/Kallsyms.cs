using System.Globalization;

namespace Kiln.Symbolization;

/// <summary>
/// Kernel text symbols from /proc/kallsyms (types t/T/w/W, including module symbols <c>[mod]</c>), sorted by
/// address. Without CAP_SYSLOG (or with kptr_restrict) the kernel shows every address as zero: then
/// <see cref="AddressesHidden"/> is true and nothing resolves.
/// </summary>
public sealed class Kallsyms
{
    private readonly ulong[] _addresses;
    private readonly int[] _nameOffsets;
    private readonly PackedNames _names;
    // Index into _modules per symbol; -1 for the core kernel image.
    private readonly short[] _moduleIndex;
    private readonly string[] _modules;
    private readonly string?[] _nameCache;

    private Kallsyms(ulong[] addresses, int[] nameOffsets, PackedNames names, short[] moduleIndex, string[] modules, bool hidden)
    {
        _addresses = addresses;
        _nameOffsets = nameOffsets;
        _names = names;
        _moduleIndex = moduleIndex;
        _modules = modules;
        _nameCache = new string?[addresses.Length];
        AddressesHidden = hidden;
    }

    /// <summary>True when the file listed symbols but every address read as zero (no privilege to see them).</summary>
    public bool AddressesHidden { get; }

    public int Count => _addresses.Length;

    /// <summary>A one-line explanation when symbols are unusable, else null.</summary>
    public string? Problem => AddressesHidden
        ? "/proc/kallsyms shows all addresses as 0: kernel frames cannot be symbolized; run as root (CAP_SYSLOG) or set kernel.kptr_restrict=0"
        : Count == 0 ? "/proc/kallsyms has no text symbols" : null;

    public static Kallsyms Load(string path = "/proc/kallsyms")
    {
        using var reader = new StreamReader(path);
        return Parse(reader);
    }

    /// <summary>Parses kallsyms text. The ~120,000 names of a distribution kernel are kept as one UTF-8 array
    /// (about 4 MB) rather than as strings; a name becomes a string when a lookup first returns it.</summary>
    public static Kallsyms Parse(TextReader reader)
    {
        var addresses = new List<ulong>(1 << 16);
        var offsets = new List<int>(1 << 16);
        var moduleIndex = new List<short>(1 << 16);
        var names = new PackedNames(1 << 20);
        var modules = new List<string>();
        var moduleIds = new Dictionary<string, short>(StringComparer.Ordinal);
        var sawAny = false;
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            var span = line.AsSpan();
            var sp1 = span.IndexOf(' ');
            if (sp1 <= 0 || sp1 + 3 >= span.Length || span[sp1 + 2] != ' ') continue;
            var type = span[sp1 + 1];
            if (type is not ('t' or 'T' or 'w' or 'W')) continue;
            if (!ulong.TryParse(span[..sp1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var addr)) continue;
            sawAny = true;
            if (addr == 0) continue;
            var rest = span[(sp1 + 3)..];
            short module = -1;
            var tab = rest.IndexOf('\t');
            if (tab >= 0)
            {
                var mod = rest[(tab + 1)..].Trim().Trim("[]");
                rest = rest[..tab];
                if (!mod.IsEmpty)
                {
                    var key = mod.ToString();
                    if (!moduleIds.TryGetValue(key, out module) && modules.Count < short.MaxValue)
                    {
                        module = (short)modules.Count;
                        moduleIds[key] = module;
                        modules.Add(key);
                    }
                }
            }
            addresses.Add(addr);
            offsets.Add(names.Append(rest.TrimEnd()));
            moduleIndex.Add(module);
        }
        names.TrimExcess();
        // Sort by address, carrying each symbol's name and module along.
        var order = new int[addresses.Count];
        for (var i = 0; i < order.Length; i++) order[i] = i;
        var sortedAddresses = addresses.ToArray();
        Array.Sort(sortedAddresses, order);
        var sortedOffsets = new int[order.Length];
        var sortedModules = new short[order.Length];
        for (var i = 0; i < order.Length; i++)
            (sortedOffsets[i], sortedModules[i]) = (offsets[order[i]], moduleIndex[order[i]]);
        return new Kallsyms(sortedAddresses, sortedOffsets, names, sortedModules, [.. modules], hidden: sawAny && order.Length == 0);
    }

    /// <summary>The nearest symbol at or before <paramref name="address"/>. Allocation-free.</summary>
    public bool TryFind(ulong address, out int index)
    {
        index = SortedAddresses.LastAtOrBefore(_addresses, address);
        return index >= 0;
    }

    public ulong AddressAt(int index) => _addresses[index];

    /// <summary>The symbol's name, made into a string on first use and cached.</summary>
    public string NameAt(int index) => _nameCache[index] ??= _names.StringAt(_nameOffsets[index]);

    /// <summary>The module owning the symbol, or null for the core kernel image.</summary>
    public string? ModuleAt(int index) => _moduleIndex[index] < 0 ? null : _modules[_moduleIndex[index]];
}
