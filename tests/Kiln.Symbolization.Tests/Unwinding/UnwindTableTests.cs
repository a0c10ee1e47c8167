using System.Globalization;
using System.Runtime.InteropServices;
using Kiln.Symbolization.Unwinding;
using static Kiln.Symbolization.Tests.Unwinding.CfiReadelfTests;

namespace Kiln.Symbolization.Tests.Unwinding;

/// <summary>The compact table: layout shared with BPF, the special kinds on real binaries, gaps, merging, bad input.</summary>
public class UnwindTableTests
{
    private const ulong Text = 0x401000;

    [Fact]
    public void Row_layout_is_the_16_bytes_the_bpf_struct_expects()
    {
        Assert.Equal(16, Marshal.SizeOf<UnwindRow>());
        Assert.Equal(0, Offset(nameof(UnwindRow.Pc)));
        Assert.Equal(8, Offset(nameof(UnwindRow.Kind)));
        Assert.Equal(9, Offset(nameof(UnwindRow.Rbp)));
        Assert.Equal(10, Offset(nameof(UnwindRow.RbpOffset)));
        Assert.Equal(12, Offset(nameof(UnwindRow.CfaOffset)));
        var bytes = MemoryMarshal.AsBytes(new[] { new UnwindRow(0x1122334455667788, UnwindKind.CfaRbp, RbpRule.AtCfaOffset, -16, 0x10) }.AsSpan());
        Assert.Equal("8877665544332211" + "02" + "01" + "f0ff" + "10000000", Convert.ToHexStringLower(bytes));

        static int Offset(string field) => (int)Marshal.OffsetOf<UnwindRow>($"<{field}>k__BackingField");
    }

    [Theory]
    [InlineData(Libc)]
    [InlineData(Python)]
    [InlineData(Bash)]
    [InlineData("coreclr")]
    public void Table_agrees_with_the_evaluated_rows_and_is_sorted_and_merged(string path)
    {
        if (path == "coreclr") path = Coreclr;
        var elf = ElfFile.Open(path);
        var table = UnwindTableBuilder.Build(elf, out var reason);
        Assert.True(table != null, reason);
        var fdes = UnwindTableBuilder.EvaluateFdes(elf, out reason)!;
        Assert.Equal(UnwindTableSource.EhFrame, table.Source);
        Assert.Equal(fdes.Count, table.FdeCount + table.SkippedFdes);

        var rows = table.Rows;
        for (var i = 1; i < rows.Length; i++)
        {
            Assert.True(rows[i].Pc > rows[i - 1].Pc, $"row {i} at {rows[i].Pc:x} does not follow {rows[i - 1].Pc:x}");
            Assert.False(rows[i] with { Pc = 0 } == rows[i - 1] with { Pc = 0 }, $"rows {i - 1} and {i} at {rows[i].Pc:x} should have been merged");
        }
        Assert.Equal(UnwindKind.NoInfo, rows[^1].Kind);
        Assert.Equal(rows.Count(r => r.Kind == UnwindKind.Unsupported), table.UnsupportedRows);
        var unmerged = fdes.Sum(f => f.Rows.Count(r => r.Pc < f.PcEnd)) + rows.Count(r => r.Kind == UnwindKind.NoInfo);
        Assert.True(rows.Length < unmerged, $"{rows.Length} rows: merging across FDEs should leave fewer than {unmerged}");

        // Every evaluated row's rule is what the table answers at its pc, and just before each FDE's end.
        foreach (var fde in fdes)
        {
            if (fde.PcEnd == fde.PcBegin) continue;
            foreach (var row in fde.Rows)
            {
                if (row.Pc >= fde.PcEnd) continue;
                var expected = UnwindTableBuilder.Compact(row, fde.SignalFrame);
                Assert.Equal(expected with { Pc = 0 }, table.Find(row.Pc) with { Pc = 0 });
            }
            var last = fde.Rows.Last(r => r.Pc < fde.PcEnd);
            Assert.Equal(UnwindTableBuilder.Compact(last, fde.SignalFrame) with { Pc = 0 }, table.Find(fde.PcEnd - 1) with { Pc = 0 });
        }

        // .eh_frame_hdr lists every FDE of .eh_frame.
        Assert.Equal(fdes.Count, table.EhFrameHdrFdeCount);
        Assert.Equal(0, table.EhFrameHdrMismatches);
    }

