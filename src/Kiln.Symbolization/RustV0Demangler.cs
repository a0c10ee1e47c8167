using System.Globalization;
using System.Text;

namespace Kiln.Symbolization;

/// <summary>Rust's v0 mangling (<c>_R…</c>): paths, generic arguments, common types and back-references.</summary>
internal sealed class RustV0Demangler
{
    private const int MaxDepth = 200;

    // The symbol after "_R": back-references count bytes from here.
    private readonly string _s;
    private readonly StringBuilder _out = new();
    private int _pos;
    private int _depth;

    private RustV0Demangler(string s) => _s = s;

    private sealed class DemangleException() : Exception("bad v0 symbol");

    public static string? Demangle(string symbol)
    {
        var p = new RustV0Demangler(symbol[2..]);
        if (p._pos < p._s.Length && char.IsAsciiDigit(p._s[p._pos]))
            p.ParseDecimal(); // encoding version
        if (p._pos >= p._s.Length || !char.IsAsciiLetterUpper(p._s[p._pos]))
            return null;
        p.Path(inValue: true);
        // An optional instantiating crate and a vendor suffix (".llvm.123") follow; neither is printed.
        return p._out.ToString();
    }

    private char Peek() => _pos < _s.Length ? _s[_pos] : '\0';

    private char Next() => _pos < _s.Length ? _s[_pos++] : throw new DemangleException();

    private bool Eat(char c)
    {
        if (Peek() != c) return false;
        _pos++;
        return true;
    }

    private void Enter()
    {
        if (++_depth > MaxDepth) throw new DemangleException();
    }

    private long ParseDecimal()
    {
        if (!char.IsAsciiDigit(Peek())) throw new DemangleException();
        long v = 0;
        while (char.IsAsciiDigit(Peek())) v = checked(v * 10 + (Next() - '0'));
        return v;
    }

