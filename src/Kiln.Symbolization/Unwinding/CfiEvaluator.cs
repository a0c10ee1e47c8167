using System.Buffers;

namespace Kiln.Symbolization.Unwinding;

/// <summary>
/// Executes DW_CFA_* instructions (DWARF 5 §6.4.2, plus the GNU extensions GCC emits) of a CIE and one FDE, keeping
/// the rules for the CFA, the return address column and rbp and parsing past the rest. One instance is reused for
/// every FDE of a build; its buffers are pooled and returned on <see cref="Dispose"/>.
/// </summary>
internal sealed class CfiEvaluator : IDisposable
{
    public const int Rbp = 6;
    public const int Rsp = 7;
    // Deeper remember_state nesting than this is refused; compilers nest one or two levels.
    private const int MaxStateDepth = 64;

    private CfiRow[] _rows = CfiPool<CfiRow>.Shared.Rent(256);
    private int _count;
    private State[] _stack = CfiPool<State>.Shared.Rent(8);

    private struct State
    {
        public CfaRule Cfa;
        public RegisterRule Ra;
        public RegisterRule Rbp;
    }

    /// <summary>The rows of the last <see cref="Evaluate"/>, valid until the next call.</summary>
    public ReadOnlySpan<CfiRow> Rows => _rows.AsSpan(0, _count);

    /// <summary>
    /// Evaluates the CIE's initial instructions and then the FDE's instructions in
    /// [<paramref name="start"/>, <paramref name="end"/>), leaving the rows in <see cref="Rows"/>: one at each
    /// location advance and one at the end, rows at the same pc collapsed to the last one and consecutive equal
    /// rows merged.
    /// </summary>
    public void Evaluate(ref CfiCursor c, in Cie cie, in PointerBases bases, ulong pcBegin, int start, int end)
    {
        _count = 0;
        var state = default(State);
        var loc = 0UL;
        c.Position = cie.InstructionsStart;
        c.Limit = cie.InstructionsEnd;
        Run(ref c, cie, bases, ref state, default, ref loc, emit: false);
        var initial = state;
        loc = pcBegin;
        c.Position = start;
        c.Limit = end;
        Run(ref c, cie, bases, ref state, initial, ref loc, emit: true);
        Add(loc, state);
    }

