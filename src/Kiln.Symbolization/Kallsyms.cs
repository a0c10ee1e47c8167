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
    private readonly string[] _names;
    private readonly string?[] _modules;

    private Kallsyms(ulong[] addresses, string[] names, string?[] modules, bool hidden)
    {
        _addresses = addresses;
        _names = names;
        _modules = modules;
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

    public static Kallsyms Parse(TextReader reader)
    {
        var items = new List<(ulong Address, string Name, string? Module)>(1 << 16);
        var modules = new Dictionary<string, string>(StringComparer.Ordinal);
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
            string? module = null;
            var tab = rest.IndexOf('\t');
            if (tab >= 0)
            {
                var mod = rest[(tab + 1)..].Trim().Trim("[]");
                rest = rest[..tab];
                if (!mod.IsEmpty)
                {
                    var key = mod.ToString();
                    if (!modules.TryGetValue(key, out module)) modules[key] = module = key;
                }
            }
            items.Add((addr, rest.TrimEnd().ToString(), module));
        }
        items.Sort(static (a, b) => a.Address.CompareTo(b.Address));
        var addresses = new ulong[items.Count];
        var names = new string[items.Count];
        var mods = new string?[items.Count];
        for (var i = 0; i < items.Count; i++)
            (addresses[i], names[i], mods[i]) = items[i];
        return new Kallsyms(addresses, names, mods, hidden: sawAny && items.Count == 0);
    }

    /// <summary>The nearest symbol at or before <paramref name="address"/>. Allocation-free.</summary>
    public bool TryFind(ulong address, out int index)
    {
        var a = _addresses;
        int lo = 0, hi = a.Length - 1;
        index = -1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (a[mid] <= address) { index = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return index >= 0;
    }

    public ulong AddressAt(int index) => _addresses[index];

    public string NameAt(int index) => _names[index];

    /// <summary>The module owning the symbol, or null for the core kernel image.</summary>
    public string? ModuleAt(int index) => _modules[index];
}
