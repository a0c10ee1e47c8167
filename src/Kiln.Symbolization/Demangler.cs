using System.Text;

namespace Kiln.Symbolization;

/// <summary>
/// Demangles C++ (Itanium ABI, <c>_Z…</c>) and Rust (legacy <c>_ZN…17h&lt;hash&gt;E</c> and v0 <c>_R…</c>) symbol names.
/// Style: function names without parameter lists or return types (like <c>perf report</c>'s no-params mode),
/// template arguments kept in c++filt's spelling (<c>std::vector&lt;int, std::allocator&lt;int&gt; &gt;::push_back</c>),
/// Rust legacy hashes stripped. Anything not understood comes back unchanged; it never throws.
/// </summary>
public static class Demangler
{
    /// <summary>The demangled form of <paramref name="name"/>, or <paramref name="name"/> itself when it is not mangled or not understood.</summary>
    public static string Demangle(string name) => TryDemangle(name, out var d) ? d : name;

    /// <summary>Demangles <paramref name="name"/>; false when it is not a mangled name this demangler understands.</summary>
    public static bool TryDemangle(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? demangled)
    {
        demangled = null;
        if (string.IsNullOrEmpty(name) || name.Length > 4096)
            return false;
        try
        {
            if (name.StartsWith("_R", StringComparison.Ordinal))
                demangled = RustV0Demangler.Demangle(name);
            else if (name.StartsWith("_ZN", StringComparison.Ordinal) && RustLegacy.TryDemangle(name, out var rust))
                demangled = rust;
            else if (name.StartsWith("_Z", StringComparison.Ordinal))
                demangled = new ItaniumDemangler(name).Demangle();
        }
#pragma warning disable CA1031 // A demangler must never fail its caller: any parse error means "keep the mangled name".
        catch (Exception)
#pragma warning restore CA1031
        {
            demangled = null;
        }
        return demangled != null;
    }
}

/// <summary>Rust's legacy mangling: an Itanium nested name of plain identifiers whose last one is <c>h</c> + 16 hex digits.</summary>
internal static class RustLegacy
{
    public static bool TryDemangle(string s, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? result)
    {
        result = null;
        var pos = 3;
        var parts = new List<string>();
        while (pos < s.Length && s[pos] != 'E')
        {
            if (!char.IsAsciiDigit(s[pos])) return false;
            var len = 0;
            while (pos < s.Length && char.IsAsciiDigit(s[pos])) len = checked(len * 10 + (s[pos++] - '0'));
            if (len == 0 || pos + len > s.Length) return false;
            parts.Add(s.Substring(pos, len));
            pos += len;
        }
        if (pos >= s.Length || parts.Count < 2) return false;
        var hash = parts[^1];
        if (hash.Length != 17 || hash[0] != 'h') return false;
        foreach (var c in hash.AsSpan(1))
            if (!char.IsAsciiHexDigit(c)) return false;

        var sb = new StringBuilder();
        for (var i = 0; i < parts.Count - 1; i++)
        {
            if (i > 0) sb.Append("::");
            var p = parts[i];
            var j = p.StartsWith("_$", StringComparison.Ordinal) ? 1 : 0;
            while (j < p.Length)
            {
                if (p[j] == '.' && j + 1 < p.Length && p[j + 1] == '.') { sb.Append("::"); j += 2; continue; }
                if (p[j] == '$')
                {
                    var end = p.IndexOf('$', j + 1);
                    if (end < 0) return false;
                    var esc = p.AsSpan(j + 1, end - j - 1);
                    string? rep = esc switch
                    {
                        "SP" => "@", "BP" => "*", "RF" => "&", "LT" => "<", "GT" => ">", "LP" => "(", "RP" => ")", "C" => ",",
                        _ => null,
                    };
                    if (rep == null && esc.Length > 1 && esc[0] == 'u' && int.TryParse(esc[1..], System.Globalization.NumberStyles.AllowHexSpecifier, null, out var cp))
                        rep = char.ConvertFromUtf32(cp);
                    if (rep == null) return false;
                    sb.Append(rep);
                    j = end + 1;
                    continue;
                }
                sb.Append(p[j++]);
            }
        }
        result = sb.ToString();
        return true;
    }
}

