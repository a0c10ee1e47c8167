namespace Kiln.Symbolization.Tests;

public class PerfMapTests
{
    [Fact]
    public void Parses_lines_and_finds_covering_entries()
    {
        var map = new PerfMap("/nonexistent");
        Assert.True(map.Add("7F8B1C0B1230 2e [OptimizedTier1] void Foo::Bar()[Optimized]\n7f8b1c0b1300 10 instance int32 [System.Private.CoreLib] System.String::get_Length()\nbad line\n0x1000 0x20 stub<1>\n"));
        Assert.Equal(3, map.Count);
        Assert.True(map.TryFind(0x7F8B1C0B1230 + 0x2d, out var i));
        Assert.Equal("[OptimizedTier1] void Foo::Bar()[Optimized]", map.NameAt(i));
        Assert.False(map.TryFind(0x7F8B1C0B1230 + 0x2e, out _));
        Assert.True(map.TryFind(0x1010, out i));
        Assert.Equal("stub<1>", map.NameAt(i));
        Assert.False(map.TryFind(0x500, out _));
    }

    [Fact]
    public void Refresh_reads_only_appended_complete_lines_and_later_entries_win()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("kiln-perfmap-").FullName, "perf-1.map");
        var map = new PerfMap(path);
        Assert.False(map.Refresh()); // missing file: empty, no error

        File.WriteAllText(path, "1000 10 first\n2000 10 sec");
        Assert.True(map.Refresh());
        Assert.Equal(1, map.Count); // the unterminated line waits for its newline

        File.AppendAllText(path, "ond\n1000 20 rejitted\n");
        Assert.True(map.Refresh());
        Assert.Equal(2, map.Count);
        Assert.True(map.TryFind(0x2005, out var i));
        Assert.Equal("second", map.NameAt(i));
        Assert.True(map.TryFind(0x1015, out i));
        Assert.Equal("rejitted", map.NameAt(i));
        Assert.False(map.Refresh());

        File.WriteAllText(path, "3000 10 recreated\n");
        Assert.True(map.Refresh());
        Assert.Equal(1, map.Count);
    }
}
