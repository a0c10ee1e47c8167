using System.Runtime.InteropServices;

namespace Kiln.Symbolization.Unwinding;

/// <summary>How the BPF unwinder finds the caller's frame at a pc. Mirrored by <c>enum unwind_kind</c> in profiler.bpf.c.</summary>
public enum UnwindKind : byte
{
    /// <summary>No CFI covers the pc (a gap between FDEs, or a table with no row for it): walk with frame pointers.</summary>
    NoInfo = 0,
    /// <summary>CFA = rsp + <see cref="UnwindRow.CfaOffset"/>; return address at CFA − 8.</summary>
    CfaRsp = 1,
    /// <summary>CFA = rbp + <see cref="UnwindRow.CfaOffset"/>; return address at CFA − 8.</summary>
    CfaRbp = 2,
    /// <summary>A PLT stub (the well-known <c>DW_CFA_def_cfa_expression</c>): CFA = rsp + 8, plus 8 more when
    /// (rip &amp; 15) &gt;= <see cref="UnwindRow.CfaOffset"/> (the threshold, 10 or 11).</summary>
    Plt = 3,
    /// <summary>A signal trampoline (CIE augmentation 'S', e.g. <c>__restore_rt</c>): rsp points at a ucontext_t; the
    /// interrupted rbp, rsp and rip are at rsp + 120, + 160 and + 168 (x86-64 sigcontext).</summary>
    Signal = 4,
    /// <summary>The return address is undefined (<c>DW_CFA_undefined rip</c>, as in <c>_start</c> and <c>clone3</c>):
    /// the outermost frame of the thread; the walk ends here, complete.</summary>
    End = 5,
    /// <summary>CFI the unwinder cannot follow (a CFA expression other than the PLT one, a CFA in another register,
    /// the return address not at CFA − 8): walk this frame with frame pointers, and count it.</summary>
    Unsupported = 6,
}

/// <summary>Where the caller's rbp is. Mirrored by <c>enum rbp_rule</c> in profiler.bpf.c.</summary>
public enum RbpRule : byte
{
    /// <summary>rbp still holds the caller's value (no rule, or <c>DW_CFA_same_value</c>).</summary>
    Unchanged = 0,
    /// <summary>Saved at CFA + <see cref="UnwindRow.RbpOffset"/> (<c>DW_CFA_offset rbp</c>).</summary>
    AtCfaOffset = 1,
    /// <summary>Anything else (undefined, in another register, an expression): the caller's rbp is unknown.</summary>
    Unknown = 2,
}

/// <summary>
/// One row of a binary's compact unwind table: from <see cref="Pc"/> (an ELF virtual address, as in the file) up to
/// the next row's pc, how to step from a frame to its caller on x86-64. A table is these rows sorted by pc, with
/// consecutive equal rules merged and a <see cref="UnwindKind.NoInfo"/> row wherever one FDE ends before the next
/// begins. 16 bytes, exactly <c>struct unwind_row</c> in profiler.bpf.c; a unit test checks the layout.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public readonly record struct UnwindRow(ulong Pc, UnwindKind Kind, RbpRule Rbp, short RbpOffset, int CfaOffset)
{
    public override string ToString() => Kind switch
    {
        UnwindKind.CfaRsp or UnwindKind.CfaRbp =>
            $"{Pc:x}: cfa={(Kind == UnwindKind.CfaRsp ? "rsp" : "rbp")}{CfaOffset:+#;-#;+0} rbp={(Rbp == RbpRule.AtCfaOffset ? $"c{RbpOffset:+#;-#;+0}" : Rbp.ToString())}",
        UnwindKind.Plt => $"{Pc:x}: plt(threshold {CfaOffset})",
        _ => $"{Pc:x}: {Kind}",
    };
}