/// <summary>A recursive-descent parser for the subset of the Itanium C++ ABI mangling grammar that names functions.</summary>
internal sealed class ItaniumDemangler(string s)
{
    // Marks where a declarator goes inside a function type ("void (\x01)(int)"), so that pointers and
    // references to functions print as "void (*)(int)". Removed from the final text.
    private const char Hole = '\u0001';
    private const int MaxDepth = 200;

    private readonly string _s = s;
    private readonly List<string> _subs = [];
    private int _pos;
    private int _depth;
    private List<string>? _templateArgs;
    private int _templateArgDepth;
    // The last source name seen in a prefix, which names constructors and destructors.
    private string _lastSourceName = "";

    private sealed class DemangleException() : Exception("bad mangled name");

    private char Peek(int ahead = 0) => _pos + ahead < _s.Length ? _s[_pos + ahead] : '\0';

    private char Next() => _pos < _s.Length ? _s[_pos++] : throw new DemangleException();

    private void Expect(char c)
    {
        if (Next() != c) throw new DemangleException();
    }

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

    public string? Demangle()
    {
        _pos = 2;
        var name = ParseEncoding(top: true);
        if (_pos < _s.Length)
        {
            // GCC clone suffixes (".cold", ".constprop.0", ".isra.0") name parts of the same function: dropped, as
            // c++filt -p does; the system name keeps them.
            if (_s[_pos] != '.') return null;
        }
        return Clean(name);
    }

    private static string Clean(string text)
    {
        if (text.IndexOf(Hole, StringComparison.Ordinal) < 0) return text;
        return text.Replace(" (" + Hole + ")", " ", StringComparison.Ordinal).Replace(Hole.ToString(), "", StringComparison.Ordinal);
    }

    private string ParseEncoding(bool top)
    {
        Enter();
        try
        {
            if (Peek() == 'T' || (Peek() == 'G' && (Peek(1) == 'V' || Peek(1) == 'R' || Peek(1) == 'T')))
                return ParseSpecialName();

            var savedArgs = _templateArgs;
            var name = ParseName(out var isTemplate, out var isCtorDtorConv);
            // Skip the function's types: parameters are not printed, but parsing them keeps the
            // substitution table right for anything that follows (local names, clone suffixes).
            if (_pos < _s.Length && Peek() != 'E' && Peek() != '.')
            {
                if (isTemplate && !isCtorDtorConv) ParseType();
                while (_pos < _s.Length && Peek() != 'E' && Peek() != '.')
                    ParseType();
            }
            if (!top) _templateArgs = savedArgs;
            return name;
        }
        finally { _depth--; }
    }

    private string ParseSpecialName()
    {
        if (Eat('G'))
        {
            var c = Next();
            if (c == 'V') return "guard variable for " + ParseName(out _, out _);
            if (c == 'R')
            {
                var n = ParseName(out _, out _);
                while (Peek() != '_' && _pos < _s.Length) _pos++;
                Eat('_');
                return "reference temporary for " + n;
            }
            Expect('t');
            return "transaction clone for " + ParseEncoding(top: false);
        }
        Expect('T');
        var k = Next();
        switch (k)
        {
            case 'V': return "vtable for " + ParseType();
            case 'T': return "VTT for " + ParseType();
            case 'I': return "typeinfo for " + ParseType();
            case 'S': return "typeinfo name for " + ParseType();
            case 'H': return "TLS init function for " + ParseName(out _, out _);
            case 'W': return "TLS wrapper function for " + ParseName(out _, out _);
            case 'h': SkipCallOffsetBody('h'); return "non-virtual thunk to " + ParseEncoding(top: false);
            case 'v': SkipCallOffsetBody('v'); return "virtual thunk to " + ParseEncoding(top: false);
            case 'c':
                SkipCallOffset();
                SkipCallOffset();
                return "covariant return thunk to " + ParseEncoding(top: false);
            default: throw new DemangleException();
        }
    }

    private void SkipCallOffset() => SkipCallOffsetBody(Next());

    private void SkipCallOffsetBody(char kind)
    {
        ParseNumber();
        Expect('_');
        if (kind == 'v')
        {
            ParseNumber();
            Expect('_');
        }
        else if (kind != 'h') throw new DemangleException();
    }

