namespace Kiln.Symbolization.Unwinding;

/// <summary>A parsed Common Information Entry: what its FDEs need to decode their addresses and instructions.</summary>
internal readonly record struct Cie(
    int Offset,
    ulong CodeAlignment,
    long DataAlignment,
    int ReturnAddressRegister,
    byte FdeEncoding,
    bool HasAugmentationData,
    bool SignalFrame,
    int AddressSize,
    int SegmentSize,
    int InstructionsStart,
    int InstructionsEnd);

/// <summary>An FDE found while enumerating a section: its pc range and where it lives.</summary>
internal readonly record struct FdeRef(ulong PcBegin, ulong PcEnd, int Offset, UnwindTableSource Section);

/// <summary>
/// Decodes the entries of <c>.eh_frame</c> (LSB 5.0 "Exception Frames") and <c>.debug_frame</c> (DWARF 5 §6.4.1):
/// entry headers, CIEs and FDE headers. Everything reads through a bounds-checked <see cref="CfiCursor"/>.
/// </summary>
internal static class CfiEntries
{
    /// <summary>
    /// Reads an entry's length and CIE id / CIE pointer at <c>c.Position</c>. Returns false for a zero terminator
    /// (the cursor then points past it). On return <c>c.Limit</c> is the entry's end and <c>c.Position</c> the byte
    /// after the id field; <paramref name="cieOffset"/> is the section offset of the FDE's CIE (−1 for a CIE).
    /// </summary>
    public static bool ReadHeader(ref CfiCursor c, bool ehFrame, out int entryEnd, out long cieOffset)
    {
        var start = c.Position;
        c.Limit = c.Length;
        ulong length = c.U32();
        var is64 = false;
        if (length == 0xffffffff)
        {
            length = c.U64();
            is64 = true;
        }
        else if (length >= 0xfffffff0)
        {
            c.Fail(start, $"reserved initial length 0x{length:x}");
        }
        if (length == 0)
        {
            entryEnd = c.Position;
            cieOffset = -1;
            return false;
        }
        if (length > (ulong)(c.Length - c.Position))
            c.Fail(start, $"entry length 0x{length:x} runs past the end of the section (0x{c.Length:x})");
        entryEnd = c.Position + (int)length;
        c.Limit = entryEnd;
        var idAt = c.Position;
        if (ehFrame)
        {
            // In .eh_frame the CIE id / pointer is 4 bytes even in the 64-bit format; a pointer counts back from here.
            var id = c.U32();
            cieOffset = id == 0 ? -1 : (long)idAt - id;
            if (cieOffset < -1)
                c.Fail(idAt, $"CIE pointer 0x{id:x} points before the start of the section");
        }
        else
        {
            var id = is64 ? c.U64() : c.U32();
            var isCie = is64 ? id == ulong.MaxValue : id == 0xffffffff;
            cieOffset = isCie ? -1 : (long)id;
            if (!isCie && id >= (ulong)c.Length)
                c.Fail(idAt, $"CIE pointer 0x{id:x} lies outside the section (0x{c.Length:x} bytes)");
        }
        return true;
    }

    /// <summary>Parses the CIE at <paramref name="offset"/>; fails when no CIE starts there.</summary>
    public static Cie ParseCie(ref CfiCursor c, bool ehFrame, int offset, int referencedFrom)
    {
        c.Position = offset;
        if (!ReadHeader(ref c, ehFrame, out var end, out var id) || id != -1)
            c.Fail(referencedFrom, $"CIE pointer leads to offset 0x{offset:x}, which is not a CIE");
        var versionAt = c.Position;
        var version = c.U8();
        if (ehFrame ? version is not (1 or 3) : version is not (1 or 3 or 4))
            c.Fail(versionAt, $"CIE version {version} is not supported ({(ehFrame ? "1 and 3" : "1, 3 and 4")} are)");

        var augAt = c.Position;
        var aug = c.Position;
        while (c.U8() != 0) { }
        var augmentation = c.Slice(aug, c.Position - aug - 1);
        if (augmentation.Length >= 2 && augmentation[0] == (byte)'e' && augmentation[1] == (byte)'h')
        {
            // GCC 2.x "eh": a pointer to exception data follows the string.
            c.Skip(8);
            augmentation = augmentation[2..];
        }
        var addressSize = 8;
        var segmentSize = 0;
        if (version >= 4)
        {
            addressSize = c.U8();
            segmentSize = c.U8();
            if (addressSize is not (4 or 8))
                c.Fail(c.Position - 2, $"address size {addressSize} is not supported");
        }
        var codeAlignment = c.Uleb();
        var dataAlignment = c.Sleb();
        var raAt = c.Position;
        var ra = version == 1 ? c.U8() : c.UlebInt("return address register");
        if (ra > ushort.MaxValue) c.Fail(raAt, $"return address register {ra} is out of range");

        var fdeEncoding = ehFrame ? CfiCursor.PeAbsptr : (byte)(addressSize == 4 ? 0x03 : 0x04);
        var signal = false;
        var hasData = false;
        var instructions = c.Position;
        if (!augmentation.IsEmpty)
        {
            if (augmentation[0] != (byte)'z')
                c.Fail(augAt, $"augmentation \"{System.Text.Encoding.ASCII.GetString(augmentation)}\" is not supported");
            hasData = true;
            var dataLength = c.UlebInt("augmentation data length");
            var dataStart = c.Position;
            if (dataLength > c.Limit - dataStart)
                c.Fail(dataStart, $"augmentation data length {dataLength} runs past the CIE's end (0x{c.Limit:x})");
            instructions = dataStart + dataLength;
            var savedLimit = c.Limit;
            c.Limit = instructions;
            for (var i = 1; i < augmentation.Length; i++)
            {
                var ch = augmentation[i];
                if (ch == (byte)'R') fdeEncoding = c.U8();
                else if (ch == (byte)'L') c.U8();
                else if (ch == (byte)'P') c.SkipPointer(c.U8());
                else if (ch == (byte)'S') signal = true;
                else if (ch is (byte)'B' or (byte)'G') { }
                else break; // an unknown letter: the data length still lets us skip the rest
            }
            c.Limit = savedLimit;
        }
        return new Cie(offset, codeAlignment, dataAlignment, ra, fdeEncoding, hasData, signal, addressSize, segmentSize, instructions, end);
    }

    /// <summary>
    /// Reads an FDE's pc range and instruction bounds; <c>c.Position</c> must be just past its CIE pointer and
    /// <c>c.Limit</c> its end.
    /// </summary>
    public static void ReadFde(ref CfiCursor c, in Cie cie, in PointerBases bases, out ulong pcBegin, out ulong pcEnd, out int instructions)
    {
        var at = c.Position;
        c.Skip(cie.SegmentSize);
        pcBegin = c.Pointer(cie.FdeEncoding, bases, cie.AddressSize);
        var range = c.Value(cie.FdeEncoding, cie.AddressSize);
        pcEnd = pcBegin + range;
        if (pcEnd < pcBegin)
            c.Fail(at, $"FDE range 0x{pcBegin:x} + 0x{range:x} overflows");
        if (cie.HasAugmentationData)
        {
            var length = c.UlebInt("augmentation data length");
            c.Skip(length);
        }
        instructions = c.Position;
    }
}