    private void Run(ref CfiCursor c, in Cie cie, in PointerBases bases, ref State state, in State initial, ref ulong loc, bool emit)
    {
        var depth = 0;
        var ra = cie.ReturnAddressRegister;
        while (!c.AtLimit)
        {
            var at = c.Position;
            var op = c.U8();
            var operand = op & 0x3f;
            switch (op >> 6)
            {
                case 1: // DW_CFA_advance_loc
                    Advance(ref loc, (ulong)operand * cie.CodeAlignment, state, emit);
                    continue;
                case 2: // DW_CFA_offset
                    SetRule(ref state, operand, ra, new RegisterRule(RegisterRuleKind.Offset, (long)c.Uleb() * cie.DataAlignment));
                    continue;
                case 3: // DW_CFA_restore
                    Restore(ref state, initial, operand, ra);
                    continue;
            }
            switch (op)
            {
                case 0x00: // DW_CFA_nop
                    break;
                case 0x01: // DW_CFA_set_loc
                    {
                        var target = c.Pointer(cie.FdeEncoding, bases, cie.AddressSize);
                        if (emit) Add(loc, state);
                        loc = target;
                        break;
                    }
                case 0x02: // DW_CFA_advance_loc1
                    Advance(ref loc, c.U8() * cie.CodeAlignment, state, emit);
                    break;
                case 0x03: // DW_CFA_advance_loc2
                    Advance(ref loc, c.U16() * cie.CodeAlignment, state, emit);
                    break;
                case 0x04: // DW_CFA_advance_loc4
                    Advance(ref loc, c.U32() * cie.CodeAlignment, state, emit);
                    break;
                case 0x05: // DW_CFA_offset_extended
                    {
                        var reg = Register(ref c);
                        SetRule(ref state, reg, ra, new RegisterRule(RegisterRuleKind.Offset, (long)c.Uleb() * cie.DataAlignment));
                        break;
                    }
                case 0x06: // DW_CFA_restore_extended
                    Restore(ref state, initial, Register(ref c), ra);
                    break;
                case 0x07: // DW_CFA_undefined
                    SetRule(ref state, Register(ref c), ra, new RegisterRule(RegisterRuleKind.Undefined, 0));
                    break;
                case 0x08: // DW_CFA_same_value
                    SetRule(ref state, Register(ref c), ra, new RegisterRule(RegisterRuleKind.SameValue, 0));
                    break;
                case 0x09: // DW_CFA_register
                    {
                        var reg = Register(ref c);
                        SetRule(ref state, reg, ra, new RegisterRule(RegisterRuleKind.Register, Register(ref c)));
                        break;
                    }
                case 0x0a: // DW_CFA_remember_state: the whole row, CFA included (as GCC's epilogues rely on)
                    if (depth == MaxStateDepth) c.Fail(at, $"DW_CFA_remember_state nested deeper than {MaxStateDepth}");
                    if (depth == _stack.Length) Grow(ref _stack);
                    _stack[depth++] = state;
                    break;
                case 0x0b: // DW_CFA_restore_state
                    if (depth == 0) c.Fail(at, "DW_CFA_restore_state without a matching DW_CFA_remember_state");
                    state = _stack[--depth];
                    break;
                case 0x0c: // DW_CFA_def_cfa
                    {
                        var reg = Register(ref c);
                        state.Cfa = new CfaRule(CfaRuleKind.RegisterOffset, (ushort)reg, (long)c.Uleb());
                        break;
                    }
                case 0x0d: // DW_CFA_def_cfa_register
                    {
                        var reg = Register(ref c);
                        state.Cfa = new CfaRule(CfaRuleKind.RegisterOffset, (ushort)reg, state.Cfa.Kind == CfaRuleKind.RegisterOffset ? state.Cfa.Offset : 0);
                        break;
                    }
                case 0x0e: // DW_CFA_def_cfa_offset
                    state.Cfa = NewOffset(state.Cfa, (long)c.Uleb());
                    break;
                case 0x0f: // DW_CFA_def_cfa_expression
                    {
                        var length = c.UlebInt("expression length");
                        var exprAt = c.Position;
                        c.Skip(length);
                        var threshold = PltThreshold(c.Slice(exprAt, length));
                        state.Cfa = threshold != 0
                            ? new CfaRule(CfaRuleKind.PltExpression, 0, threshold)
                            : new CfaRule(CfaRuleKind.Expression, 0, 0);
                        break;
                    }
                case 0x10: // DW_CFA_expression
                    {
                        var reg = Register(ref c);
                        c.Skip(c.UlebInt("expression length"));
                        SetRule(ref state, reg, ra, new RegisterRule(RegisterRuleKind.Expression, 0));
                        break;
                    }
                case 0x11: // DW_CFA_offset_extended_sf
                    {
                        var reg = Register(ref c);
                        SetRule(ref state, reg, ra, new RegisterRule(RegisterRuleKind.Offset, c.Sleb() * cie.DataAlignment));
                        break;
                    }
                case 0x12: // DW_CFA_def_cfa_sf
                    {
                        var reg = Register(ref c);
                        state.Cfa = new CfaRule(CfaRuleKind.RegisterOffset, (ushort)reg, c.Sleb() * cie.DataAlignment);
                        break;
                    }
                case 0x13: // DW_CFA_def_cfa_offset_sf
                    state.Cfa = NewOffset(state.Cfa, c.Sleb() * cie.DataAlignment);
                    break;
                case 0x14: // DW_CFA_val_offset
                    {
                        var reg = Register(ref c);
                        SetRule(ref state, reg, ra, new RegisterRule(RegisterRuleKind.ValOffset, (long)c.Uleb() * cie.DataAlignment));
                        break;
                    }
                case 0x15: // DW_CFA_val_offset_sf
                    {
                        var reg = Register(ref c);
                        SetRule(ref state, reg, ra, new RegisterRule(RegisterRuleKind.ValOffset, c.Sleb() * cie.DataAlignment));
                        break;
                    }
                case 0x16: // DW_CFA_val_expression
                    {
                        var reg = Register(ref c);
                        c.Skip(c.UlebInt("expression length"));
                        SetRule(ref state, reg, ra, new RegisterRule(RegisterRuleKind.ValExpression, 0));
                        break;
                    }
                case 0x2e: // DW_CFA_GNU_args_size
                    c.Uleb();
                    break;
                case 0x2f: // DW_CFA_GNU_negative_offset_extended
                    {
                        var reg = Register(ref c);
                        SetRule(ref state, reg, ra, new RegisterRule(RegisterRuleKind.Offset, -(long)c.Uleb() * cie.DataAlignment));
                        break;
                    }
                default:
                    c.Fail(at, $"unknown CFA instruction 0x{op:x2}");
                    break;
            }
        }
    }