    private long ParseNumber()
    {
        var neg = Eat('n');
        if (!char.IsAsciiDigit(Peek())) throw new DemangleException();
        long v = 0;
        while (char.IsAsciiDigit(Peek())) v = checked(v * 10 + (Next() - '0'));
        return neg ? -v : v;
    }

    private string ParseName(out bool isTemplate, out bool isCtorDtorConv)
    {
        Enter();
        try
        {
            isTemplate = false;
            isCtorDtorConv = false;
            switch (Peek())
            {
                case 'N': return ParseNestedName(out isTemplate, out isCtorDtorConv);
                case 'Z': return ParseLocalName(out isTemplate, out isCtorDtorConv);
            }

            string name;
            if (Peek() == 'S' && Peek(1) == 't')
            {
                _pos += 2;
                name = "std::" + ParseUnqualifiedName(out isCtorDtorConv);
                if (Peek() == 'I') _subs.Add(name);
            }
            else if (Peek() == 'S')
            {
                name = ParseSubstitution();
                if (Peek() != 'I') throw new DemangleException();
            }
            else
            {
                name = ParseUnqualifiedName(out isCtorDtorConv);
                if (Peek() == 'I') _subs.Add(name);
            }

            if (Peek() == 'I')
            {
                name += ParseTemplateArgs();
                isTemplate = true;
            }
            return name;
        }
        finally { _depth--; }
    }

    private string ParseNestedName(out bool isTemplate, out bool isCtorDtorConv)
    {
        Expect('N');
        while (Peek() is 'r' or 'V' or 'K') _pos++;
        if (Peek() is 'R' or 'O') _pos++;
        isTemplate = false;
        isCtorDtorConv = false;
        var current = "";
        while (!Eat('E'))
        {
            isTemplate = false;
            isCtorDtorConv = false;
            var c = Peek();
            if (c == 'S' && Peek(1) == 't')
            {
                _pos += 2;
                current = "std::" + ParseUnqualifiedName(out isCtorDtorConv);
            }
            else if (c == 'S')
            {
                current = ParseSubstitution();
                continue; // a substitution is not a new candidate
            }
            else if (c == 'I')
            {
                if (current.Length == 0) throw new DemangleException();
                current += ParseTemplateArgs();
                isTemplate = true;
            }
            else if (c == 'T')
            {
                current = ParseTemplateParam();
            }
            else if (c == 'D' && Peek(1) is 'T' or 't')
            {
                throw new DemangleException();
            }
            else if (c == 'M')
            {
                _pos++; // closure prefix for a data member initializer: nothing to print
                continue;
            }
            else
            {
                var part = ParseUnqualifiedName(out isCtorDtorConv);
                current = current.Length == 0 ? part : current + "::" + part;
            }
            if (Peek() != 'E') _subs.Add(current);
        }
        if (current.Length == 0) throw new DemangleException();
        return current;
    }

    private string ParseLocalName(out bool isTemplate, out bool isCtorDtorConv)
    {
        Expect('Z');
        var outer = ParseEncoding(top: false);
        Expect('E');
        isTemplate = false;
        isCtorDtorConv = false;
        if (Eat('s'))
        {
            SkipDiscriminator();
            return outer + "::string literal";
        }
        if (Eat('d'))
        {
            if (Peek() != '_') ParseNumber();
            Expect('_');
            var inner = ParseName(out isTemplate, out isCtorDtorConv);
            return outer + "::" + inner;
        }
        var entity = ParseName(out isTemplate, out isCtorDtorConv);
        SkipDiscriminator();
        return outer + "::" + entity;
    }

    private void SkipDiscriminator()
    {
        if (Peek() != '_') return;
        _pos++;
        if (Eat('_'))
        {
            while (char.IsAsciiDigit(Peek())) _pos++;
            Expect('_');
        }
        else if (char.IsAsciiDigit(Peek())) _pos++;
    }

