using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Kiln.Profiles;

/// <summary>
/// Reads protobuf wire format from a slice of an array without copying: tags, varints, and length-delimited fields
/// as (offset, length) slices of the same array. <see cref="PprofView"/> parses profiles with it, and the server takes
/// a WriteRaw request apart with it. Malformed input throws <see cref="MalformedProtobufException"/>.
/// </summary>
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
        return field != 0 ? (field, (int)(tag & 7)) : throw Error("field number 0");
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
        return VarintSlow(wire);
    }

    private ulong VarintSlow(int wire)
    {
        if (wire != 0)
        {
            throw Error($"wire type {wire} where a varint was expected");
        }
        // Up to 8 bytes (addresses are 3 to 7) without a loop: load 8 bytes, find the first without its high bit,
        // then squeeze the 7-bit groups together pairwise.
        var position = _position;
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
                _position = position + length;
                return x;
            }
        }
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= end)
            {
                throw Error("varint runs past the end");
            }
            var b = data[_position++];
            result |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }
        throw Error("varint longer than 10 bytes");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (int Offset, int Length) Bytes(int wire)
    {
        if (wire != 2)
        {
            throw Error($"wire type {wire} where length-delimited bytes were expected");
        }
        var length = Varint(0);
        if (length > (ulong)(end - _position))
        {
            throw Error($"declares {length} bytes but only {end - _position} remain");
        }
        var offset = _position;
        _position += (int)length;
        return (offset, (int)length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ProtobufReader Message(int wire)
    {
        var (offset, length) = Bytes(wire);
        return new ProtobufReader(data, offset, offset + length);
    }

    public void Skip(int wire)
    {
        switch (wire)
        {
            case 0: Varint(0); break;
            case 1: Advance(8); break;
            case 2: Bytes(2); break;
            case 5: Advance(4); break;
            default: throw Error($"unsupported wire type {wire}");
        }
    }

    private void Advance(int count)
    {
        if (end - _position < count)
        {
            throw Error("field runs past the end");
        }
        _position += count;
    }

    private readonly MalformedProtobufException Error(string what) => new(what, _position);
}

/// <summary>Wire format that cannot be read: <see cref="Offset"/> is the byte (from the array's start) where reading stopped.</summary>
public sealed class MalformedProtobufException(string message, int offset) : Exception(message)
{
    public int Offset { get; } = offset;
}
