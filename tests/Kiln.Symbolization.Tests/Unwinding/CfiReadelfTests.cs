using System.Text;
using Kiln.Symbolization.Unwinding;

namespace Kiln.Symbolization.Tests.Unwinding;

/// <summary>The CFI evaluator against <c>readelf --debug-dump=frames-interp</c>, every FDE of real binaries of this machine.</summary>
public class CfiReadelfTests
{
    public const string Libc = "/lib/x86_64-linux-gnu/libc.so.6";
    public const string Python = "/usr/bin/python3.11";
    public const string Bash = "/bin/bash";

    /// <summary>libcoreclr.so of the runtime these tests run on.</summary>
    public static string Coreclr => Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "libcoreclr.so");

    [Theory]
    [InlineData(Libc)]
    [InlineData(Python)]
    [InlineData(Bash)]
    [InlineData("coreclr")]
    public void Every_fde_matches_readelf(string path)
    {
        if (path == "coreclr") path = Coreclr;
        AssertMatchesReadelf(path, expectedSection: ".eh_frame");
    }

    [Fact]
    public void Debug_frame_of_a_gcc_binary_matches_readelf()
    {
        var binary = Native.Compile("gcc", "hot.c", "-O2 -g -fno-asynchronous-unwind-tables -fno-omit-frame-pointer");
        var elf = ElfFile.Open(binary);
        Assert.Contains(elf.Sections, s => s.Name == ".debug_frame");
        var count = AssertMatchesReadelf(binary, expectedSection: ".debug_frame");
        Assert.True(count > 0);

        // The crt objects bring .eh_frame; the compiled functions are only in .debug_frame, and the table has both.
        var table = UnwindTableBuilder.Build(elf, out var reason);
        Assert.True(table != null, reason);
        Assert.Equal(UnwindTableSource.EhFrame | UnwindTableSource.DebugFrame, table.Source);
        foreach (var fde in ReadelfFrames.Dump(binary).Where(e => !e.IsCie && e.Section == ".debug_frame"))
            Assert.NotEqual(UnwindKind.NoInfo, table.Find(fde.PcBegin).Kind);
        var hot = Native.ReadelfSymbol(binary, "kiln_hot_function");
        Assert.Equal(UnwindKind.CfaRbp, table.Find(hot + 8).Kind);
    }

    /// <summary>Compares every FDE of <paramref name="path"/> with readelf; returns how many FDEs of the section were compared.</summary>
    internal static int AssertMatchesReadelf(string path, string expectedSection)
    {
        var elf = ElfFile.Open(path);
        var ours = UnwindTableBuilder.EvaluateFdes(elf, out var reason);
        Assert.True(ours != null, reason);
        var readelf = ReadelfFrames.Dump(path);
        var cies = readelf.Where(e => e.IsCie).ToDictionary(e => (e.Section, e.Offset));
        var fdes = readelf.Where(e => !e.IsCie).ToList();
        Assert.Equal(fdes.Count, ours.Count);
        Assert.Contains(fdes, f => f.Section == expectedSection);

        var failures = new StringBuilder();
        var failed = 0;
        for (var i = 0; i < fdes.Count; i++)
        {
            var theirs = fdes[i];
            var mine = ours[i];
            var where = $"{theirs.Section}+0x{theirs.Offset:x} pc={theirs.PcBegin:x}..{theirs.PcEnd:x}";
            Assert.Equal(theirs.Section, mine.Section == UnwindTableSource.EhFrame ? ".eh_frame" : ".debug_frame");
            Assert.Equal(theirs.Offset, mine.Offset);
            Assert.Equal((theirs.PcBegin, theirs.PcEnd), (mine.PcBegin, mine.PcEnd));

            // readelf prints no table for an FDE without instructions: its rows are the CIE's initial row.
            var expected = theirs.Rows;
            if (expected.Count == 0)
            {
                var cie = cies[(theirs.Section, theirs.CieOffset)];
                if (cie.Rows.Count == 0) continue;
                expected = [cie.Rows[^1] with { Pc = theirs.PcBegin }];
            }
            var want = ReadelfFrames.Normalize(expected);
            var got = ReadelfFrames.Normalize(mine.Rows.Select(ReadelfFrames.Render));
            if (!want.SequenceEqual(got))
            {
                if (++failed <= 5)
                    failures.Append(where).Append("\n  readelf: ").AppendJoin(" | ", want).Append("\n  ours:    ").AppendJoin(" | ", got).Append('\n');
            }
        }
        Assert.True(failed == 0, $"{failed} of {fdes.Count} FDEs differ from readelf in {path}:\n{failures}");
        return fdes.Count(f => f.Section == expectedSection);
    }
}
