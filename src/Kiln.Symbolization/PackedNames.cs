using System.Text;

namespace Kiln.Symbolization;

/// <summary>
/// Symbol names as NUL-terminated UTF-8 in one array — the layout of an ELF string table, which can be adopted as
/// is. A table of 100,000 names costs one array instead of 100,000 strings (half the bytes, no object headers,
/// nothing for the GC to trace); strings are made only for the names a lookup returns, by the owning table's cache.
/// </summary>
internal struct PackedNames
{
    private byte[] _bytes;
    private int _length;

    /// <summary>Adopts <paramref name="bytes"/> (e.g. a string table read from a file); offsets index into it.</summary>
    public PackedNames(byte[] bytes)
    {
        _bytes = bytes;
        _length = bytes.Length;
    }

    public PackedNames(int capacity)
    {
        _bytes = capacity == 0 ? [] : new byte[capacity];
        _length = 0;
    }

    /// <summary>Appends <paramref name="name"/> as UTF-8 and a NUL; returns its offset.</summary>
    public int Append(ReadOnlySpan<char> name)
    {
        var max = Encoding.UTF8.GetMaxByteCount(name.Length);
        EnsureRoom(max + 1);
        var offset = _length;
        var n = Encoding.UTF8.GetBytes(name, _bytes.AsSpan(offset));
        _bytes[offset + n] = 0;
        _length += n + 1;
        return offset;
    }

    /// <summary>The name at <paramref name="offset"/>, up to its NUL (or the end).</summary>
    public readonly ReadOnlySpan<byte> At(int offset)
    {
        var span = _bytes.AsSpan(offset, _length - offset);
        var nul = span.IndexOf((byte)0);
        return nul < 0 ? span : span[..nul];
    }

    public readonly string StringAt(int offset) => Encoding.UTF8.GetString(At(offset));

    /// <summary>Gives back unused capacity (call when no more names come).</summary>
    public void TrimExcess()
    {
        if (_bytes.Length > _length) Array.Resize(ref _bytes, _length);
    }

    private void EnsureRoom(int extra)
    {
        if (_bytes.Length - _length >= extra) return;
        var size = Math.Max(Math.Max(_bytes.Length * 2, _length + extra), 256);
        Array.Resize(ref _bytes, size);
    }
}