    [Fact]
    public void Gaps_between_fdes_are_no_info_rows()
    {
        var table = UnwindTableBuilder.Build(Bash, out var reason);
        Assert.True(table != null, reason);
        var fdes = ReadelfFrames.Dump(Bash).Where(e => !e.IsCie && e.PcEnd > e.PcBegin).OrderBy(e => e.PcBegin).ToList();
        var gaps = 0;
        for (var i = 0; i < fdes.Count; i++)
        {
            Assert.NotEqual(UnwindKind.NoInfo, table.Find(fdes[i].PcBegin).Kind);
            var next = i + 1 < fdes.Count ? fdes[i + 1].PcBegin : ulong.MaxValue;
            if (next == fdes[i].PcEnd) continue;
            gaps++;
            var row = table.Find(fdes[i].PcEnd);
            Assert.Equal(new UnwindRow(fdes[i].PcEnd, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0), row);
            if (next != ulong.MaxValue) Assert.Equal(UnwindKind.NoInfo, table.Find(next - 1).Kind);
        }
        Assert.True(gaps > 10);
        Assert.Equal(UnwindKind.NoInfo, table.Find(fdes[0].PcBegin - 1).Kind);
        Assert.Equal(fdes[^1].PcEnd, table.Rows[^1].Pc);
    }

    [Theory]
    [InlineData(Bash)]
    [InlineData(Libc)]
    public void Plt_stubs_are_plt_rows_with_readelfs_threshold(string path)
    {
        var elf = ElfFile.Open(path);
        var plt = elf.FindSection(".plt")!.Value;
        var table = UnwindTableBuilder.Build(elf, out var reason);
        Assert.True(table != null, reason);

        // readelf's raw dump of the FDE covering .plt: DW_CFA_def_cfa_expression (... DW_OP_lit11; DW_OP_ge ...).
        var raw = Native.Run("readelf", $"-wN --debug-dump=frames {path}");
        var fde = raw[raw.IndexOf(string.Create(CultureInfo.InvariantCulture, $"pc={plt.Address:x16}"), StringComparison.Ordinal)..];
        fde = fde[..fde.IndexOf("\n\n", StringComparison.Ordinal)];
        var lit = fde.IndexOf("DW_OP_and; DW_OP_lit", StringComparison.Ordinal);
        Assert.True(lit > 0, $"no PLT expression in readelf's FDE for .plt:\n{fde}");
        var threshold = int.Parse(fde.AsSpan(lit + "DW_OP_and; DW_OP_lit".Length, 2), CultureInfo.InvariantCulture);

        // PLT0 pushes twice (rsp+16, then rsp+24); every later 16-byte entry is the expression.
        Assert.Equal(new UnwindRow(plt.Address, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 16), table.Find(plt.Address));
        Assert.Equal(UnwindKind.CfaRsp, table.Find(plt.Address + 6).Kind);
        Assert.Equal(24, table.Find(plt.Address + 6).CfaOffset);
        for (var pc = plt.Address + 16; pc < plt.Address + plt.Size; pc += 5)
            Assert.Equal(new UnwindRow(plt.Address + 16, UnwindKind.Plt, RbpRule.Unchanged, 0, threshold), table.Find(pc));
    }

