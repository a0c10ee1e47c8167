using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.Win32.SafeHandles;

namespace Kiln.Symbolization.Unwinding;

/// <summary>
/// Turns an x86-64 ELF file's call frame information (<c>.eh_frame</c>, and <c>.debug_frame</c> where present) into
/// the compact <see cref="UnwindTable"/> the BPF unwinder walks. Never throws on bad input: malformed CFI yields
/// null and a reason naming the section and offset.
/// </summary>
public static class UnwindTableBuilder
{
    private const ushort MachineX8664 = 62;
    private const ulong ShfCompressed = 0x800;
    private const uint ElfCompressZlib = 1;
    private const int ChdrSize = 24;

    /// <summary>
    /// Builds the table of <paramref name="elf"/>, reading its sections through the path it was opened from (or the
    /// image it was parsed from). Null, with <paramref name="reason"/>, when the file has no CFI, is not x86-64, or its
    /// CFI is malformed.
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="elf"/> was parsed from a handle: pass that handle.</exception>
    public static UnwindTable? Build(ElfFile elf, out string? reason) => Build(elf, null, out reason);

    /// <summary>
    /// Builds the table of <paramref name="elf"/>, reading its sections through <paramref name="file"/> (the handle
    /// it was parsed from) or, when null, as <see cref="Build(ElfFile, out string?)"/> does.
    /// </summary>
    public static UnwindTable? Build(ElfFile elf, SafeFileHandle? file, out string? reason)
    {
        using var input = CfiInput.Load(elf, file, out reason);
        return input == null ? null : Build(input, out reason);
    }

