namespace Kiln.Symbolization.Unwinding;

/// <summary>
/// A binary's compact unwind table (see <see cref="UnwindRow"/>) and how it was made. Built by
/// <see cref="UnwindTableBuilder"/>; pcs are ELF virtual addresses, so one table serves every process mapping the
/// binary (the BPF side subtracts the load bias).
/// </summary>
public sealed class UnwindTable
{
    internal UnwindTable(UnwindRow[] rows, UnwindTableSource source, int fdeCount, int skippedFdes, int unsupportedRows, int ehFrameHdrFdeCount, int ehFrameHdrMismatches)
    {
        Rows = rows;
        Source = source;
        FdeCount = fdeCount;
        SkippedFdes = skippedFdes;
        UnsupportedRows = unsupportedRows;
        EhFrameHdrFdeCount = ehFrameHdrFdeCount;
        EhFrameHdrMismatches = ehFrameHdrMismatches;
    }

    /// <summary>Rows sorted by strictly increasing pc; the last row is <see cref="UnwindKind.NoInfo"/> (empty when no FDE covers anything).</summary>
    public UnwindRow[] Rows { get; }

    /// <summary>The sections whose FDEs are in the table.</summary>
    public UnwindTableSource Source { get; }

    /// <summary>FDEs whose rows are in the table.</summary>
    public int FdeCount { get; }

    /// <summary>
    /// FDEs left out: empty ranges, and FDEs overlapping an earlier one (a <c>.debug_frame</c> FDE overlapping
    /// <c>.eh_frame</c>, or two FDEs of one section; the one starting first wins).
    /// </summary>
    public int SkippedFdes { get; }

    /// <summary>Rows of kind <see cref="UnwindKind.Unsupported"/> (each a pc range the BPF walks with frame pointers).</summary>
    public int UnsupportedRows { get; }

    /// <summary>The FDE count <c>.eh_frame_hdr</c> declares, or −1 without one.</summary>
    public int EhFrameHdrFdeCount { get; }

    /// <summary>
    /// <c>.eh_frame_hdr</c> search-table entries that do not name an FDE enumerated from <c>.eh_frame</c> with the
    /// same start (0 when the two agree; −1 without a table).
    /// </summary>
    public int EhFrameHdrMismatches { get; }

    /// <summary>Size of <see cref="Rows"/> as loaded into a BPF map.</summary>
    public long SizeInBytes => (long)Rows.Length * 16;

    /// <summary>The row covering <paramref name="pc"/> (a <see cref="UnwindKind.NoInfo"/> row when none does).</summary>
    public UnwindRow Find(ulong pc)
    {
        var rows = Rows;
        int lo = 0, hi = rows.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (rows[mid].Pc <= pc)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found < 0 ? new UnwindRow(pc, UnwindKind.NoInfo, RbpRule.Unchanged, 0, 0) : rows[found];
    }
}