    [Fact]
    public void Libc_signal_trampoline_is_a_signal_row()
    {
        var table = UnwindTableBuilder.Build(Libc, out var reason);
        Assert.True(table != null, reason);
        var dump = ReadelfFrames.Dump(Libc);
        var signalCies = Native.Run("readelf", $"-wN --debug-dump=frames-interp {Libc}").Split('\n')
            .Where(l => l.Contains(" CIE", StringComparison.Ordinal) && l.Contains('"') && l.Split('"')[1].Contains('S'))
            .Select(l => int.Parse(l[..8], NumberStyles.HexNumber, CultureInfo.InvariantCulture))
            .ToHashSet();
        var signalFdes = dump.Where(e => !e.IsCie && signalCies.Contains(e.CieOffset)).ToList();
        Assert.NotEmpty(signalFdes);
        foreach (var fde in signalFdes)
        {
            for (var pc = fde.PcBegin; pc < fde.PcEnd; pc++)
                Assert.Equal(UnwindKind.Signal, table.Find(pc).Kind);
        }

        // With libc's separate debug file installed, the trampoline is __restore_rt (its FDE starts one byte early).
        var debug = DebugFile(Libc);
        if (debug != null)
        {
            var restoreRt = Native.ReadelfSymbol(debug, "__restore_rt");
            Assert.Contains(signalFdes, f => f.PcBegin <= restoreRt && restoreRt < f.PcEnd);
            Assert.Equal(UnwindKind.Signal, table.Find(restoreRt).Kind);
        }
    }

