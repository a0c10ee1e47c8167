using System.Buffers.Binary;
using System.Text;

namespace Kiln.Symbolization.Tests.Unwinding;

/// <summary>
/// Writes a synthetic <c>.eh_frame</c> (LSB 5.0 layout) for tests: CIEs with "zR" and pcrel|sdata4 FDE addresses,
/// FDEs with raw DW_CFA instruction bytes, and the zero terminator.
/// </summary>
internal sealed class EhFrameBuilder(ulong sectionAddress)
{
    /// <summary>DW_CFA_def_cfa rsp 8; DW_CFA_offset rip at cfa−8: the x86-64 CIE every compiler emits.</summary>
    public static readonly byte[] StandardCieInstructions = [0x0c, 0x07, 0x08, 0x90, 0x01];

    private readonly List<byte> _bytes = [];

    public ulong Address => sectionAddress;

    /// <summary>Appends a CIE and returns its offset.</summary>
    public int Cie(byte[]? instructions = null, string augmentation = "zR", byte version = 1)
    {
        var body = new List<byte> { 0, 0, 0, 0, version };
        body.AddRange(Encoding.ASCII.GetBytes(augmentation));
        body.Add(0);
        body.Add(1);    // code alignment factor
        body.Add(0x78); // data alignment factor −8 (SLEB128)
        body.Add(16);   // return address column
        if (augmentation.StartsWith('z'))
        {
            var data = augmentation.Contains('R') ? new byte[] { 0x1b } : [];
            body.Add((byte)data.Length);
            body.AddRange(data);
        }
        body.AddRange(instructions ?? StandardCieInstructions);
        return Entry(body);
    }

    /// <summary>Appends an FDE covering [<paramref name="pc"/>, +<paramref name="length"/>) and returns its offset.</summary>
    public int Fde(int cie, ulong pc, uint length, params byte[] instructions)
    {
        var at = _bytes.Count;
        var body = new List<byte>();
        body.AddRange(U32((uint)(at + 4 - cie))); // CIE pointer: back from this field to the CIE
        var pcField = sectionAddress + (ulong)(at + 8);
        body.AddRange(U32((uint)(int)(long)(pc - pcField)));
        body.AddRange(U32(length));
        body.Add(0); // augmentation data length
        body.AddRange(instructions);
        return Entry(body);
    }

    /// <summary>The section bytes, ending with the zero terminator.</summary>
    public byte[] Build() => [.. _bytes, 0, 0, 0, 0];

    private int Entry(List<byte> body)
    {
        while ((body.Count + 4) % 8 != 0) body.Add(0); // DW_CFA_nop padding
        var at = _bytes.Count;
        _bytes.AddRange(U32((uint)body.Count));
        _bytes.AddRange(body);
        return at;
    }

    private static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }
}