    /// <summary>Opens the ELF file at <paramref name="path"/> and builds its table; a file that cannot be read or parsed is a reason, not an exception.</summary>
    public static UnwindTable? Build(string path, out string? reason)
    {
        ElfFile elf;
        try
        {
            elf = ElfFile.Open(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ElfFormatException)
        {
            reason = e.Message;
            return null;
        }
        return Build(elf, null, out reason);
    }

    /// <summary>
    /// The evaluated rows of every FDE before compaction, in section order (<c>.eh_frame</c> first, then
    /// <c>.debug_frame</c>), for checking against <c>readelf --debug-dump=frames-interp</c> and for debugging.
    /// </summary>
    public static IReadOnlyList<FdeRules>? EvaluateFdes(ElfFile elf, out string? reason)
    {
        using var input = CfiInput.Load(elf, null, out reason);
        return input == null ? null : EvaluateFdes(input, out reason);
    }

    internal static IReadOnlyList<FdeRules>? EvaluateFdes(CfiInput input, out string? reason)
    {
        var result = new List<FdeRules>();
        var fdes = CfiPool<FdeRef>.Shared.Rent(1024);
        var count = 0;
        using var evaluator = new CfiEvaluator();
        try
        {
            foreach (var section in new[] { UnwindTableSource.EhFrame, UnwindTableSource.DebugFrame })
            {
                var data = input.Data(section);
                if (data.IsEmpty) continue;
                count = 0;
                Enumerate(data, section, input.Bases(section), ref fdes, ref count);
                var c = new CfiCursor(data, Name(section));
                Cie cie = default;
                foreach (var fde in fdes.AsSpan(0, count))
                {
                    Evaluate(ref c, fde, input.Bases(section), ref cie, evaluator);
                    result.Add(new FdeRules(section, fde.Offset, fde.PcBegin, fde.PcEnd, cie.SignalFrame, cie.ReturnAddressRegister, evaluator.Rows.ToArray()));
                }
            }
        }
        catch (CfiFormatException e)
        {
            reason = e.Message;
            return null;
        }
        finally
        {
            CfiPool<FdeRef>.Shared.Return(fdes);
        }
        reason = null;
        return result;
    }

    internal static UnwindTable? Build(CfiInput input, out string? reason)
    {
        var ehData = input.Data(UnwindTableSource.EhFrame);
        var debugData = input.Data(UnwindTableSource.DebugFrame);
        if (ehData.IsEmpty && debugData.IsEmpty)
        {
            reason = input.Missing ?? "the file has neither .eh_frame nor .debug_frame";
            return null;
        }
        var eh = CfiPool<FdeRef>.Shared.Rent(Math.Max(16, ehData.Length / 32));
        var debug = CfiPool<FdeRef>.Shared.Rent(Math.Max(16, debugData.Length / 32));
        var output = CfiPool<UnwindRow>.Shared.Rent(Math.Max(64, (ehData.Length + debugData.Length) / 12));
        int ehCount = 0, debugCount = 0, outCount = 0;
        using var evaluator = new CfiEvaluator();
        try
        {
            Enumerate(ehData, UnwindTableSource.EhFrame, input.Bases(UnwindTableSource.EhFrame), ref eh, ref ehCount);
            Enumerate(debugData, UnwindTableSource.DebugFrame, input.Bases(UnwindTableSource.DebugFrame), ref debug, ref debugCount);
            var ehFdes = eh.AsSpan(0, ehCount);
            var debugFdes = debug.AsSpan(0, debugCount);
            ehFdes.Sort(static (a, b) => a.PcBegin != b.PcBegin ? a.PcBegin.CompareTo(b.PcBegin) : a.Offset.CompareTo(b.Offset));
            debugFdes.Sort(static (a, b) => a.PcBegin != b.PcBegin ? a.PcBegin.CompareTo(b.PcBegin) : a.Offset.CompareTo(b.Offset));
            var (hdrCount, hdrMismatches) = CheckHeader(input, ehFdes);

            var ehCursor = new CfiCursor(ehData, Name(UnwindTableSource.EhFrame));
            var debugCursor = new CfiCursor(debugData, Name(UnwindTableSource.DebugFrame));
            Cie ehCie = default, debugCie = default;
            int i = 0, j = 0, used = 0, skipped = 0;
            var source = UnwindTableSource.None;
            var haveEnd = false;
            var lastEnd = 0UL;
            while (i < ehFdes.Length || j < debugFdes.Length)
            {
                // Merge the two sorted lists; at equal starts .eh_frame comes first and so wins.
                var fromEh = j == debugFdes.Length || (i < ehFdes.Length && ehFdes[i].PcBegin <= debugFdes[j].PcBegin);
                var fde = fromEh ? ehFdes[i++] : debugFdes[j++];
                if (fde.PcEnd == fde.PcBegin || (haveEnd && fde.PcBegin < lastEnd) || (!fromEh && OverlapsAny(ehFdes, fde)))
                {
                    skipped++;
                    continue;
                }
                if (fromEh) Evaluate(ref ehCursor, fde, input.Bases(UnwindTableSource.EhFrame), ref ehCie, evaluator);
                else Evaluate(ref debugCursor, fde, input.Bases(UnwindTableSource.DebugFrame), ref debugCie, evaluator);
                var signal = fromEh ? ehCie.SignalFrame : debugCie.SignalFrame;
                if (haveEnd && lastEnd != fde.PcBegin)
                    Append(ref output, ref outCount, new UnwindRow(lastEnd, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0));
                foreach (ref readonly var row in evaluator.Rows)
                {
                    if (row.Pc >= fde.PcBegin && row.Pc < fde.PcEnd)
                        Append(ref output, ref outCount, Compact(row, signal));
                }
                haveEnd = true;
                lastEnd = fde.PcEnd;
                used++;
                source |= fde.Section;
            }
            if (haveEnd)
                Append(ref output, ref outCount, new UnwindRow(lastEnd, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0));

            var rows = output.AsSpan(0, outCount).ToArray();
            var unsupported = 0;
            foreach (ref readonly var r in rows.AsSpan())
            {
                if (r.Kind == UnwindKind.Unsupported) unsupported++;
            }
            reason = null;
            return new UnwindTable(rows, source, used, skipped, unsupported, hdrCount, hdrMismatches);
        }
        catch (CfiFormatException e)
        {
            reason = e.Message;
            return null;
        }
        finally
        {
            CfiPool<FdeRef>.Shared.Return(eh);
            CfiPool<FdeRef>.Shared.Return(debug);
            CfiPool<UnwindRow>.Shared.Return(output);
        }
    }

    /// <summary>The compact form of one evaluated row; see the <see cref="UnwindKind"/> members for the mapping.</summary>
    internal static UnwindRow Compact(in CfiRow row, bool signalFrame)
    {
        if (signalFrame) return new UnwindRow(row.Pc, UnwindKind.Signal, RbpRule.Unchanged, 0, 0);
        if (row.ReturnAddress.Kind == RegisterRuleKind.Undefined) return new UnwindRow(row.Pc, UnwindKind.End, RbpRule.Unchanged, 0, 0);
        var unsupported = new UnwindRow(row.Pc, UnwindKind.Unsupported, RbpRule.Unchanged, 0, 0);
        if (row.ReturnAddress != new RegisterRule(RegisterRuleKind.Offset, -8)) return unsupported;
        UnwindKind kind;
        int offset;
        switch (row.Cfa.Kind)
        {
            case CfaRuleKind.PltExpression:
                kind = UnwindKind.Plt;
                offset = (int)row.Cfa.Offset;
                break;
            case CfaRuleKind.RegisterOffset when row.Cfa.Register is CfiEvaluator.Rsp or CfiEvaluator.Rbp && row.Cfa.Offset is >= int.MinValue and <= int.MaxValue:
                kind = row.Cfa.Register == CfiEvaluator.Rsp ? UnwindKind.CfaRsp : UnwindKind.CfaRbp;
                offset = (int)row.Cfa.Offset;
                break;
            default:
                return unsupported;
        }
        return row.Rbp switch
        {
            { Kind: RegisterRuleKind.Unspecified or RegisterRuleKind.SameValue } => new UnwindRow(row.Pc, kind, RbpRule.Unchanged, 0, offset),
            { Kind: RegisterRuleKind.Offset, Value: >= short.MinValue and <= short.MaxValue } => new UnwindRow(row.Pc, kind, RbpRule.AtCfaOffset, (short)row.Rbp.Value, offset),
            _ => new UnwindRow(row.Pc, kind, RbpRule.Unknown, 0, offset),
        };
    }

    private static void Append(ref UnwindRow[] output, ref int count, UnwindRow row)
    {
        if (count > 0)
        {
            ref var last = ref output[count - 1];
            if (last.Pc == row.Pc)
            {
                last = row;
                if (count > 1 && SameRule(output[count - 2], row)) count--;
                return;
            }
            if (SameRule(last, row)) return;
        }
        if (count == output.Length)
        {
            var bigger = CfiPool<UnwindRow>.Shared.Rent(output.Length * 2);
            output.AsSpan().CopyTo(bigger);
            CfiPool<UnwindRow>.Shared.Return(output);
            output = bigger;
        }
        output[count++] = row;
    }

    private static bool SameRule(in UnwindRow a, in UnwindRow b) =>
        a.Kind == b.Kind && a.Rbp == b.Rbp && a.RbpOffset == b.RbpOffset && a.CfaOffset == b.CfaOffset;

    /// <summary>Whether <paramref name="fde"/> overlaps any FDE of <paramref name="sorted"/> (sorted by start, not overlapping each other).</summary>
    private static bool OverlapsAny(ReadOnlySpan<FdeRef> sorted, in FdeRef fde)
    {
        // The first FDE starting at or after fde's start, and the one before it.
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (sorted[mid].PcBegin < fde.PcBegin) lo = mid + 1;
            else hi = mid;
        }
        if (lo < sorted.Length && sorted[lo].PcBegin < fde.PcEnd && sorted[lo].PcEnd > sorted[lo].PcBegin) return true;
        return lo > 0 && sorted[lo - 1].PcEnd > fde.PcBegin;
    }

