using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Kiln.Profiles;

/// <summary>
/// Reads protobuf wire format from a slice of an array without copying: tags, varints, and length-delimited fields
/// as (offset, length) slices of the same array. <see cref="PprofView"/> parses profiles with it, and the server takes
/// a WriteRaw request apart with it. Malformed input throws <see cref="MalformedProtobufException"/>.
/// </summary>
/// <remarks>
/// Everything that is not inlined (long varints, skipping, errors) is static and takes the position by value: an
/// instance call would need the reader's address, which keeps the whole reader in memory instead of registers in the
/// caller's loop, and every varint then waited on the store of the position before it.
/// </remarks>
public struct ProtobufReader(byte[] data, int position, int end)
{
    private int _position = position;

    public readonly bool End => _position >= end;

    public readonly int Remaining => end - _position;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (int Field, int Wire) Tag()
    {
        var tag = Varint(0);
        var field = (int)(tag >> 3);
        return field != 0 ? (field, (int)(tag & 7)) : throw Error("field number 0", _position);
    }

    // Tags and most values fit in one or two bytes: that case is inlined, the rest goes the long way.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Varint(int wire)
    {
        var position = _position;
        if (wire == 0 && (uint)(position + 1) < (uint)end && (uint)(position + 1) < (uint)data.Length)
        {
            var b0 = data[position];
            if (b0 < 0x80)
            {
                _position = position + 1;
                return b0;
            }
            var b1 = data[position + 1];
            if (b1 < 0x80)
            {
                _position = position + 2;
                return (ulong)(b0 & 0x7fu) | ((ulong)b1 << 7);
            }
        }
        var (value, next) = VarintSlow(data, position, end, wire);
        _position = next;
        return value;
    }

