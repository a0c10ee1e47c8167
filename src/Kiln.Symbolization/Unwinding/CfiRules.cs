namespace Kiln.Symbolization.Unwinding;

/// <summary>How a CFI row defines the canonical frame address (CFA).</summary>
public enum CfaRuleKind : byte
{
    /// <summary>No CFA rule yet (a CIE without <c>DW_CFA_def_cfa</c>).</summary>
    Undefined = 0,
    /// <summary>CFA = <see cref="CfaRule.Register"/> + <see cref="CfaRule.Offset"/>.</summary>
    RegisterOffset = 1,
    /// <summary>A <c>DW_CFA_def_cfa_expression</c> other than the PLT one.</summary>
    Expression = 2,
    /// <summary>The PLT stub's <c>DW_CFA_def_cfa_expression</c>; <see cref="CfaRule.Offset"/> is its threshold (10 or 11).</summary>
    PltExpression = 3,
}

/// <summary>The CFA rule of a row. <see cref="Register"/> is a DWARF register number (7 = rsp, 6 = rbp on x86-64).</summary>
public readonly record struct CfaRule(CfaRuleKind Kind, ushort Register, long Offset);

/// <summary>How a CFI row says to recover one register of the caller (DWARF 5 §6.4.1 register rules).</summary>
public enum RegisterRuleKind : byte
{
    /// <summary>No rule was given (on x86-64 the register keeps its value for callee-saved registers).</summary>
    Unspecified = 0,
    /// <summary><c>DW_CFA_undefined</c>: the caller's value is not recoverable (for the return address: outermost frame).</summary>
    Undefined = 1,
    /// <summary><c>DW_CFA_same_value</c>.</summary>
    SameValue = 2,
    /// <summary>Saved at CFA + <see cref="RegisterRule.Value"/>.</summary>
    Offset = 3,
    /// <summary>The value is CFA + <see cref="RegisterRule.Value"/>.</summary>
    ValOffset = 4,
    /// <summary>In register number <see cref="RegisterRule.Value"/>.</summary>
    Register = 5,
    /// <summary>Saved at the address a DWARF expression computes.</summary>
    Expression = 6,
    /// <summary>The value a DWARF expression computes.</summary>
    ValExpression = 7,
}

/// <summary>One register rule: its kind and, for offsets and registers, the operand.</summary>
public readonly record struct RegisterRule(RegisterRuleKind Kind, long Value);

/// <summary>
/// One evaluated CFI row before compaction: from <see cref="Pc"/> on, the CFA rule and the rules for the return
/// address and rbp. Rules for other registers are not kept.
/// </summary>
public readonly record struct CfiRow(ulong Pc, CfaRule Cfa, RegisterRule ReturnAddress, RegisterRule Rbp);

/// <summary>Where CFI came from.</summary>
[Flags]
public enum UnwindTableSource : byte
{
    None = 0,
    EhFrame = 1,
    DebugFrame = 2,
}

/// <summary>
/// The evaluated rows of one FDE, in instruction order: a row at each location advance and one at the end (as
/// <c>readelf --debug-dump=frames-interp</c> prints them), rows at the same pc collapsed to the last and consecutive
/// equal rows merged. Rows may lie at or beyond <see cref="PcEnd"/> when the CFI advances past the FDE's range.
/// </summary>
/// <param name="Section">The section holding the FDE.</param>
/// <param name="Offset">The FDE's offset in that section (as readelf prints it).</param>
/// <param name="PcBegin">The first pc the FDE covers.</param>
/// <param name="PcEnd">The pc after the last one it covers.</param>
/// <param name="SignalFrame">The CIE's augmentation has 'S'.</param>
/// <param name="ReturnAddressRegister">The CIE's return address column (16 on x86-64).</param>
/// <param name="Rows">The evaluated rows.</param>
public sealed record FdeRules(UnwindTableSource Section, int Offset, ulong PcBegin, ulong PcEnd, bool SignalFrame, int ReturnAddressRegister, CfiRow[] Rows);
