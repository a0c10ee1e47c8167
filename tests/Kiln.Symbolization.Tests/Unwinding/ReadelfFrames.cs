using System.Globalization;
using Kiln.Symbolization.Unwinding;

namespace Kiln.Symbolization.Tests.Unwinding;

/// <summary>One row as <c>readelf --debug-dump=frames-interp</c> prints it: the CFA, ra and rbp columns as text.</summary>
internal readonly record struct ReadelfRow(ulong Pc, string Cfa, string Ra, string Rbp);

/// <summary>A CIE or FDE of readelf's dump; <see cref="Rows"/> is empty when readelf printed no table for it.</summary>
internal sealed record ReadelfEntry(string Section, int Offset, bool IsCie, int CieOffset, ulong PcBegin, ulong PcEnd, List<ReadelfRow> Rows);

/// <summary>
/// Ground truth for the CFI evaluator: parses <c>readelf --debug-dump=frames-interp</c> and renders our rows in the
/// same notation, so the two can be compared FDE by FDE.
/// </summary>
internal static class ReadelfFrames
{
    // readelf's names for the x86-64 DWARF registers 0..16.
    private static readonly string[] s_registers =
        ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"];

    /// <summary>The CIEs and FDEs readelf prints (-wN: without following debug links to separate debug files).</summary>
    public static List<ReadelfEntry> Dump(string path)
    {
        var entries = new List<ReadelfEntry>();
        var section = "";
        ReadelfEntry? current = null;
        string[]? columns = null;
        foreach (var raw in Native.Run("readelf", $"-wN --debug-dump=frames-interp {path}").Split('\n'))
        {
            var line = raw.TrimEnd();
            if (line.StartsWith("Contents of the ", StringComparison.Ordinal))
            {
                section = line["Contents of the ".Length..].Split(' ')[0];
                current = null;
                continue;
            }
            var f = Fields(line);
            if (f.Length == 0) continue;
            if (line.EndsWith("ZERO terminator", StringComparison.Ordinal))
            {
                current = null;
                continue;
            }
            if (f.Length >= 4 && f[0].Length == 8 && IsHex(f[0]) && f[3] is "CIE" or "FDE")
            {
                var isCie = f[3] == "CIE";
                ulong begin = 0, end = 0;
                var cie = -1;
                if (!isCie)
                {
                    cie = int.Parse(f[4]["cie=".Length..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    var pc = f[5]["pc=".Length..].Split("..");
                    begin = ulong.Parse(pc[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    end = ulong.Parse(pc[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                }
                current = new ReadelfEntry(section, int.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), isCie, cie, begin, end, []);
                entries.Add(current);
                columns = null;
                continue;
            }
            if (current == null) continue;
            if (f[0] == "LOC")
            {
                columns = f;
                continue;
            }
            if (columns != null && IsHex(f[0]) && f.Length == columns.Length)
            {
                var ra = Array.IndexOf(columns, "ra");
                var rbp = Array.IndexOf(columns, "rbp");
                current.Rows.Add(new ReadelfRow(
                    ulong.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    f[1],
                    ra < 0 ? "u" : f[ra],
                    rbp < 0 ? "u" : f[rbp]));
            }
        }
        return entries;
    }

    /// <summary>Our row in readelf's notation.</summary>
    public static ReadelfRow Render(CfiRow row) => new(row.Pc, Cfa(row.Cfa), Rule(row.ReturnAddress), Rule(row.Rbp));

    /// <summary>
    /// The rows readelf's table means, in the shape our evaluator produces: the last row printed at each pc, then
    /// consecutive rows equal in (CFA, ra, rbp) merged.
    /// </summary>
    public static List<ReadelfRow> Normalize(IEnumerable<ReadelfRow> rows)
    {
        var result = new List<ReadelfRow>();
        foreach (var row in rows)
        {
            if (result.Count > 0 && result[^1].Pc == row.Pc)
            {
                result.RemoveAt(result.Count - 1);
                if (result.Count > 0 && SameRules(result[^1], row)) continue;
            }
            else if (result.Count > 0 && SameRules(result[^1], row))
            {
                continue;
            }
            result.Add(row);
        }
        return result;
    }

    private static bool SameRules(ReadelfRow a, ReadelfRow b) => a.Cfa == b.Cfa && a.Ra == b.Ra && a.Rbp == b.Rbp;

    private static string Cfa(CfaRule cfa) => cfa.Kind switch
    {
        CfaRuleKind.RegisterOffset => string.Create(CultureInfo.InvariantCulture, $"{RegisterName(cfa.Register)}{(int)cfa.Offset:+0;-0;+0}"),
        CfaRuleKind.Expression or CfaRuleKind.PltExpression => "exp",
        _ => "?",
    };

    // readelf prints "u" for DW_CFA_undefined and for a register with no rule yet.
    private static string Rule(RegisterRule rule) => rule.Kind switch
    {
        RegisterRuleKind.Unspecified or RegisterRuleKind.Undefined => "u",
        RegisterRuleKind.SameValue => "s",
        RegisterRuleKind.Offset => string.Create(CultureInfo.InvariantCulture, $"c{rule.Value:+0;-0;+0}"),
        RegisterRuleKind.ValOffset => string.Create(CultureInfo.InvariantCulture, $"v{rule.Value:+0;-0;+0}"),
        RegisterRuleKind.Register => $"r{rule.Value} ({RegisterName((int)rule.Value)})",
        RegisterRuleKind.Expression => "exp",
        RegisterRuleKind.ValExpression => "vexp",
        _ => "?",
    };

    private static string RegisterName(int reg) => reg < s_registers.Length ? s_registers[reg] : $"r{reg}";

    // Whitespace-separated fields, except that readelf writes a register rule as "r9 (r9)": one field.
    private static string[] Fields(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        for (var i = parts.Count - 1; i > 0; i--)
        {
            if (parts[i].StartsWith('(') && parts[i].EndsWith(')'))
            {
                parts[i - 1] += " " + parts[i];
                parts.RemoveAt(i);
            }
        }
        return [.. parts];
    }

    private static bool IsHex(string s) => s.Length > 0 && s.All(Uri.IsHexDigit);
}