    private static (ulong Value, int Next) VarintSlow(byte[] data, int position, int end, int wire)
    {
        if (wire != 0)
        {
            throw Error($"wire type {wire} where a varint was expected", position);
        }
        var value = EightByteVarint(data, position, end, out var length);
        if (length > 0)
        {
            return (value, position + length);
        }
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= end)
            {
                throw Error("varint runs past the end", position);
            }
            var b = data[position++];
            result |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return (result, position);
            }
        }
        throw Error("varint longer than 10 bytes", position);
    }

    /// <summary>Whether the byte at <paramref name="position"/> is inside the message and is <paramref name="tag"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly bool NextIs(byte tag, int position) =>
        (uint)position < (uint)end && (uint)position < (uint)data.Length && data[position] == tag;

    /// <summary>
    /// Reads a varint field if the next byte is <paramref name="tag"/> (a one-byte tag: field number below 16, wire
    /// type 0), else leaves the position and <paramref name="value"/> alone. Encoders write fields in ascending order,
    /// so reading a message's expected fields one after another with this skips decoding and dispatching every tag.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryVarint(byte tag, ref ulong value)
    {
        var position = _position;
        if (NextIs(tag, position))
        {
            _position = position + 1;
            value = Varint(0);
            return true;
        }
        return false;
    }

    /// <summary>
    /// Like <see cref="TryVarint"/>, for values that usually take several bytes (addresses): decoded from one 8-byte
    /// load, without a call, where the array holds 8 bytes from the value on.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWideVarint(byte tag, ref ulong value)
    {
        var position = _position;
        if (NextIs(tag, position))
        {
            position++;
            value = EightByteVarint(data, position, end, out var length);
            if (length > 0)
            {
                _position = position + length;
                return true;
            }
            _position = position;
            value = Varint(0);
            return true;
        }
        return false;
    }

    /// <summary>
    /// Decodes the varint at <paramref name="position"/> from one 8-byte load, without a loop: the first byte without its
    /// high bit ends it, and the 7-bit groups before it are squeezed together pairwise. <paramref name="length"/> is 0
    /// where the array holds fewer than 8 bytes from there, or the varint is longer than 8 bytes or runs past
    /// <paramref name="end"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong EightByteVarint(byte[] data, int position, int end, out int length)
    {
        length = 0;
        if ((uint)position + 8 > (uint)data.Length)
        {
            return 0;
        }
        var word = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(position, 8));
        var stops = ~word & 0x8080808080808080UL;
        var bytes = (int)(BitOperations.TrailingZeroCount(stops) >> 3) + 1;
        if (stops == 0 || bytes > end - position)
        {
            return 0;
        }
        length = bytes;
        var x = word & (stops ^ (stops - 1)) & 0x7f7f7f7f7f7f7f7fUL;
        x = (x & 0x007f007f007f007fUL) | ((x & 0x7f007f007f007f00UL) >> 1);
        x = (x & 0x00003fff00003fffUL) | ((x & 0x3fff00003fff0000UL) >> 2);
        return (x & 0x000000000fffffffUL) | ((x & 0x0fffffff00000000UL) >> 4);
    }

    /// <summary>
    /// Reads varints up to the end (a packed repeated field's contents) into <paramref name="into"/>, which has room
    /// for <see cref="Remaining"/> of them (a varint takes at least a byte); returns how many there were. One- and
    /// two-byte values, which ids mostly are, are decoded in a loop of their own.
    /// </summary>
    public int PackedVarints(Span<ulong> into)
    {
        var bytes = data.AsSpan(_position, end - _position);
        var count = 0;
        var i = 0;
        while (i < bytes.Length)
        {
            uint b0 = bytes[i];
            if (b0 < 0x80)
            {
                into[count++] = b0;
                i++;
                continue;
            }
            if (i + 1 < bytes.Length)
            {
                uint b1 = bytes[i + 1];
                if (b1 < 0x80)
                {
                    into[count++] = (b0 & 0x7f) | (b1 << 7);
                    i += 2;
                    continue;
                }
            }
            var (value, next) = VarintSlow(data, _position + i, end, 0);
            into[count++] = value;
            i = next - _position;
        }
        _position = end;
        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (int Offset, int Length) Bytes(int wire)
    {
        if (wire != 2)
        {
            throw WireError(wire, "length-delimited bytes", _position);
        }
        var length = Varint(0);
        var offset = _position;
        if (length > (ulong)(end - offset))
        {
            throw LengthError(length, end - offset, offset);
        }
        _position = offset + (int)length;
        return (offset, (int)length);
    }

    /// <summary>
    /// Reads a length-delimited field if the next byte is <paramref name="tag"/> (a one-byte tag: field number below
    /// 16, wire type 2), as <see cref="TryVarint"/> does for varints.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryBytes(byte tag, out int offset, out int length)
    {
        var position = _position;
        if (NextIs(tag, position))
        {
            _position = position + 1;
            (offset, length) = Bytes(2);
            return true;
        }
        (offset, length) = (0, 0);
        return false;
    }

    /// <summary>A reader of the slice <see cref="Bytes"/> returned (of the same array).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly ProtobufReader At(int offset, int length) => new(data, offset, offset + length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ProtobufReader Message(int wire)
    {
        var (offset, length) = Bytes(wire);
        return new ProtobufReader(data, offset, offset + length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Skip(int wire) => _position = Skip(data, _position, end, wire);

    private static int Skip(byte[] data, int position, int end, int wire)
    {
        switch (wire)
        {
            case 0:
                return new ProtobufReader(data, position, end).SkipVarint();
            case 1:
                return Advance(position, end, 8);
            case 2:
                var reader = new ProtobufReader(data, position, end);
                var (offset, length) = reader.Bytes(2);
                return offset + length;
            case 5:
                return Advance(position, end, 4);
            default:
                throw Error($"unsupported wire type {wire}", position);
        }
    }

    private int SkipVarint()
    {
        Varint(0);
        return _position;
    }

    private static int Advance(int position, int end, int count) =>
        end - position >= count ? position + count : throw Error("field runs past the end", position);

    private static MalformedProtobufException Error(string what, int position) => new(what, position);

    private static MalformedProtobufException WireError(int wire, string expected, int position) =>
        new($"wire type {wire} where {expected} were expected", position);

    private static MalformedProtobufException LengthError(ulong length, int remaining, int position) =>
        new($"declares {length} bytes but only {remaining} remain", position);
}

/// <summary>Wire format that cannot be read: <see cref="Offset"/> is the byte (from the array's start) where reading stopped.</summary>
public sealed class MalformedProtobufException(string message, int offset) : Exception(message)
{
    public int Offset { get; } = offset;
}