    private string ParseUnqualifiedName(out bool isCtorDtorConv)
    {
        isCtorDtorConv = false;
        Eat('L'); // internal linkage marker (GCC's <local-source-name>)
        var c = Peek();
        string name;
        if (char.IsAsciiDigit(c))
        {
            name = ParseSourceName();
            _lastSourceName = name;
        }
        else if (c == 'C' && Peek(1) is '1' or '2' or '3' or '4' or '5' or 'I')
        {
            _pos++;
            if (Eat('I'))
            {
                Next();
                ParseType();
            }
            else Next();
            name = _lastSourceName;
            isCtorDtorConv = true;
        }
        else if (c == 'D' && Peek(1) is '0' or '1' or '2' or '4' or '5')
        {
            _pos += 2;
            name = "~" + _lastSourceName;
            isCtorDtorConv = true;
        }
        else if (c == 'U' && Peek(1) == 't')
        {
            _pos += 2;
            var n = Peek() == '_' ? 1 : ParseNumber() + 2;
            Expect('_');
            name = "{unnamed type#" + n + "}";
        }
        else if (c == 'U' && Peek(1) == 'l')
        {
            _pos += 2;
            var types = new List<string>();
            while (!Eat('E')) types.Add(ParseType());
            if (types.Count == 1 && types[0] == "void") types.Clear();
            var n = Peek() == '_' ? 1 : ParseNumber() + 2;
            Expect('_');
            name = "{lambda(" + string.Join(", ", types) + ")#" + n + "}";
        }
        else if (char.IsAsciiLetterLower(c))
        {
            name = ParseOperatorName(out isCtorDtorConv);
        }
        else throw new DemangleException();

        while (Peek() == 'B')
        {
            _pos++;
            name += "[abi:" + ParseSourceName() + "]";
        }
        return name;
    }

    private string ParseSourceName()
    {
        var len = (int)ParseNumber();
        if (len <= 0 || _pos + len > _s.Length) throw new DemangleException();
        var id = _s.Substring(_pos, len);
        _pos += len;
        return id.StartsWith("_GLOBAL_", StringComparison.Ordinal) && id.Length > 9 && id[8] is '.' or '_' or '$' && id[9] == 'N'
            ? "(anonymous namespace)"
            : id;
    }

    private string ParseOperatorName(out bool isConversion)
    {
        isConversion = false;
        var a = Next();
        var b = Next();
        if (a == 'c' && b == 'v')
        {
            isConversion = true;
            return "operator " + ParseType();
        }
        if (a == 'l' && b == 'i') return "operator\"\" " + ParseSourceName();
        if (a == 'v' && char.IsAsciiDigit(b)) return "operator " + ParseSourceName();
        var op = (a, b) switch
        {
            ('n', 'w') => " new", ('n', 'a') => " new[]", ('d', 'l') => " delete", ('d', 'a') => " delete[]",
            ('p', 's') => "+", ('n', 'g') => "-", ('a', 'd') => "&", ('d', 'e') => "*", ('c', 'o') => "~",
            ('p', 'l') => "+", ('m', 'i') => "-", ('m', 'l') => "*", ('d', 'v') => "/", ('r', 'm') => "%",
            ('a', 'n') => "&", ('o', 'r') => "|", ('e', 'o') => "^", ('a', 'S') => "=", ('p', 'L') => "+=",
            ('m', 'I') => "-=", ('m', 'L') => "*=", ('d', 'V') => "/=", ('r', 'M') => "%=", ('a', 'N') => "&=",
            ('o', 'R') => "|=", ('e', 'O') => "^=", ('l', 's') => "<<", ('r', 's') => ">>", ('l', 'S') => "<<=",
            ('r', 'S') => ">>=", ('e', 'q') => "==", ('n', 'e') => "!=", ('l', 't') => "<", ('g', 't') => ">",
            ('l', 'e') => "<=", ('g', 'e') => ">=", ('s', 's') => "<=>", ('n', 't') => "!", ('a', 'a') => "&&",
            ('o', 'o') => "||", ('p', 'p') => "++", ('m', 'm') => "--", ('c', 'm') => ",", ('p', 'm') => "->*",
            ('p', 't') => "->", ('c', 'l') => "()", ('i', 'x') => "[]", ('q', 'u') => "?", ('a', 'w') => " co_await",
            _ => throw new DemangleException(),
        };
        return "operator" + op;
    }

