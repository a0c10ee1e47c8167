namespace Kiln.Symbolization.Tests;

public class KallsymsTests
{
    private const string Sample = """
        ffffffff81000000 T _stext
        ffffffff81000100 t do_one_initcall
        ffffffff81000200 D some_data
        ffffffff81000300 W weak_function
        ffffffff81000400 T schedule
        ffffffffc0a00000 t ext4_fill_super	[ext4]
        ffffffffc0a00800 T ext4_mount	[ext4]
        """;

    [Fact]
    public void Parses_text_symbols_and_modules_and_looks_up_nearest_preceding()
    {
        var ks = Kallsyms.Parse(new StringReader(Sample));
        Assert.Equal(6, ks.Count);
        Assert.False(ks.AddressesHidden);
        Assert.Null(ks.Problem);

        Assert.True(ks.TryFind(0xffffffff81000410, out var i));
        Assert.Equal("schedule", ks.NameAt(i));
        Assert.Null(ks.ModuleAt(i));

        Assert.True(ks.TryFind(0xffffffffc0a00010, out i));
        Assert.Equal("ext4_fill_super", ks.NameAt(i));
        Assert.Equal("ext4", ks.ModuleAt(i));

        Assert.True(ks.TryFind(0xffffffff81000250, out i));
        Assert.Equal("do_one_initcall", ks.NameAt(i)); // data symbols are not candidates

        Assert.False(ks.TryFind(0x1000, out _));
    }

    [Fact]
    public void All_zero_addresses_are_reported_as_hidden()
    {
        var ks = Kallsyms.Parse(new StringReader("0000000000000000 T _stext\n0000000000000000 T schedule\n"));
        Assert.True(ks.AddressesHidden);
        Assert.Contains("CAP_SYSLOG", ks.Problem, StringComparison.Ordinal);
        Assert.False(ks.TryFind(0xffffffff81000000, out _));
    }

    [RootFact]
    public void Real_kallsyms_has_schedule_as_root()
    {
        var ks = Kallsyms.Load();
        Assert.False(ks.AddressesHidden);
        Assert.True(ks.Count > 10_000);
        var symbolizer = new Symbolizer();
        var schedule = -1;
        for (var i = 0; i < ks.Count; i++)
            if (ks.NameAt(i) == "schedule") { schedule = i; break; }
        Assert.True(schedule >= 0);
        var frame = symbolizer.SymbolizeKernel(ks.AddressAt(schedule) + 1);
        Assert.Equal(FrameSource.Kernel, frame.Source);
        Assert.Equal("schedule", frame.FunctionName);
        Assert.Equal("[kernel.kallsyms]", frame.Mapping!.File);
    }
}