    [Fact]
    public void Python_start_ends_the_walk()
    {
        var entry = ulong.Parse(
            Native.Run("readelf", $"-h {Python}").Split('\n').First(l => l.Contains("Entry point", StringComparison.Ordinal)).Split("0x")[1],
            NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var table = UnwindTableBuilder.Build(Python, out var reason);
        Assert.True(table != null, reason);
        Assert.Equal(UnwindKind.End, table.Find(entry).Kind);
        Assert.Equal(UnwindKind.End, table.Find(entry + 4).Kind);
    }

    [Fact]
    public void Libc_clone3_child_ends_the_walk_exactly_where_readelf_makes_ra_undefined()
    {
        var table = UnwindTableBuilder.Build(Libc, out var reason);
        Assert.True(table != null, reason);
        // The rows where readelf shows ra = u: the child sides of clone and clone3 (DW_CFA_undefined rip).
        var undefinedRa = ReadelfFrames.Dump(Libc).Where(e => !e.IsCie)
            .SelectMany(e => e.Rows.Where(r => r.Pc < e.PcEnd && r.Ra == "u").Select(r => (Fde: e, r.Pc)))
            .ToList();
        Assert.True(undefinedRa.Count >= 2, "libc should have clone and clone3 child frames");
        foreach (var (fde, pc) in undefinedRa)
        {
            Assert.Equal(UnwindKind.End, table.Find(pc).Kind);
            Assert.NotEqual(UnwindKind.End, table.Find(pc - 1).Kind);
        }

        var debug = DebugFile(Libc);
        if (debug != null)
        {
            var clone3 = Native.ReadelfSymbol(debug, "clone3");
            // The parent side has CFI; the child side (after the syscall) is a separate FDE whose ra is undefined.
            var end = undefinedRa.Single(u => u.Pc > clone3 && u.Pc < clone3 + 0x100).Pc;
            Assert.Equal(UnwindKind.CfaRsp, table.Find(clone3).Kind);
            Assert.Equal(end, table.Rows.Single(r => r.Pc > clone3 && r.Pc < clone3 + 0x100 && r.Kind == UnwindKind.End).Pc);
        }
    }

    [Fact]
    public void Synthetic_cfi_maps_each_rule_to_its_kind()
    {
        var eh = new EhFrameBuilder(0x2000);
        var cie = eh.Cie();
        // push rbp; mov rbp,rsp; … ; remember; leave; ret; restore
        eh.Fde(cie, Text, 0x20,
            0x41, 0x0e, 0x10, 0x86, 0x02, // +1: cfa rsp+16, rbp at cfa−16
            0x43, 0x0d, 0x06,             // +3: cfa rbp+16
            0x4a, 0x0a, 0x0c, 0x07, 0x08, // +10: remember; cfa rsp+8
            0x41, 0x0b);                  // +1: restore → cfa rbp+16
        eh.Fde(cie, Text + 0x20, 0x10, 0x44, 0x0c, 0x0a, 0x10);            // cfa r10+16: unsupported
        eh.Fde(cie, Text + 0x30, 0x10, 0x44, 0x0f, 0x02, 0x77, 0x08);      // cfa expression (rsp+8), not the PLT one
        eh.Fde(cie, Text + 0x40, 0x10, 0x44, 0x09, 0x10, 0x00);            // ra in rax
        eh.Fde(cie, Text + 0x50, 0x10, 0x44, 0x09, 0x06, 0x03);            // rbp in rbx: unknown
        eh.Fde(cie, Text + 0x60, 0x10, 0x44, 0x07, 0x10);                  // ra undefined
        eh.Fde(cie, Text + 0x80, 0x10, 0x0e, 0x10, 0x44, 0x2e, 0x08, 0x0e, 0x20); // args_size ignored; gap before
        eh.Fde(eh.Cie(augmentation: "zRS"), Text + 0x90, 0x08);
        var table = Build(eh);

        Assert.Equal(
        [
            new UnwindRow(Text, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 1, UnwindKind.CfaRsp, RbpRule.AtCfaOffset, -16, 16),
            new UnwindRow(Text + 4, UnwindKind.CfaRbp, RbpRule.AtCfaOffset, -16, 16),
            new UnwindRow(Text + 14, UnwindKind.CfaRsp, RbpRule.AtCfaOffset, -16, 8),
            new UnwindRow(Text + 15, UnwindKind.CfaRbp, RbpRule.AtCfaOffset, -16, 16),
            new UnwindRow(Text + 0x20, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 0x24, UnwindKind.Unsupported, RbpRule.Unchanged, 0, 0),
            new UnwindRow(Text + 0x30, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 0x34, UnwindKind.Unsupported, RbpRule.Unchanged, 0, 0),
            new UnwindRow(Text + 0x40, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 0x44, UnwindKind.Unsupported, RbpRule.Unchanged, 0, 0),
            new UnwindRow(Text + 0x50, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 0x54, UnwindKind.CfaRsp, RbpRule.Unknown, 0, 8),
            new UnwindRow(Text + 0x60, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 0x64, UnwindKind.End, RbpRule.Unchanged, 0, 0),
            new UnwindRow(Text + 0x70, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0),
            new UnwindRow(Text + 0x80, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 16),
            new UnwindRow(Text + 0x84, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 32),
            new UnwindRow(Text + 0x90, UnwindKind.Signal, RbpRule.Unchanged, 0, 0),
            new UnwindRow(Text + 0x98, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0),
        ], table.Rows);
        Assert.Equal(8, table.FdeCount);
        Assert.Equal(3, table.UnsupportedRows);
    }

    [Fact]
    public void Equal_rules_merge_across_fdes_and_the_plt_expression_is_recognized()
    {
        var eh = new EhFrameBuilder(0x2000);
        var cie = eh.Cie();
        eh.Fde(cie, Text, 0x10, 0x44, 0x0e, 0x10, 0x44, 0x0e, 0x08);    // back to rsp+8 at +8: merges with the next FDE
        eh.Fde(cie, Text + 0x10, 0x10, 0x4a, 0x00);                      // advance and nop: nothing new
        byte[] plt = [0x0f, 0x0b, 0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3a, 0x2a, 0x33, 0x24, 0x22];
        eh.Fde(cie, Text + 0x20, 0x40, [0x40 | 0x10, .. plt]);
        var table = Build(eh);
        Assert.Equal(
        [
            new UnwindRow(Text, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 4, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 16),
            new UnwindRow(Text + 8, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 0x30, UnwindKind.Plt, RbpRule.Unchanged, 0, 10),
            new UnwindRow(Text + 0x60, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0),
        ], table.Rows);
    }

    [Fact]
    public void Overlapping_and_empty_fdes_are_skipped_and_the_first_wins()
    {
        var eh = new EhFrameBuilder(0x2000);
        var cie = eh.Cie();
        eh.Fde(cie, Text, 0x10, 0x44, 0x0e, 0x10);
        eh.Fde(cie, Text + 8, 0x10, 0x0e, 0x40);  // overlaps the first
        eh.Fde(cie, Text + 0x40, 0);              // empty
        var table = Build(eh);
        Assert.Equal(1, table.FdeCount);
        Assert.Equal(2, table.SkippedFdes);
        Assert.Equal(
        [
            new UnwindRow(Text, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 4, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 16),
            new UnwindRow(Text + 0x10, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0),
        ], table.Rows);
    }

    [Fact]
    public void Eh_frame_wins_over_an_overlapping_debug_frame_fde()
    {
        var eh = new EhFrameBuilder(0x2000);
        eh.Fde(eh.Cie(), Text, 0x10, 0x44, 0x0e, 0x10);
        // .debug_frame, 32-bit DWARF: a version-1 CIE (id 0xffffffff) and two FDEs with absolute 8-byte addresses.
        var debug = new List<byte>();
        void Entry(params byte[] body)
        {
            var padded = body.Concat(new byte[(8 - ((body.Length + 4) % 8)) % 8]).ToArray();
            debug.AddRange(BitConverter.GetBytes(padded.Length));
            debug.AddRange(padded);
        }
        Entry([0xff, 0xff, 0xff, 0xff, 1, 0, 1, 0x78, 16, 0x0c, 0x07, 0x08, 0x90, 0x01]);
        Entry([0, 0, 0, 0, .. BitConverter.GetBytes(Text + 8), .. BitConverter.GetBytes(0x10UL), 0x0e, 0x40]);
        Entry([0, 0, 0, 0, .. BitConverter.GetBytes(Text + 0x20), .. BitConverter.GetBytes(0x10UL), 0x41, 0x0e, 0x18]);
        var table = UnwindTableBuilder.Build(new UnwindTableBuilder.CfiInput(eh.Build(), eh.Address, debugFrame: [.. debug]), out var reason);
        Assert.True(table != null, reason);
        Assert.Equal(UnwindTableSource.EhFrame | UnwindTableSource.DebugFrame, table.Source);
        Assert.Equal((2, 1), (table.FdeCount, table.SkippedFdes));
        Assert.Equal(
        [
            new UnwindRow(Text, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 4, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 16),
            new UnwindRow(Text + 0x10, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0),
            new UnwindRow(Text + 0x20, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 8),
            new UnwindRow(Text + 0x21, UnwindKind.CfaRsp, RbpRule.Unchanged, 0, 24),
            new UnwindRow(Text + 0x30, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0),
        ], table.Rows);
    }

    [Fact]
    public void Truncated_section_is_a_reason_naming_the_offset()
    {
        var eh = new EhFrameBuilder(0x2000);
        var cie = eh.Cie();
        var fde = eh.Fde(cie, Text, 0x10, 0x44, 0x0e, 0x10);
        var bytes = eh.Build()[..(fde + 10)];
        var reason = Fails(bytes);
        Assert.Equal($"malformed .eh_frame at offset 0x{fde:x}: entry length 0x{bytes[fde]:x} runs past the end of the section (0x{bytes.Length:x})", reason);
    }

    [Fact]
    public void Cie_pointer_to_a_non_cie_is_a_reason_naming_the_fde()
    {
        var eh = new EhFrameBuilder(0x2000);
        var cie = eh.Cie();
        var first = eh.Fde(cie, Text, 0x10);
        var second = eh.Fde(first, Text + 0x10, 0x10);
        Assert.Equal($"malformed .eh_frame at offset 0x{second:x}: CIE pointer leads to offset 0x{first:x}, which is not a CIE", Fails(eh.Build()));
    }

    [Fact]
    public void Unknown_opcode_is_a_reason_naming_its_offset()
    {
        var eh = new EhFrameBuilder(0x2000);
        var cie = eh.Cie();
        var fde = eh.Fde(cie, Text, 0x10, 0x44, 0x3c);
        // The instructions start after length, CIE pointer, pc, range and the augmentation length: 4 + 4 + 4 + 4 + 1.
        Assert.Equal($"malformed .eh_frame at offset 0x{fde + 18:x}: unknown CFA instruction 0x3c", Fails(eh.Build()));
    }

    [Fact]
    public void Restore_state_without_remember_and_a_bad_version_are_reasons()
    {
        var eh = new EhFrameBuilder(0x2000);
        eh.Fde(eh.Cie(), Text, 0x10, 0x0b);
        Assert.Contains("DW_CFA_restore_state without a matching DW_CFA_remember_state", Fails(eh.Build()), StringComparison.Ordinal);

        eh = new EhFrameBuilder(0x2000);
        eh.Fde(eh.Cie(version: 2), Text, 0x10);
        Assert.Equal("malformed .eh_frame at offset 0x8: CIE version 2 is not supported (1 and 3 are)", Fails(eh.Build()));
    }

    [Fact]
    public void Corrupted_eh_frame_in_a_real_binary_is_a_reason_not_an_exception()
    {
        var image = File.ReadAllBytes(Bash);
        var section = ElfFile.Parse(image).FindSection(".eh_frame")!.Value;
        // The first CIE's version byte (offset 8: after the length and the CIE id).
        image[section.Offset + 8] = 9;
        var table = UnwindTableBuilder.Build(ElfFile.Parse(image, "bash-corrupted"), out var reason);
        Assert.Null(table);
        Assert.Equal("malformed .eh_frame at offset 0x8: CIE version 9 is not supported (1 and 3 are)", reason);
    }

    [Fact]
    public void A_file_parsed_from_a_handle_is_read_through_that_handle()
    {
        using var handle = File.OpenHandle(Bash);
        var elf = ElfFile.Read(handle, Bash);
        var table = UnwindTableBuilder.Build(elf, handle, out var reason);
        Assert.True(table != null, reason);
        Assert.Equal(UnwindTableBuilder.Build(Bash, out _)!.Rows, table.Rows);
        Assert.Throws<InvalidOperationException>(() => UnwindTableBuilder.Build(elf, out _));
    }

    [Fact]
    public void A_binary_without_cfi_is_a_reason()
    {
        Assert.Null(UnwindTableBuilder.Build(new UnwindTableBuilder.CfiInput(null, 0), out var reason));
        Assert.Equal("the file has neither .eh_frame nor .debug_frame", reason);
        Assert.Null(UnwindTableBuilder.Build("/nonexistent/kiln", out reason));
        Assert.NotNull(reason);
    }

    private static UnwindTable Build(EhFrameBuilder eh)
    {
        var table = UnwindTableBuilder.Build(new UnwindTableBuilder.CfiInput(eh.Build(), eh.Address), out var reason);
        Assert.True(table != null, reason);
        return table;
    }

    private static string Fails(byte[] ehFrame)
    {
        var table = UnwindTableBuilder.Build(new UnwindTableBuilder.CfiInput(ehFrame, 0x2000), out var reason);
        Assert.Null(table);
        Assert.NotNull(reason);
        return reason;
    }

    /// <summary>The separate debug file of <paramref name="path"/> under /usr/lib/debug/.build-id, or null when not installed.</summary>
    private static string? DebugFile(string path)
    {
        var id = Native.ReadelfBuildId(path);
        var file = $"/usr/lib/debug/.build-id/{id[..2]}/{id[2..]}.debug";
        return File.Exists(file) ? file : null;
    }
}
