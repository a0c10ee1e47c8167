namespace Kiln.Symbolization.Tests;

public class ElfFileTests
{
    private const string Libc = "/lib/x86_64-linux-gnu/libc.so.6";
    private const string Bash = "/bin/bash";

    [Theory]
    [InlineData(Bash)]
    [InlineData(Libc)]
    public void Build_id_matches_readelf(string path)
    {
        var elf = ElfFile.Open(path);
        Assert.Equal(Native.ReadelfBuildId(path), elf.BuildId);
        Assert.Equal(62, elf.Machine);
        Assert.Equal(3, elf.Type);
        Assert.NotEmpty(elf.LoadSegments);
        Assert.Contains(elf.Sections, s => s.Name == ".text");
    }

    [Theory]
    [InlineData("malloc")]
    [InlineData("free")]
    [InlineData("memcpy")]
    [InlineData("qsort")]
    [InlineData("getpid")]
    public void Libc_symbols_resolve_to_readelf_addresses(string name)
    {
        var elf = ElfFile.Open(Libc);
        var address = Native.ReadelfSymbol(Libc, name);
        Assert.True(elf.Symbols.TryFind(address, out var at));
        Assert.Equal(address, elf.Symbols.AddressAt(at));
        // An address inside the function resolves to the same symbol.
        if (elf.Symbols.SizeAt(at) > 1)
        {
            Assert.True(elf.Symbols.TryFind(address + 1, out var inside));
            Assert.Equal(at, inside);
        }
        // Aliases collapse to one name; the preferred one is the plain public name for these.
        Assert.Equal(name, elf.Symbols.NameAt(at));
    }

    [Fact]
    public void Bash_has_dynamic_symbols_and_a_debuglink_or_none()
    {
        var elf = ElfFile.Open(Bash);
        Assert.True(elf.Symbols.Count > 100);
        var address = Native.ReadelfSymbol(Bash, "main");
        Assert.True(elf.Symbols.TryFind(address, out var at));
        Assert.Equal("main", elf.Symbols.NameAt(at));
        if (elf.Sections.Any(s => s.Name == ".gnu_debuglink"))
            Assert.False(string.IsNullOrEmpty(elf.DebugLink));
    }

    [Fact]
    public void Load_bias_maps_runtime_addresses_through_the_containing_segment()
    {
        var elf = ElfFile.Open(Libc);
        var text = elf.LoadSegments.First(s => s.IsExecutable);
        // A mapping of the text segment at an arbitrary base, as the kernel would create it (page-aligned offset).
        var pageOffset = text.Offset & ~0xfffUL;
        const ulong mapStart = 0x7f0000000000;
        var malloc = Native.ReadelfSymbol(Libc, "malloc");
        var runtime = mapStart + (malloc - text.VirtualAddress + text.Offset - pageOffset);
        Assert.True(elf.TryRuntimeToVirtualAddress(runtime, mapStart, pageOffset, out var vaddr));
        Assert.Equal(malloc, vaddr);
    }

    [Fact]
    public void Refuses_32_bit_and_big_endian_and_non_elf_with_a_clear_error()
    {
        var image = new byte[64];
        image[0] = 0x7f; image[1] = (byte)'E'; image[2] = (byte)'L'; image[3] = (byte)'F';
        image[4] = 1; image[5] = 1;
        Assert.Contains("only 64-bit", Assert.Throws<ElfFormatException>(() => ElfFile.Parse(image)).Message, StringComparison.Ordinal);
        image[4] = 2; image[5] = 2;
        Assert.Contains("little-endian", Assert.Throws<ElfFormatException>(() => ElfFile.Parse(image)).Message, StringComparison.Ordinal);
        Assert.Contains("bad magic", Assert.Throws<ElfFormatException>(() => ElfFile.Parse(new byte[64])).Message, StringComparison.Ordinal);
        Assert.Throws<ElfFormatException>(() => ElfFile.Parse(new byte[10]));
    }

    [Fact]
    public void Truncated_headers_are_reported_not_crashed()
    {
        var bytes = File.ReadAllBytes(Bash)[..4096];
        // Section headers live at the end of the file: cut off, they are reported as outside the file.
        var e = Assert.Throws<ElfFormatException>(() => ElfFile.Parse(bytes, "bash-truncated"));
        Assert.Contains("outside the file", e.Message, StringComparison.Ordinal);
    }
}
