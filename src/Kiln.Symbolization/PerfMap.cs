using System.Globalization;
using System.Text;

namespace Kiln.Symbolization;

/// <summary>
/// A JIT's perf map (<c>/tmp/perf-PID.map</c>: lines of <c>START SIZE name</c> in hex). The file only grows while
/// the runtime compiles methods; <see cref="Refresh"/> reads just the appended complete lines. When two entries
/// overlap at the same start, the later one wins (re-JIT). Lookups are binary searches and allocate nothing.
/// </summary>
public sealed class PerfMap
{
    private ulong[] _starts = [];
    private ulong[] _ends = [];
    private string[] _names = [];
    private long _consumed;

    public PerfMap(string path) => Path = path;

    /// <summary>The file this map is read from.</summary>
    public string Path { get; }

    public int Count => _starts.Length;

    /// <summary>Reads lines appended since the last call. Returns true when new entries arrived.
    /// A missing file leaves the map empty; a file that shrank (recreated) is read from the start.</summary>
    public bool Refresh()
    {
        FileStream stream;
        try
        {
            stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        using (stream)
        {
            var length = stream.Length;
            if (length < _consumed)
            {
                _consumed = 0;
                _starts = [];
                _ends = [];
                _names = [];
            }
            if (length == _consumed) return false;
            var buffer = new byte[length - _consumed];
            stream.Position = _consumed;
            stream.ReadExactly(buffer);
            var lastNewline = Array.LastIndexOf(buffer, (byte)'\n');
            if (lastNewline < 0) return false;
            _consumed += lastNewline + 1;
            return Add(Encoding.UTF8.GetString(buffer, 0, lastNewline + 1));
        }
    }

    /// <summary>Adds the entries in <paramref name="text"/> (perf map lines); malformed lines are skipped.</summary>
    public bool Add(string text)
    {
        var added = new List<(ulong Start, ulong End, string Name)>();
        foreach (var range in text.AsSpan().Split('\n'))
        {
            var line = text.AsSpan()[range].TrimEnd('\r');
            var sp1 = line.IndexOf(' ');
            if (sp1 <= 0) continue;
            var rest = line[(sp1 + 1)..];
            var sp2 = rest.IndexOf(' ');
            if (sp2 <= 0) continue;
            if (!TryHex(line[..sp1], out var start) || !TryHex(rest[..sp2], out var size)) continue;
            var name = rest[(sp2 + 1)..];
            if (name.IsEmpty) continue;
            added.Add((start, start + Math.Max(size, 1), name.ToString()));
        }
        if (added.Count == 0) return false;

        var merged = new List<(ulong Start, ulong End, string Name, int Order)>(_starts.Length + added.Count);
        for (var i = 0; i < _starts.Length; i++) merged.Add((_starts[i], _ends[i], _names[i], i));
        for (var i = 0; i < added.Count; i++) merged.Add((added[i].Start, added[i].End, added[i].Name, _starts.Length + i));
        merged.Sort(static (a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.Order.CompareTo(b.Order));
        var starts = new List<ulong>(merged.Count);
        var ends = new List<ulong>(merged.Count);
        var names = new List<string>(merged.Count);
        foreach (var e in merged)
        {
            if (starts.Count > 0 && starts[^1] == e.Start)
            {
                ends[^1] = e.End;
                names[^1] = e.Name;
                continue;
            }
            starts.Add(e.Start);
            ends.Add(e.End);
            names.Add(e.Name);
        }
        _starts = [.. starts];
        _ends = [.. ends];
        _names = [.. names];
        return true;
    }

    /// <summary>The entry whose [start, start+size) covers <paramref name="address"/>.</summary>
    public bool TryFind(ulong address, out int index)
    {
        var a = _starts;
        int lo = 0, hi = a.Length - 1;
        index = -1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (a[mid] <= address) { index = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (index >= 0 && address < _ends[index]) return true;
        index = -1;
        return false;
    }

    public ulong StartAt(int index) => _starts[index];

    public string NameAt(int index) => _names[index];

    private static bool TryHex(ReadOnlySpan<char> s, out ulong value)
    {
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) s = s[2..];
        return ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