    // <base-62-number>: "_" is 0, otherwise digits [0-9a-zA-Z] then "_" encode value - 1.
    private long ParseBase62()
    {
        if (Eat('_')) return 0;
        long v = 0;
        while (true)
        {
            var c = Next();
            if (c == '_') return checked(v + 1);
            int d = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'a' and <= 'z' => c - 'a' + 10,
                >= 'A' and <= 'Z' => c - 'A' + 36,
                _ => throw new DemangleException(),
            };
            v = checked(v * 62 + d);
        }
    }

    private long ParseDisambiguator() => Eat('s') ? ParseBase62() + 1 : 0;

    private (string Name, long Dis) ParseIdentifier()
    {
        var dis = ParseDisambiguator();
        var punycode = Eat('u');
        var len = (int)ParseDecimal();
        Eat('_');
        if (len < 0 || _pos + len > _s.Length) throw new DemangleException();
        var name = _s.Substring(_pos, len);
        _pos += len;
        return (punycode ? "punycode{" + name + "}" : name, dis);
    }

    private void Backref(Action parse)
    {
        var target = (int)ParseBase62();
        if (target >= _pos) throw new DemangleException();
        var saved = _pos;
        _pos = target;
        parse();
        _pos = saved;
    }

    private void Path(bool inValue)
    {
        Enter();
        try
        {
            var c = Next();
            switch (c)
            {
                case 'C':
                    _out.Append(ParseIdentifier().Name);
                    break;
                case 'M':
                    ParseDisambiguator();
                    SkipPath();
                    _out.Append('<');
                    Type();
                    _out.Append('>');
                    break;
                case 'X':
                    ParseDisambiguator();
                    SkipPath();
                    _out.Append('<');
                    Type();
                    _out.Append(" as ");
                    Path(inValue: false);
                    _out.Append('>');
                    break;
                case 'Y':
                    _out.Append('<');
                    Type();
                    _out.Append(" as ");
                    Path(inValue: false);
                    _out.Append('>');
                    break;
                case 'N':
                    {
                        var ns = Next();
                        Path(inValue);
                        var (name, dis) = ParseIdentifier();
                        if (char.IsAsciiLetterUpper(ns))
                        {
                            _out.Append("::{").Append(ns == 'C' ? "closure" : ns == 'S' ? "shim" : ns.ToString());
                            if (name.Length > 0) _out.Append(':').Append(name);
                            _out.Append('#').Append(dis.ToString(CultureInfo.InvariantCulture)).Append('}');
                        }
                        else if (name.Length > 0)
                        {
                            _out.Append("::").Append(name);
                        }
                        break;
                    }
                case 'I':
                    Path(inValue);
                    if (inValue) _out.Append("::");
                    _out.Append('<');
                    for (var first = true; !Eat('E'); first = false)
                    {
                        if (!first) _out.Append(", ");
                        GenericArg();
                    }
                    _out.Append('>');
                    break;
                case 'B':
                    Backref(() => Path(inValue));
                    break;
                default:
                    throw new DemangleException();
            }
        }
        finally { _depth--; }
    }

    // Parses a path without printing it (impl paths are not shown).
    private void SkipPath()
    {
        var mark = _out.Length;
        Path(inValue: false);
        _out.Length = mark;
    }

    private void GenericArg()
    {
        if (Eat('L'))
        {
            ParseBase62();
            _out.Append("'_");
        }
        else if (Eat('K')) Const();
        else Type();
    }

    private static string? Basic(char c) => c switch
    {
        'a' => "i8", 'b' => "bool", 'c' => "char", 'd' => "f64", 'e' => "str", 'f' => "f32", 'h' => "u8", 'i' => "isize",
        'j' => "usize", 'l' => "i32", 'm' => "u32", 'n' => "i128", 'o' => "u128", 's' => "i16", 't' => "u16", 'u' => "()",
        'v' => "...", 'x' => "i64", 'y' => "u64", 'z' => "!", 'p' => "_",
        _ => null,
    };

    private void Type()
    {
        Enter();
        try
        {
            var c = Peek();
            var basic = Basic(c);
            if (basic != null)
            {
                _pos++;
                _out.Append(basic);
                return;
            }
            switch (c)
            {
                case 'R' or 'Q':
                    _pos++;
                    if (Eat('L')) ParseBase62();
                    _out.Append(c == 'R' ? "&" : "&mut ");
                    Type();
                    return;
                case 'P' or 'O':
                    _pos++;
                    _out.Append(c == 'P' ? "*const " : "*mut ");
                    Type();
                    return;
                case 'A':
                    _pos++;
                    _out.Append('[');
                    Type();
                    _out.Append("; ");
                    Const();
                    _out.Append(']');
                    return;
                case 'S':
                    _pos++;
                    _out.Append('[');
                    Type();
                    _out.Append(']');
                    return;
                case 'T':
                    {
                        _pos++;
                        _out.Append('(');
                        var n = 0;
                        for (; !Eat('E'); n++)
                        {
                            if (n > 0) _out.Append(", ");
                            Type();
                        }
                        if (n == 1) _out.Append(',');
                        _out.Append(')');
                        return;
                    }
                case 'F':
                    {
                        _pos++;
                        if (Eat('G')) ParseBase62();
                        if (Eat('U')) _out.Append("unsafe ");
                        if (Eat('K'))
                        {
                            _out.Append("extern \"");
                            if (Eat('C')) _out.Append('C');
                            else _out.Append(ParseIdentifier().Name.Replace('_', '-'));
                            _out.Append("\" ");
                        }
                        _out.Append("fn(");
                        for (var first = true; !Eat('E'); first = false)
                        {
                            if (!first) _out.Append(", ");
                            Type();
                        }
                        _out.Append(')');
                        if (Peek() == 'u') _pos++;
                        else
                        {
                            _out.Append(" -> ");
                            Type();
                        }
                        return;
                    }
                case 'D':
                    {
                        _pos++;
                        if (Eat('G')) ParseBase62();
                        _out.Append("dyn ");
                        for (var first = true; !Eat('E'); first = false)
                        {
                            if (!first) _out.Append(" + ");
                            Path(inValue: false);
                            while (Eat('p'))
                            {
                                _out.Append('<').Append(ParseIdentifier().Name).Append(" = ");
                                Type();
                                _out.Append('>');
                            }
                        }
                        if (Eat('L')) ParseBase62();
                        return;
                    }
                case 'B':
                    _pos++;
                    Backref(Type);
                    return;
                default:
                    Path(inValue: false);
                    return;
            }
        }
        finally { _depth--; }
    }

    private void Const()
    {
        if (Eat('p'))
        {
            _out.Append('_');
            return;
        }
        if (Eat('B'))
        {
            Backref(Const);
            return;
        }
        var type = Next();
        var neg = Eat('n');
        var start = _pos;
        while (Peek() != '_') Next();
        var hex = _s[start.._pos];
        _pos++;
        var value = hex.Length == 0 ? 0UL : ulong.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        switch (type)
        {
            case 'b': _out.Append(value != 0 ? "true" : "false"); break;
            case 'c': _out.Append('\'').Append(char.ConvertFromUtf32((int)value)).Append('\''); break;
            default:
                if (neg) _out.Append('-');
                _out.Append(value.ToString(CultureInfo.InvariantCulture));
                break;
        }
    }
}