    private static void Enumerate(ReadOnlySpan<byte> data, UnwindTableSource section, in PointerBases bases, ref FdeRef[] fdes, ref int count)
    {
        var eh = section == UnwindTableSource.EhFrame;
        var c = new CfiCursor(data, Name(section));
        Cie cie = default;
        var haveCie = false;
        var pos = 0;
        while (pos < data.Length)
        {
            c.Position = pos;
            if (!CfiEntries.ReadHeader(ref c, eh, out var end, out var cieOffset) || cieOffset < 0)
            {
                pos = end;
                continue;
            }
            if (!haveCie || cie.Offset != cieOffset)
            {
                var (afterId, limit) = (c.Position, c.Limit);
                cie = CfiEntries.ParseCie(ref c, eh, (int)cieOffset, pos);
                haveCie = true;
                (c.Position, c.Limit) = (afterId, limit);
            }
            CfiEntries.ReadFde(ref c, cie, bases, out var pcBegin, out var pcEnd, out _);
            if (count == fdes.Length)
            {
                var bigger = CfiPool<FdeRef>.Shared.Rent(fdes.Length * 2);
                fdes.AsSpan().CopyTo(bigger);
                CfiPool<FdeRef>.Shared.Return(fdes);
                fdes = bigger;
            }
            fdes[count++] = new FdeRef(pcBegin, pcEnd, pos, section);
            pos = end;
        }
    }