    // The std abbreviations print in full, as c++filt does (std::string is spelled as the basic_string it is).
    private string ParseSubstitution()
    {
        const string Traits = "char, std::char_traits<char>";
        Expect('S');
        var c = Next();
        switch (c)
        {
            case 'a': _lastSourceName = "allocator"; return "std::allocator";
            case 'b': _lastSourceName = "basic_string"; return "std::basic_string";
            case 's': _lastSourceName = "basic_string"; return "std::basic_string<" + Traits + ", std::allocator<char> >";
            case 'i': _lastSourceName = "basic_istream"; return "std::basic_istream<" + Traits + " >";
            case 'o': _lastSourceName = "basic_ostream"; return "std::basic_ostream<" + Traits + " >";
            case 'd': _lastSourceName = "basic_iostream"; return "std::basic_iostream<" + Traits + " >";
            case '_': return Sub(0);
        }
        var id = 0;
        while (c != '_')
        {
            if (char.IsAsciiDigit(c)) id = checked(id * 36 + (c - '0'));
            else if (char.IsAsciiLetterUpper(c)) id = checked(id * 36 + (c - 'A' + 10));
            else throw new DemangleException();
            c = Next();
        }
        return Sub(id + 1);
    }

    private string Sub(int index)
    {
        if (index >= _subs.Count) throw new DemangleException();
        var v = _subs[index];
        var sep = v.LastIndexOf("::", StringComparison.Ordinal);
        var last = sep < 0 ? v : v[(sep + 2)..];
        var lt = last.IndexOf('<', StringComparison.Ordinal);
        _lastSourceName = lt > 0 ? last[..lt] : last;
        return v;
    }

    private string ParseTemplateParam()
    {
        Expect('T');
        var idx = 0;
        if (!Eat('_'))
        {
            idx = (int)ParseNumber() + 1;
            Expect('_');
        }
        if (_templateArgs == null || idx >= _templateArgs.Count)
            return "T" + idx; // unknown binding (e.g. inside a lambda signature); readable and harmless
        return _templateArgs[idx];
    }

    private string ParseTemplateArgs()
    {
        Expect('I');
        // Names inside the arguments must not become the name of a constructor that follows them.
        var ctorName = _lastSourceName;
        _templateArgDepth++;
        var args = new List<string>();
        while (!Eat('E'))
            args.Add(ParseTemplateArg());
        _templateArgDepth--;
        _lastSourceName = ctorName;
        if (_templateArgDepth == 0) _templateArgs = args;
        var joined = string.Join(", ", args);
        return "<" + joined + (joined.EndsWith('>') ? " >" : ">");
    }

    private string ParseTemplateArg()
    {
        Enter();
        try
        {
            switch (Peek())
            {
                case 'L': return ParseLiteral();
                case 'X': throw new DemangleException();
                case 'J':
                    {
                        _pos++;
                        var pack = new List<string>();
                        while (!Eat('E')) pack.Add(ParseTemplateArg());
                        return string.Join(", ", pack);
                    }
                default: return ParseType();
            }
        }
        finally { _depth--; }
    }

    private string ParseLiteral()
    {
        Expect('L');
        if (Peek() == '_' && Peek(1) == 'Z')
        {
            _pos += 2;
            var enc = ParseEncoding(top: false);
            Expect('E');
            return enc;
        }
        var type = ParseType();
        var neg = Eat('n');
        var start = _pos;
        while (Peek() != 'E') Next();
        var value = _s[start.._pos];
        _pos++;
        if (neg) value = "-" + value;
        return type switch
        {
            "bool" => value == "0" ? "false" : value == "1" ? "true" : "(bool)" + value,
            "int" => value,
            "unsigned int" => value + "u",
            "long" => value + "l",
            "unsigned long" => value + "ul",
            "long long" => value + "ll",
            "unsigned long long" => value + "ull",
            "decltype(nullptr)" => "nullptr",
            _ => "(" + type + ")" + value,
        };
    }

    private static string? Builtin(char c) => c switch
    {
        'v' => "void", 'w' => "wchar_t", 'b' => "bool", 'c' => "char", 'a' => "signed char", 'h' => "unsigned char",
        's' => "short", 't' => "unsigned short", 'i' => "int", 'j' => "unsigned int", 'l' => "long", 'm' => "unsigned long",
        'x' => "long long", 'y' => "unsigned long long", 'n' => "__int128", 'o' => "unsigned __int128", 'f' => "float",
        'd' => "double", 'e' => "long double", 'g' => "__float128", 'z' => "...",
        _ => null,
    };

