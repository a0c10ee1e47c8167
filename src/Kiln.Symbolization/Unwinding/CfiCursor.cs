using System.Buffers.Binary;

namespace Kiln.Symbolization.Unwinding;

/// <summary>Malformed CFI; the message names the section and the offset. Caught by <see cref="UnwindTableBuilder"/>.</summary>
internal sealed class CfiFormatException(string message) : Exception(message);

/// <summary>Addresses that DW_EH_PE_* relative encodings are relative to.</summary>
internal readonly record struct PointerBases(ulong Section, ulong Text, ulong Data);

/// <summary>
/// A bounds-checked reader over one CFI section. Every read past <see cref="Limit"/> (the end of the current entry)
/// throws <see cref="CfiFormatException"/> naming the section and offset.
/// </summary>
internal ref struct CfiCursor
{
    // DW_EH_PE_* (LSB 5.0, "DWARF Exception Header Encoding").
    public const byte PeOmit = 0xff;
    public const byte PeAbsptr = 0x00;
    private const byte PeUleb128 = 0x01;
    private const byte PeUdata2 = 0x02;
    private const byte PeUdata4 = 0x03;
    private const byte PeUdata8 = 0x04;
    private const byte PeSleb128 = 0x09;
    private const byte PeSdata2 = 0x0a;
    private const byte PeSdata4 = 0x0b;
    private const byte PeSdata8 = 0x0c;
    private const byte PePcrel = 0x10;
    private const byte PeTextrel = 0x20;
    private const byte PeDatarel = 0x30;
    public const byte PeIndirect = 0x80;

    private readonly ReadOnlySpan<byte> _data;
    private readonly string _section;

    public CfiCursor(ReadOnlySpan<byte> data, string section)
    {
        _data = data;
        _section = section;
        Limit = data.Length;
    }

    public int Position;

    /// <summary>Reads stop here (exclusive).</summary>
    public int Limit;

    public readonly int Length => _data.Length;

    public readonly string Section => _section;

    public readonly bool AtLimit => Position >= Limit;

    public readonly ReadOnlySpan<byte> Slice(int start, int length) => _data.Slice(start, length);

    public byte U8()
    {
        if (Position >= Limit) Overrun(1);
        return _data[Position++];
    }

    public ushort U16()
    {
        if (Limit - Position < 2) Overrun(2);
        var v = BinaryPrimitives.ReadUInt16LittleEndian(_data[Position..]);
        Position += 2;
        return v;
    }

    public uint U32()
    {
        if (Limit - Position < 4) Overrun(4);
        var v = BinaryPrimitives.ReadUInt32LittleEndian(_data[Position..]);
        Position += 4;
        return v;
    }

    public ulong U64()
    {
        if (Limit - Position < 8) Overrun(8);
        var v = BinaryPrimitives.ReadUInt64LittleEndian(_data[Position..]);
        Position += 8;
        return v;
    }

    public ulong Uleb()
    {
        ulong result = 0;
        var shift = 0;
        while (true)
        {
            var start = Position;
            var b = U8();
            if (shift < 64) result |= (ulong)(b & 0x7f) << shift;
            else if ((b & 0x7f) != 0) Fail(start, "ULEB128 value does not fit in 64 bits");
            shift += 7;
            if ((b & 0x80) == 0) return result;
        }
    }

    public long Sleb()
    {
        long result = 0;
        var shift = 0;
        byte b;
        do
        {
            b = U8();
            if (shift < 64) result |= (long)(b & 0x7f) << shift;
            shift += 7;
        }
        while ((b & 0x80) != 0);
        if (shift < 64 && (b & 0x40) != 0) result |= -1L << shift;
        return result;
    }

    /// <summary>Reads a ULEB128 that must fit in an int (a length or register number).</summary>
    public int UlebInt(string what)
    {
        var start = Position;
        var v = Uleb();
        if (v > int.MaxValue) Fail(start, $"{what} {v} is too large");
        return (int)v;
    }

    public void Skip(int count)
    {
        if (count < 0 || Limit - Position < count) Overrun(count);
        Position += count;
    }

    /// <summary>
    /// Reads a pointer in DW_EH_PE encoding <paramref name="encoding"/>. The indirect bit is refused (only the
    /// personality pointer uses it, and that is skipped with <see cref="SkipPointer"/>).
    /// </summary>
    public ulong Pointer(byte encoding, in PointerBases bases, int addressSize = 8)
    {
        var at = Position;
        if ((encoding & PeIndirect) != 0)
            Fail(at, $"indirect pointer encoding 0x{encoding:x2} where a direct address is required");
        var value = Value(encoding, addressSize);
        switch (encoding & 0x70)
        {
            case 0: return value;
            case PePcrel: return value + bases.Section + (ulong)at;
            case PeTextrel: return value + bases.Text;
            case PeDatarel: return value + bases.Data;
            default:
                Fail(at, $"pointer encoding 0x{encoding:x2} (application 0x{encoding & 0x70:x2}) is not supported");
                return 0;
        }
    }

    /// <summary>Reads a value in the format part of <paramref name="encoding"/> only (an FDE's address range).</summary>
    public ulong Value(byte encoding, int addressSize = 8)
    {
        var at = Position;
        switch (encoding & 0x0f)
        {
            case PeAbsptr: return addressSize == 4 ? U32() : U64();
            case PeUleb128: return Uleb();
            case PeUdata2: return U16();
            case PeUdata4: return U32();
            case PeUdata8: return U64();
            case PeSleb128: return (ulong)Sleb();
            case PeSdata2: return (ulong)(long)(short)U16();
            case PeSdata4: return (ulong)(long)(int)U32();
            case PeSdata8: return U64();
            default:
                Fail(at, $"pointer encoding 0x{encoding:x2} (format 0x{encoding & 0x0f:x}) is not supported");
                return 0;
        }
    }

    /// <summary>Skips a pointer of any application (pcrel, indirect …) without resolving it.</summary>
    public void SkipPointer(byte encoding) => Value(encoding);

    public readonly void Fail(int offset, string message) =>
        throw new CfiFormatException($"malformed {_section} at offset 0x{offset:x}: {message}");

    private readonly void Overrun(int count) =>
        Fail(Position, Limit == _data.Length && Position + count > _data.Length
            ? $"{count} byte(s) needed but the section ends at 0x{_data.Length:x}"
            : $"{count} byte(s) needed but the entry ends at 0x{Limit:x}");
}
