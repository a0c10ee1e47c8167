using System.Globalization;

namespace Kiln.Symbolization.Tests;

public class NativeSymbolizationTests
{
    private static ulong Hex(string s) => ulong.Parse(s.AsSpan(s.StartsWith("0x", StringComparison.Ordinal) ? 2 : 0), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    [Fact]
    public void C_function_in_a_running_PIE_resolves_with_build_id_and_normalized_address()
    {
        var exe = Native.Compile("gcc", "hot.c", "-O0 -g -fPIE -pie");
        using var child = new Child(exe);
        var fields = child.FirstLine.Split(' ');
        Assert.Equal(child.Pid, int.Parse(fields[0], CultureInfo.InvariantCulture));
        var address = Hex(fields[1]);

        var symbolizer = new Symbolizer();
        ulong[] addresses = [address, address + 8, 0x10];
        var frames = new SymbolizedFrame[3];
        symbolizer.SymbolizeUser(child.Pid, addresses, frames);

        var symbolValue = Native.ReadelfSymbol(exe, "kiln_hot_function");
        Assert.Equal(FrameSource.Elf, frames[0].Source);
        Assert.Equal("kiln_hot_function", frames[0].FunctionName);
        Assert.Equal("kiln_hot_function", frames[0].SystemName);
        Assert.Equal(symbolValue, frames[0].NormalizedAddress);
        Assert.Equal(symbolValue + 8, frames[1].NormalizedAddress);
        Assert.Equal("kiln_hot_function", frames[1].FunctionName);
        Assert.Equal(exe, frames[0].Mapping!.File);
        Assert.Equal(Native.ReadelfBuildId(exe), frames[0].Mapping!.BuildId);
        Assert.True(frames[0].Mapping!.Start <= address && address < frames[0].Mapping!.Limit);
        Assert.Same(frames[0].Mapping, frames[1].Mapping);

        Assert.Equal(FrameSource.Unmapped, frames[2].Source);
        Assert.Null(frames[2].FunctionName);
        Assert.Equal(1, symbolizer.Counters.Unmapped);
        Assert.Equal(2, symbolizer.Counters.ElfHits);

        // The process exits mid-window: its cached maps and symbols still answer.
        child.Kill();
        var after = new SymbolizedFrame[1];
        symbolizer.SymbolizeUser(child.Pid, [address], after);
        Assert.Equal("kiln_hot_function", after[0].FunctionName);
    }

    [Fact]
    public void The_maps_a_symbolization_read_are_lent_while_recent_and_only_if_read_from_the_live_process()
    {
        var exe = Native.Compile("gcc", "hot.c", "-O0 -g -fPIE -pie");
        using var child = new Child(exe);
        var address = Hex(child.FirstLine.Split(' ')[1]);
        var symbolizer = new Symbolizer();
        Assert.Null(symbolizer.RecentMaps(child.Pid, TimeSpan.FromMinutes(1))); // never symbolized

        var prepared = symbolizer.Prepare(child.Pid);
        Assert.NotNull(prepared);
        Assert.Contains(prepared, m => m.FilePath == exe && m.IsExecutable);
        Assert.Null(symbolizer.RecentMaps(child.Pid, TimeSpan.FromMinutes(1))); // a snapshot is not a symbolization

        symbolizer.SymbolizeUser(child.Pid, [address], new SymbolizedFrame[1]);
        var lent = symbolizer.RecentMaps(child.Pid, TimeSpan.FromMinutes(1));
        Assert.NotNull(lent);
        Assert.Contains(lent, m => m.FilePath == exe && m.Start <= address && address < m.End);
        Thread.Sleep(20);
        Assert.Null(symbolizer.RecentMaps(child.Pid, TimeSpan.FromMilliseconds(1))); // too old for this caller

        child.Kill();
        Assert.Null(new Symbolizer().Prepare(child.Pid)); // gone
    }

    [Fact]
    public void Libc_frames_of_a_running_process_resolve()
    {
        var exe = Native.Compile("gcc", "hot.c", "-O0 -g -fPIE -pie");
        using var child = new Child(exe);
        var maps = ProcMaps.Read(child.Pid);
        var libcText = maps.First(m => m.IsExecutable && m.FilePath.Contains("libc.so.6", StringComparison.Ordinal));
        var elf = ElfFile.Open(libcText.FilePath);
        var malloc = Native.ReadelfSymbol(libcText.FilePath, "malloc");
        var seg = elf.LoadSegments.First(s => s.IsExecutable);
        var runtime = libcText.Start - libcText.Offset + (malloc - seg.VirtualAddress + seg.Offset) + 4;

        var frames = new SymbolizedFrame[1];
        new Symbolizer().SymbolizeUser(child.Pid, [runtime], frames);
        Assert.Equal("malloc", frames[0].FunctionName);
        Assert.Equal(malloc + 4, frames[0].NormalizedAddress);
        Assert.Equal(elf.BuildId, frames[0].Mapping!.BuildId);
    }

    [Fact]
    public void Cpp_functions_are_demangled_and_keep_the_mangled_system_name()
    {
        var exe = Native.Compile("g++", "hot.cpp", "-O0 -g -fPIE -pie -std=c++17");
        using var child = new Child(exe);
        var fields = child.FirstLine.Split(' ');
        var frames = new SymbolizedFrame[2];
        new Symbolizer().SymbolizeUser(child.Pid, [Hex(fields[1]) + 2, Hex(fields[2]) + 2], frames);

        Assert.Equal("kiln::work::hot", frames[0].FunctionName);
        Assert.Equal("_ZN4kiln4work3hotEi", frames[0].SystemName);
        Assert.Equal("kiln::work::Accumulator<long>::add", frames[1].FunctionName);
        Assert.Equal("_ZN4kiln4work11AccumulatorIlE3addERKSt6vectorIlSaIlEE", frames[1].SystemName);
        Assert.Equal(Native.ReadelfSymbol(exe, "_ZN4kiln4work3hotEi") + 2, frames[0].NormalizedAddress);
    }

    [Fact]
    public void Files_are_cached_once_across_processes()
    {
        var exe = Native.Compile("gcc", "hot.c", "-O0 -fPIE -pie");
        using var a = new Child(exe);
        using var b = new Child(exe);
        var symbolizer = new Symbolizer();
        var frames = new SymbolizedFrame[1];
        symbolizer.SymbolizeUser(a.Pid, [Hex(a.FirstLine.Split(' ')[1])], frames);
        var files = symbolizer.Counters.CachedFiles;
        symbolizer.SymbolizeUser(b.Pid, [Hex(b.FirstLine.Split(' ')[1])], frames);
        Assert.Equal("kiln_hot_function", frames[0].FunctionName);
        Assert.Equal(files, symbolizer.Counters.CachedFiles);
        Assert.Equal(2, symbolizer.Counters.CachedProcesses);
    }
}
