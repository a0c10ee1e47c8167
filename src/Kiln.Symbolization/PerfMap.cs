using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Kiln.Symbolization;

/// <summary>
/// A JIT's perf map (<c>/tmp/perf-PID.map</c>: lines of <c>START SIZE name</c> in hex). The file only grows while
/// the runtime compiles methods; <see cref="Refresh"/> reads just the appended complete lines. When two entries
/// overlap at the same start, the later one wins (re-JIT). Lookups are binary searches and allocate nothing.
/// <para>
/// A busy .NET process's map reaches hundreds of thousands of lines and tens of megabytes (a compiler server's:
/// 80 MB), so only the address ranges are held in memory — 20 bytes a line — with where each name lies in the
/// file. A name is read from the file when a lookup first returns it, and cached. The file stays open, so names
/// can still be read after the process exited.
/// </para>
/// </summary>
public sealed class PerfMap : IDisposable
{
    private const int ReadPiece = 64 * 1024;
    private ulong[] _starts = [];
    private uint[] _sizes = [];
    private long[] _nameOffsets = [];
    private readonly Dictionary<long, string> _names = [];
    private SafeFileHandle? _file;
    private long _consumed;

    public PerfMap(string path) => Path = path;

    /// <summary>The file this map is read from.</summary>
    public string Path { get; }

    public int Count => _starts.Length;

    /// <summary>Reads lines appended since the last call. Returns true when new entries arrived.
    /// A missing file leaves the map empty; a file that shrank (recreated) is read from the start.</summary>
    public bool Refresh()
    {
        if (_file == null)
        {
            try
            {
                _file = File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }
        var length = RandomAccess.GetLength(_file);
        if (length < _consumed)
        {
            _consumed = 0;
            _starts = [];
            _sizes = [];
            _nameOffsets = [];
            _names.Clear();
        }
        if (length == _consumed)
            return false;
        var added = new List<Entry>();
        // Read in pieces that stay off the large object heap; a line cut at a piece's end is read again with the next.
        var buffer = new byte[ReadPiece];
        while (_consumed < length)
        {
            var n = RandomAccess.Read(_file, buffer, _consumed);
            if (n <= 0) break;
            var piece = buffer.AsSpan(0, n);
            var lastNewline = piece.LastIndexOf((byte)'\n');
            if (lastNewline < 0)
            {
                if (n < buffer.Length) break; // an incomplete last line: wait for its end
                Array.Resize(ref buffer, buffer.Length * 2); // a line longer than the buffer
                continue;
            }
            Parse(piece[..(lastNewline + 1)], _consumed, added);
            _consumed += lastNewline + 1;
        }
        return Merge(added);
    }

    // Parses complete lines that start at file offset `at`.
    private static void Parse(ReadOnlySpan<byte> text, long at, List<Entry> added)
    {
        foreach (var range in text.Split((byte)'\n'))
        {
            var line = text[range];
            var sp1 = line.IndexOf((byte)' ');
            if (sp1 <= 0) continue;
            var rest = line[(sp1 + 1)..];
            var sp2 = rest.IndexOf((byte)' ');
            if (sp2 <= 0) continue;
            if (!TryHex(line[..sp1], out var start) || !TryHex(rest[..sp2], out var size)) continue;
            var name = rest[(sp2 + 1)..];
            if (name.IsEmpty || name is [(byte)'\r']) continue;
            var nameAt = at + range.Start.Value + sp1 + 1 + sp2 + 1;
            added.Add(new Entry(start, (uint)Math.Clamp(size, 1, uint.MaxValue), nameAt, added.Count));
        }
    }

    // Merges new entries (in file order) into the sorted arrays; at an equal start the later entry wins.
    private bool Merge(List<Entry> added)
    {
        if (added.Count == 0) return false;
        added.Sort(static (a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.Order.CompareTo(b.Order));
        var capacity = _starts.Length + added.Count;
        var starts = new ulong[capacity];
        var sizes = new uint[capacity];
        var offsets = new long[capacity];
        int i = 0, j = 0, n = 0;
        while (i < _starts.Length || j < added.Count)
        {
            // At an equal start the old entry is taken first, so the new one replaces it below.
            if (j >= added.Count || (i < _starts.Length && _starts[i] <= added[j].Start))
            {
                (starts[n], sizes[n], offsets[n]) = (_starts[i], _sizes[i], _nameOffsets[i]);
                i++;
            }
            else
            {
                var e = added[j++];
                (starts[n], sizes[n], offsets[n]) = (e.Start, e.Size, e.NameOffset);
            }
            if (n > 0 && starts[n - 1] == starts[n])
            {
                (sizes[n - 1], offsets[n - 1]) = (sizes[n], offsets[n]);
                continue;
            }
            n++;
        }
        _starts = n == capacity ? starts : starts[..n];
        _sizes = n == capacity ? sizes : sizes[..n];
        _nameOffsets = n == capacity ? offsets : offsets[..n];
        return true;
    }

    /// <summary>The entry whose [start, start+size) covers <paramref name="address"/>.</summary>
    public bool TryFind(ulong address, out int index)
    {
        index = SortedAddresses.LastAtOrBefore(_starts, address);
        if (index >= 0 && address - _starts[index] < _sizes[index]) return true;
        index = -1;
        return false;
    }

    public ulong StartAt(int index) => _starts[index];

    /// <summary>The entry's name: read from the file on first use, then cached.</summary>
    public string NameAt(int index)
    {
        var offset = _nameOffsets[index];
        if (_names.TryGetValue(offset, out var name)) return name;
        name = ReadName(offset);
        _names[offset] = name;
        return name;
    }

    private string ReadName(long offset)
    {
        Span<byte> small = stackalloc byte[512];
        var buffer = small;
        while (true)
        {
            var n = _file == null ? 0 : RandomAccess.Read(_file, buffer, offset);
            var line = buffer[..n];
            var end = line.IndexOf((byte)'\n');
            if (end >= 0 || n < buffer.Length)
            {
                if (end >= 0) line = line[..end];
                if (!line.IsEmpty && line[^1] == '\r') line = line[..^1];
                return System.Text.Encoding.UTF8.GetString(line);
            }
            buffer = new byte[buffer.Length * 4]; // a name longer than the buffer
        }
    }

    public void Dispose() => _file?.Dispose();

    private static bool TryHex(ReadOnlySpan<byte> s, out ulong value)
    {
        if (s.Length >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x') s = s[2..];
        return ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private readonly record struct Entry(ulong Start, uint Size, long NameOffset, int Order);
}
