using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
        // Up to 8 bytes (addresses are 3 to 7) without a loop: load 8 bytes, find the first without its high bit,
        // then squeeze the 7-bit groups together pairwise.
        if ((uint)position + 8 <= (uint)data.Length)
        {
            var word = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), position));
            var stops = ~word & 0x8080808080808080UL;
            var length = (BitOperations.TrailingZeroCount(stops) >> 3) + 1;
            if (stops != 0 && length <= end - position)
            {
                var x = word & (stops ^ (stops - 1)) & 0x7f7f7f7f7f7f7f7fUL;
                x = (x & 0x007f007f007f007fUL) | ((x & 0x7f007f007f007f00UL) >> 1);
                x = (x & 0x00003fff00003fffUL) | ((x & 0x3fff00003fff0000UL) >> 2);
                x = (x & 0x000000000fffffffUL) | ((x & 0x0fffffff00000000UL) >> 4);
                return (x, position + length);
            }
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