    private static void Evaluate(ref CfiCursor c, in FdeRef fde, in PointerBases bases, ref Cie cie, CfiEvaluator evaluator)
    {
        var eh = fde.Section == UnwindTableSource.EhFrame;
        c.Position = fde.Offset;
        CfiEntries.ReadHeader(ref c, eh, out var end, out var cieOffset);
        if (cie.InstructionsEnd == 0 || cie.Offset != cieOffset)
        {
            var (afterId, limit) = (c.Position, c.Limit);
            cie = CfiEntries.ParseCie(ref c, eh, (int)cieOffset, fde.Offset);
            (c.Position, c.Limit) = (afterId, limit);
        }
        CfiEntries.ReadFde(ref c, cie, bases, out var pcBegin, out _, out var instructions);
        evaluator.Evaluate(ref c, cie, bases, pcBegin, instructions, end);
    }

    /// <summary>
    /// Cross-checks <c>.eh_frame_hdr</c> (LSB 5.0 "The .eh_frame_hdr section") against the FDEs enumerated from
    /// <c>.eh_frame</c>: its declared count, and each search-table entry (start pc, FDE address) against the FDE at
    /// the same rank by start. Returns (−1, −1) without a header.
    /// </summary>
    private static (int Count, int Mismatches) CheckHeader(CfiInput input, ReadOnlySpan<FdeRef> sortedEh)
    {
        var hdr = input.Data(input.HeaderSection);
        if (hdr.IsEmpty || input.Data(UnwindTableSource.EhFrame).IsEmpty) return (-1, -1);
        var c = new CfiCursor(hdr, ".eh_frame_hdr");
        var bases = new PointerBases(input.HeaderAddress, input.TextAddress, input.HeaderAddress);
        var version = c.U8();
        if (version != 1) c.Fail(0, $"version {version} is not supported (1 is)");
        var ptrEncoding = c.U8();
        var countEncoding = c.U8();
        var tableEncoding = c.U8();
        var ehFramePtr = c.Pointer(ptrEncoding, bases);
        if (ehFramePtr != input.EhFrameAddress)
            c.Fail(4, $"eh_frame_ptr 0x{ehFramePtr:x} is not the address of .eh_frame (0x{input.EhFrameAddress:x})");
        if (countEncoding == CfiCursor.PeOmit || tableEncoding == CfiCursor.PeOmit) return (-1, -1);
        var countAt = c.Position;
        var count = c.Pointer(countEncoding, bases);
        if (count > int.MaxValue) c.Fail(countAt, $"fde_count {count} is too large");
        var mismatches = 0;
        for (var k = 0; k < (int)count; k++)
        {
            var pc = c.Pointer(tableEncoding, bases);
            var fde = c.Pointer(tableEncoding, bases);
            if (k >= sortedEh.Length || sortedEh[k].PcBegin != pc || input.EhFrameAddress + (ulong)sortedEh[k].Offset != fde)
                mismatches++;
        }
        return ((int)count, mismatches + Math.Max(0, sortedEh.Length - (int)count));
    }

    private static string Name(UnwindTableSource section) => section == UnwindTableSource.EhFrame ? ".eh_frame" : ".debug_frame";

    /// <summary>The CFI sections of one file, in pooled buffers, with the addresses relative encodings need.</summary>
    internal sealed class CfiInput : IDisposable
    {
        private byte[]? _ehFrame;
        private int _ehFrameLength;
        private byte[]? _header;
        private int _headerLength;
        private byte[]? _debugFrame;
        private int _debugFrameLength;
        private readonly bool _pooled;

        public CfiInput(byte[]? ehFrame, ulong ehFrameAddress, byte[]? header = null, ulong headerAddress = 0, byte[]? debugFrame = null, ulong textAddress = 0, ulong gotAddress = 0)
            : this(pooled: false)
        {
            (_ehFrame, _ehFrameLength, EhFrameAddress) = (ehFrame, ehFrame?.Length ?? 0, ehFrameAddress);
            (_header, _headerLength, HeaderAddress) = (header, header?.Length ?? 0, headerAddress);
            (_debugFrame, _debugFrameLength) = (debugFrame, debugFrame?.Length ?? 0);
            TextAddress = textAddress;
            GotAddress = gotAddress;
        }

        private CfiInput(bool pooled) => _pooled = pooled;

        public ulong EhFrameAddress { get; private set; }

        public ulong HeaderAddress { get; private set; }

        public ulong TextAddress { get; private set; }

        public ulong GotAddress { get; private set; }

        /// <summary>Why a present section could not be used (e.g. compressed with zstd), for the no-CFI reason.</summary>
        public string? Missing { get; private set; }

        // A pseudo-section tag for Data(): the header is not a source of FDEs.
        public UnwindTableSource HeaderSection => (UnwindTableSource)0x80;