    private string ParseType()
    {
        Enter();
        try
        {
            var c = Peek();
            var builtin = Builtin(c);
            if (builtin != null)
            {
                _pos++;
                return builtin;
            }
            string t;
            switch (c)
            {
                case 'u':
                    _pos++;
                    return ParseSourceName();
                case 'D':
                    {
                        var d = Peek(1);
                        _pos += 2;
                        switch (d)
                        {
                            case 'd': return "decimal64";
                            case 'e': return "decimal128";
                            case 'f': return "decimal32";
                            case 'h': return "half";
                            case 'i': return "char32_t";
                            case 's': return "char16_t";
                            case 'u': return "char8_t";
                            case 'a': return "auto";
                            case 'c': return "decltype(auto)";
                            case 'n': return "decltype(nullptr)";
                            case 'p':
                                t = ParseType() + "...";
                                _subs.Add(t);
                                return t;
                            default: throw new DemangleException();
                        }
                    }
                case 'r' or 'V' or 'K':
                    {
                        var quals = "";
                        while (Peek() is 'r' or 'V' or 'K')
                        {
                            var q = Next();
                            quals = (q == 'K' ? " const" : q == 'V' ? " volatile" : " restrict") + quals;
                        }
                        t = Apply(ParseType(), quals);
                        break;
                    }
                case 'P': _pos++; t = Apply(ParseType(), "*"); break;
                case 'R': _pos++; t = Apply(ParseType(), "&"); break;
                case 'O': _pos++; t = Apply(ParseType(), "&&"); break;
                case 'C': _pos++; t = ParseType() + " _Complex"; break;
                case 'G': _pos++; t = ParseType() + " _Imaginary"; break;
                case 'U':
                    _pos++;
                    ParseSourceName();
                    if (Peek() == 'I') ParseTemplateArgs();
                    return ParseType();
                case 'F':
                    {
                        _pos++;
                        Eat('Y');
                        var ret = ParseType();
                        var ps = new List<string>();
                        while (Peek() != 'E')
                        {
                            if (Peek() is 'R' or 'O' && Peek(1) == 'E') { _pos++; continue; }
                            ps.Add(ParseType());
                        }
                        _pos++;
                        if (ps.Count == 1 && ps[0] == "void") ps.Clear();
                        t = ret + " (" + Hole + ")(" + string.Join(", ", ps) + ")";
                        break;
                    }
                case 'A':
                    {
                        _pos++;
                        var dim = "";
                        if (char.IsAsciiDigit(Peek())) dim = ParseNumber().ToString(System.Globalization.CultureInfo.InvariantCulture);
                        else if (Peek() != '_') throw new DemangleException();
                        Expect('_');
                        t = ParseType() + " [" + dim + "]";
                        break;
                    }
                case 'M':
                    {
                        _pos++;
                        var cls = ParseType();
                        t = Apply(ParseType(), " " + cls + "::*");
                        break;
                    }
                case 'T':
                    t = ParseTemplateParam();
                    _subs.Add(t);
                    if (Peek() == 'I')
                    {
                        t += ParseTemplateArgs();
                        _subs.Add(t);
                    }
                    return t;
                case 'S':
                    if (Peek(1) == 't')
                    {
                        _pos += 2;
                        t = "std::" + ParseUnqualifiedName(out _);
                        _subs.Add(t);
                        if (Peek() == 'I')
                        {
                            t += ParseTemplateArgs();
                            _subs.Add(t);
                        }
                        return t;
                    }
                    t = ParseSubstitution();
                    if (Peek() == 'I')
                    {
                        t += ParseTemplateArgs();
                        _subs.Add(t);
                    }
                    return t;
                case 'N' or 'Z' or (>= '0' and <= '9'):
                    t = ParseName(out _, out _);
                    break;
                default:
                    throw new DemangleException();
            }
            _subs.Add(t);
            return t;
        }
        finally { _depth--; }
    }

    // Appends a declarator suffix to a type, or places it inside a function type's "(\x01)" hole.
    private static string Apply(string type, string suffix)
    {
        var hole = type.IndexOf(Hole, StringComparison.Ordinal);
        if (hole >= 0) return type.Insert(hole, suffix.TrimStart());
        return type + suffix;
    }
}