    /// <summary>
    /// The threshold (10 or 11) when <paramref name="expr"/> is the PLT stub's CFA expression
    /// <c>rsp + 8 + ((rip &amp; 15) &gt;= threshold) &lt;&lt; 3</c>, else 0.
    /// </summary>
    internal static int PltThreshold(ReadOnlySpan<byte> expr)
    {
        // DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_lit11|lit10; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus
        if (expr.Length != 11 || expr[0] != 0x77 || expr[1] != 0x08 || expr[2] != 0x80 || expr[3] != 0x00
            || expr[4] != 0x3f || expr[5] != 0x1a || expr[7] != 0x2a || expr[8] != 0x33 || expr[9] != 0x24 || expr[10] != 0x22)
            return 0;
        return expr[6] switch { 0x3b => 11, 0x3a => 10, _ => 0 };
    }

    // DW_CFA_def_cfa_offset is only valid for a register-based CFA; after an expression the result is an
    // expression the unwinder cannot follow (and no longer the PLT one).
    private static CfaRule NewOffset(CfaRule cfa, long offset) =>
        cfa.Kind is CfaRuleKind.Expression or CfaRuleKind.PltExpression ? new CfaRule(CfaRuleKind.Expression, 0, 0) : cfa with { Offset = offset };

    private static int Register(ref CfiCursor c)
    {
        var at = c.Position;
        var reg = c.Uleb();
        if (reg > ushort.MaxValue) c.Fail(at, $"register number {reg} is out of range");
        return (int)reg;
    }

    private static void SetRule(ref State state, int reg, int ra, RegisterRule rule)
    {
        if (reg == ra) state.Ra = rule;
        else if (reg == Rbp) state.Rbp = rule;
    }

    private static void Restore(ref State state, in State initial, int reg, int ra)
    {
        if (reg == ra) state.Ra = initial.Ra;
        else if (reg == Rbp) state.Rbp = initial.Rbp;
    }

    private void Advance(ref ulong loc, ulong delta, in State state, bool emit)
    {
        if (emit) Add(loc, state);
        loc += delta;
    }

    private void Add(ulong pc, in State state)
    {
        var row = new CfiRow(pc, state.Cfa, state.Ra, state.Rbp);
        if (_count > 0)
        {
            ref var last = ref _rows[_count - 1];
            if (last.Pc == pc)
            {
                // A later row at the same pc replaces the earlier one; it may now equal the row before it.
                if (_count > 1 && SameRules(_rows[_count - 2], row)) _count--;
                else last = row;
                return;
            }
            if (SameRules(last, row)) return;
        }
        if (_count == _rows.Length) Grow(ref _rows);
        _rows[_count++] = row;
    }

    private static bool SameRules(in CfiRow a, in CfiRow b) => a.Cfa == b.Cfa && a.ReturnAddress == b.ReturnAddress && a.Rbp == b.Rbp;

    private static void Grow<T>(ref T[] array)
    {
        var bigger = CfiPool<T>.Shared.Rent(array.Length * 2);
        array.AsSpan().CopyTo(bigger);
        CfiPool<T>.Shared.Return(array);
        array = bigger;
    }

    public void Dispose()
    {
        CfiPool<CfiRow>.Shared.Return(_rows);
        CfiPool<State>.Shared.Return(_stack);
        _rows = [];
        _stack = [];
    }
}
