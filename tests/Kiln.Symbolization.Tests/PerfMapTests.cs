namespace Kiln.Symbolization.Tests;

public class PerfMapTests
{
    [Fact]
    public void Parses_lines_and_finds_covering_entries()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("kiln-perfmap-").FullName, "perf-1.map");
        File.WriteAllText(path, "7F8B1C0B1230 2e [OptimizedTier1] void Foo::Bar()[Optimized]\r\n7f8b1c0b1300 10 instance int32 [System.Private.CoreLib] System.String::get_Length()\nbad line\n0x1000 0x20 stub<1>\n2000 10 \n");
        using var map = new PerfMap(path);
        Assert.True(map.Refresh());
        Assert.Equal(3, map.Count);
        Assert.True(map.TryFind(0x7F8B1C0B1230 + 0x2d, out var i));
        Assert.Equal("[OptimizedTier1] void Foo::Bar()[Optimized]", map.NameAt(i));
        Assert.False(map.TryFind(0x7F8B1C0B1230 + 0x2e, out _));
        Assert.True(map.TryFind(0x1010, out i));
        Assert.Equal("stub<1>", map.NameAt(i));
        Assert.False(map.TryFind(0x500, out _));
        Assert.False(map.TryFind(0x2000, out _)); // a line without a name is skipped
    }

    [Fact]
    public void Names_are_read_from_the_open_file_even_after_it_was_deleted()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("kiln-perfmap-").FullName, "perf-3.map");
        File.WriteAllText(path, "1000 10 Program::Main()\n");
        using var map = new PerfMap(path);
        Assert.True(map.Refresh());
        File.Delete(path); // the process exited and its container's /tmp went away
        Assert.True(map.TryFind(0x1008, out var i));
        Assert.Equal("Program::Main()", map.NameAt(i));
    }

    [Fact]
    public void Refresh_reads_only_appended_complete_lines_and_later_entries_win()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("kiln-perfmap-").FullName, "perf-1.map");
        using var map = new PerfMap(path);
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

    [Fact]
    public void Refresh_reads_a_map_larger_than_its_read_buffer_with_lines_across_the_boundaries()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("kiln-perfmap-").FullName, "perf-2.map");
        var text = new System.Text.StringBuilder();
        for (var k = 0; k < 5000; k++)
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{0x10000 + k * 0x40:x} 40 [OptimizedTier1] void Namespace.Type`1[System.__Canon]::Method{k}(int32)[Optimized]\n");
        File.WriteAllText(path, text.ToString()); // ~450 KB: several 64 KB pieces, lines cut at their ends
        using var map = new PerfMap(path);
        Assert.True(map.Refresh());
        Assert.Equal(5000, map.Count);
        foreach (var k in new[] { 0, 1, 777, 1234, 4999 })
        {
            Assert.True(map.TryFind((ulong)(0x10000 + k * 0x40 + 0x3f), out var i));
            Assert.Equal($"[OptimizedTier1] void Namespace.Type`1[System.__Canon]::Method{k}(int32)[Optimized]", map.NameAt(i));
        }
    }
}
