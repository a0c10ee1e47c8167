using System.Globalization;

namespace Kiln.Symbolization;

/// <summary>Parses /proc/PID/maps.</summary>
public static class ProcMaps
{
    // File paths repeat across processes (every process maps libc): one string per distinct path.
    private static readonly Dictionary<string, string> Paths = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> PathLookup = Paths.GetAlternateLookup<ReadOnlySpan<char>>();
    private const int MaxInternedPaths = 16_384;

    /// <summary>Reads and parses <c>{procRoot}/{pid}/maps</c>; mappings come back sorted by start address (as the kernel lists them).</summary>
    /// <exception cref="IOException">The process is gone or the file cannot be read.</exception>
    public static Mapping[] Read(int pid, string procRoot = "/proc") =>
        Parse(ProcFs.ReadAll($"{procRoot}/{pid.ToString(CultureInfo.InvariantCulture)}/maps"));

    /// <summary>Parses the text of a maps file; malformed lines are skipped.</summary>
    public static Mapping[] Parse(string text) => Parse(System.Text.Encoding.UTF8.GetBytes(text));

    private static Mapping[] Parse(ReadOnlySpan<byte> text)
    {
        var result = new List<Mapping>(64);
        var sorted = true;
        foreach (var range in text.Split((byte)'\n'))
        {
            if (!TryParseLine(text[range], out var mapping)) continue;
            if (result.Count > 0 && result[^1].Start > mapping.Start) sorted = false;
            result.Add(mapping);
        }
        if (!sorted) result.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        return [.. result];
    }

    /// <summary>Parses one line: <c>start-end perms offset major:minor inode [path]</c>.</summary>
    private static bool TryParseLine(ReadOnlySpan<byte> line, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Mapping? mapping)
    {
        mapping = null;
        if (!line.IsEmpty && line[^1] == '\r') line = line[..^1];
        if (!NextField(ref line, out var range) || !NextField(ref line, out var perms) || !NextField(ref line, out var offset)
            || !NextField(ref line, out var dev) || !NextField(ref line, out var inode))
            return false;

        var dash = range.IndexOf((byte)'-');
        var colon = dev.IndexOf((byte)':');
        if (dash < 0 || colon < 0 || perms.Length < 4)
            return false;
        if (!ulong.TryParse(range[..dash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start)
            || !ulong.TryParse(range[(dash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end)
            || !ulong.TryParse(offset, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var off)
            || !uint.TryParse(dev[..colon], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var major)
            || !uint.TryParse(dev[(colon + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var minor)
            || !ulong.TryParse(inode, NumberStyles.None, CultureInfo.InvariantCulture, out var ino))
            return false;

        var p = MappingPermissions.None;
        if (perms[0] == 'r') p |= MappingPermissions.Read;
        if (perms[1] == 'w') p |= MappingPermissions.Write;
        if (perms[2] == 'x') p |= MappingPermissions.Execute;
        if (perms[3] == 's') p |= MappingPermissions.Shared;

        // The path is the rest of the line after the padding; it may itself contain spaces.
        mapping = new Mapping(start, end, p, off, major, minor, ino, PathString(line.TrimStart((byte)' ')));
        return true;
    }

    private static string PathString(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty) return "";
        var chars = utf8.Length <= 512 ? stackalloc char[utf8.Length] : new char[utf8.Length];
        var path = chars[..System.Text.Encoding.UTF8.GetChars(utf8, chars)];
        lock (Paths)
        {
            if (PathLookup.TryGetValue(path, out var known)) return known;
            if (Paths.Count >= MaxInternedPaths) Paths.Clear();
            var s = path.ToString();
            Paths[s] = s;
            return s;
        }
    }

    /// <summary>Index of the mapping containing <paramref name="address"/> in a start-sorted array, or -1. Allocation-free.</summary>
    public static int Find(ReadOnlySpan<Mapping> mappings, ulong address)
    {
        int lo = 0, hi = mappings.Length - 1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            var m = mappings[mid];
            if (address < m.Start)
                hi = mid - 1;
            else if (address >= m.End)
                lo = mid + 1;
            else
                return mid;
        }
        return -1;
    }

    private static bool NextField(ref ReadOnlySpan<byte> line, out ReadOnlySpan<byte> field)
    {
        line = line.TrimStart((byte)' ');
        var space = line.IndexOf((byte)' ');
        if (space < 0)
        {
            field = line;
            line = default;
            return field.Length > 0;
        }
        field = line[..space];
        line = line[(space + 1)..];
        return true;
    }
}
