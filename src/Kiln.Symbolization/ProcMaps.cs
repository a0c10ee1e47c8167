using System.Globalization;

namespace Kiln.Symbolization;

/// <summary>Parses /proc/PID/maps.</summary>
public static class ProcMaps
{
    /// <summary>Reads and parses <c>{procRoot}/{pid}/maps</c>; mappings come back sorted by start address (as the kernel lists them).</summary>
    /// <exception cref="IOException">The process is gone or the file cannot be read.</exception>
    public static Mapping[] Read(int pid, string procRoot = "/proc") =>
        Parse(File.ReadAllText($"{procRoot}/{pid.ToString(CultureInfo.InvariantCulture)}/maps"));

    /// <summary>Parses the text of a maps file; malformed lines are skipped.</summary>
    public static Mapping[] Parse(string text)
    {
        var result = new List<Mapping>();
        foreach (var range in text.AsSpan().Split('\n'))
        {
            var line = text.AsSpan()[range];
            if (TryParseLine(line, out var mapping))
                result.Add(mapping);
        }
        result.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        return [.. result];
    }

    /// <summary>Parses one line: <c>start-end perms offset major:minor inode [path]</c>.</summary>
    public static bool TryParseLine(ReadOnlySpan<char> line, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Mapping? mapping)
    {
        mapping = null;
        line = line.TrimEnd('\r');
        if (!NextField(ref line, out var range) || !NextField(ref line, out var perms) || !NextField(ref line, out var offset)
            || !NextField(ref line, out var dev) || !NextField(ref line, out var inode))
            return false;

        var dash = range.IndexOf('-');
        var colon = dev.IndexOf(':');
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
        var path = line.TrimStart(' ');
        mapping = new Mapping(start, end, p, off, major, minor, ino, path.ToString());
        return true;
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

    private static bool NextField(ref ReadOnlySpan<char> line, out ReadOnlySpan<char> field)
    {
        line = line.TrimStart(' ');
        var space = line.IndexOf(' ');
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