        public ReadOnlySpan<byte> Data(UnwindTableSource section) => section switch
        {
            UnwindTableSource.EhFrame => _ehFrame.AsSpan(0, _ehFrameLength),
            UnwindTableSource.DebugFrame => _debugFrame.AsSpan(0, _debugFrameLength),
            _ => _header.AsSpan(0, _headerLength),
        };

        public PointerBases Bases(UnwindTableSource section) => section == UnwindTableSource.EhFrame
            ? new PointerBases(EhFrameAddress, TextAddress, GotAddress)
            : new PointerBases(0, TextAddress, GotAddress);

        public static CfiInput? Load(ElfFile elf, SafeFileHandle? file, out string? reason)
        {
            if (elf.Machine != MachineX8664)
            {
                reason = $"e_machine {elf.Machine} is not x86-64 (62); unwind tables are built for x86-64 only";
                return null;
            }
            var input = new CfiInput(pooled: true);
            try
            {
                foreach (var s in elf.Sections)
                {
                    if (s.Size == 0) continue;
                    switch (s.Name)
                    {
                        case ".eh_frame" when input._ehFrame == null:
                            input._ehFrame = Read(elf, file, s, out input._ehFrameLength);
                            input.EhFrameAddress = s.Address;
                            break;
                        case ".eh_frame_hdr" when input._header == null:
                            input._header = Read(elf, file, s, out input._headerLength);
                            input.HeaderAddress = s.Address;
                            break;
                        case ".debug_frame" when input._debugFrame == null:
                            input._debugFrame = ReadMaybeCompressed(elf, file, s, out input._debugFrameLength, out var why);
                            input.Missing = why;
                            break;
                        case ".text":
                            input.TextAddress = s.Address;
                            break;
                        case ".got":
                            input.GotAddress = s.Address;
                            break;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ElfFormatException or InvalidDataException)
            {
                input.Dispose();
                reason = e.Message;
                return null;
            }
            reason = null;
            return input;
        }

        private static byte[] Read(ElfFile elf, SafeFileHandle? file, ElfSection s, out int length)
        {
            if (s.Size > int.MaxValue) throw new ElfFormatException($"section {s.Name} is too large ({s.Size} bytes)");
            length = (int)s.Size;
            var buffer = CfiPool<byte>.Shared.Rent(length);
            try
            {
                if (file != null) ElfFile.ReadSection(file, s, buffer);
                else elf.ReadSection(s, buffer);
            }
            catch
            {
                CfiPool<byte>.Shared.Return(buffer);
                throw;
            }
            return buffer;
        }

        private static byte[]? ReadMaybeCompressed(ElfFile elf, SafeFileHandle? file, ElfSection s, out int length, out string? why)
        {
            why = null;
            var raw = Read(elf, file, s, out length);
            if ((s.Flags & ShfCompressed) == 0) return raw;
            try
            {
                if (length < ChdrSize) throw new InvalidDataException($"compressed section {s.Name} is shorter than its header");
                var type = BinaryPrimitives.ReadUInt32LittleEndian(raw);
                var size = BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(8));
                if (type != ElfCompressZlib)
                {
                    why = $"{s.Name} is compressed with ch_type {type}; only zlib (1) is supported";
                    length = 0;
                    return null;
                }
                if (size > int.MaxValue) throw new InvalidDataException($"{s.Name} decompresses to {size} bytes, too large");
                var output = CfiPool<byte>.Shared.Rent((int)size);
                using var z = new ZLibStream(new MemoryStream(raw, ChdrSize, length - ChdrSize, writable: false), CompressionMode.Decompress);
                var total = 0;
                while (total < (int)size)
                {
                    var n = z.Read(output, total, (int)size - total);
                    if (n == 0) break;
                    total += n;
                }
                if (total != (int)size)
                {
                    CfiPool<byte>.Shared.Return(output);
                    throw new InvalidDataException($"{s.Name} decompressed to {total} bytes, its header says {size}");
                }
                length = total;
                return output;
            }
            finally
            {
                // Only reached for a compressed section: the raw bytes are not kept.
                CfiPool<byte>.Shared.Return(raw);
            }
        }

        public void Dispose()
        {
            if (!_pooled) return;
            if (_ehFrame != null) CfiPool<byte>.Shared.Return(_ehFrame);
            if (_header != null) CfiPool<byte>.Shared.Return(_header);
            if (_debugFrame != null) CfiPool<byte>.Shared.Return(_debugFrame);
            _ehFrame = _header = _debugFrame = null;
        }
    }
}
