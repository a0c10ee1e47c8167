using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Kiln.Symbolization;

/// <summary>Thrown when a file is not an ELF object this reader understands (it reads 64-bit little-endian only).</summary>
public sealed class ElfFormatException(string message) : Exception(message);

/// <summary>A PT_LOAD program header: the file range [<see cref="Offset"/>, +<see cref="FileSize"/>) is loaded at <see cref="VirtualAddress"/>.</summary>
public readonly record struct ElfSegment(uint Type, uint Flags, ulong Offset, ulong VirtualAddress, ulong FileSize, ulong MemorySize)
{
    public bool IsExecutable => (Flags & 1) != 0;
}

/// <summary>A section header with its resolved name.</summary>
public readonly record struct ElfSection(string Name, uint Type, ulong Flags, ulong Address, ulong Offset, ulong Size, uint Link, ulong EntrySize);

/// <summary>
/// The parts of a 64-bit little-endian ELF file a profiler needs: load segments (for load-bias
/// computation), sections, function symbols from <c>.symtab</c> and <c>.dynsym</c>, the GNU build ID and
/// the <c>.gnu_debuglink</c> name. The file is read once at <see cref="Open"/>; the object keeps no handle.
/// </summary>
public sealed class ElfFile
{
    private const uint PtLoad = 1;
    private const uint PtNote = 4;
    private const uint ShtSymtab = 2;
    private const uint ShtNote = 7;
    private const uint ShtDynsym = 11;
    private const uint NtGnuBuildId = 3;
    private const int EhdrSize = 64;
    private const int PhdrSize = 56;
    private const int ShdrSize = 64;
    private const int SymSize = 24;
    // Symbol and string tables larger than this are refused rather than read into memory.
    private const long MaxTableBytes = 512L << 20;

    // Where section bytes can be read again after parsing: the path given to Open, or the image given to Parse.
    // Null for a file parsed from a caller's handle; ReadSection then needs that handle.
    private string? _path;
    private byte[]? _image;

    private ElfFile(ushort type, ushort machine, ElfSegment[] loadSegments, ElfSection[] sections, string? buildId, string? debugLink, ElfSymbolTable symbols)
    {
        Type = type;
        Machine = machine;
        LoadSegments = loadSegments;
        Sections = sections;
        BuildId = buildId;
        DebugLink = debugLink;
        Symbols = symbols;
    }

    /// <summary><c>e_type</c>: 2 = executable (ET_EXEC), 3 = shared object or PIE (ET_DYN).</summary>
    public ushort Type { get; }

    /// <summary><c>e_machine</c> (62 = x86-64, 183 = aarch64).</summary>
    public ushort Machine { get; }

    /// <summary>PT_LOAD segments in file order.</summary>
    public IReadOnlyList<ElfSegment> LoadSegments { get; }

    public IReadOnlyList<ElfSection> Sections { get; }

    /// <summary>The GNU build ID as lowercase hex, or null when the file has none.</summary>
    public string? BuildId { get; }

    /// <summary>The file name in <c>.gnu_debuglink</c> (where separate debug info lives), or null.</summary>
    public string? DebugLink { get; }

    /// <summary>Function symbols (STT_FUNC and STT_GNU_IFUNC) of <c>.symtab</c> and <c>.dynsym</c>, sorted by address.</summary>
    public ElfSymbolTable Symbols { get; }

    /// <summary>Reads and parses the file at <paramref name="path"/>.</summary>
    /// <exception cref="ElfFormatException">Not a 64-bit little-endian ELF file, or its headers are inconsistent.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static ElfFile Open(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var elf = Read(handle, path);
        elf._path = path;
        return elf;
    }

    /// <summary>Parses an ELF image held in memory (for tests and synthetic inputs).</summary>
    public static ElfFile Parse(byte[] image, string name = "<memory>")
    {
        var elf = Read(new ByteSource(image), name);
        elf._image = image;
        return elf;
    }

    /// <summary>The first section named <paramref name="name"/>, or null.</summary>
    public ElfSection? FindSection(string name)
    {
        foreach (var s in (ElfSection[])Sections)
        {
            if (s.Name == name) return s;
        }
        return null;
    }

    /// <summary>
    /// Reads the file bytes of <paramref name="section"/> (<see cref="ElfSection.Size"/> of them) into
    /// <paramref name="destination"/>: from the image given to <see cref="Parse"/>, or by opening the path given to
    /// <see cref="Open"/> again. A file parsed from a handle (<see cref="Read(SafeFileHandle, string)"/>) has to use
    /// <see cref="ReadSection(SafeFileHandle, ElfSection, Span{byte})"/> with that handle.
    /// </summary>
    /// <exception cref="InvalidOperationException">The file was parsed from a handle.</exception>
    /// <exception cref="ElfFormatException">The section lies outside the file.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public void ReadSection(ElfSection section, Span<byte> destination)
    {
        if (_image != null)
        {
            ReadSection(new ByteSource(_image), section, destination);
            return;
        }
        if (_path == null)
            throw new InvalidOperationException("this ElfFile was parsed from a handle: read its sections through that handle");
        using var handle = File.OpenHandle(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        ReadSection(new FileSource(handle), section, destination);
    }

    /// <summary>Reads the file bytes of <paramref name="section"/> through <paramref name="file"/> (the handle the ELF was parsed from).</summary>
    /// <exception cref="ElfFormatException">The section lies outside the file.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static void ReadSection(SafeFileHandle file, ElfSection section, Span<byte> destination) =>
        ReadSection(new FileSource(file), section, destination);

    private static void ReadSection(ISource src, ElfSection section, Span<byte> destination)
    {
        if (section.Size > (ulong)destination.Length)
            throw new ArgumentException($"destination holds {destination.Length} bytes, section {section.Name} has {section.Size}", nameof(destination));
        if (section.Offset > (ulong)src.Length || section.Size > (ulong)src.Length - section.Offset)
            throw new ElfFormatException($"section {section.Name} at offset {section.Offset} (+{section.Size} bytes) lies outside the file ({src.Length} bytes)");
        var into = destination[..(int)section.Size];
        if (src.Read(section.Offset, into) != into.Length)
            throw new IOException($"short read of section {section.Name} at offset {section.Offset}");
    }

    /// <summary>Parses the file behind an open handle; <paramref name="name"/> appears in error messages.</summary>
    public static ElfFile Read(SafeFileHandle handle, string name) => Read(new FileSource(handle), name);

    /// <summary>Like <see cref="Read(SafeFileHandle, string)"/> without reading the symbol tables (<see cref="Symbols"/>
    /// is empty): headers, sections, segments, build ID — all an unwind table needs, at a fraction of the cost.</summary>
    public static ElfFile ReadHeaders(SafeFileHandle handle, string name) => Read(new FileSource(handle), name, symbols: false);

    private static ElfFile Read(ISource src, string name, bool symbols = true)
    {
        var eh = ReadExact(src, 0, EhdrSize, name, "ELF header");
        if (eh[0] != 0x7f || eh[1] != (byte)'E' || eh[2] != (byte)'L' || eh[3] != (byte)'F')
            throw new ElfFormatException($"{name}: not an ELF file (bad magic)");
        if (eh[4] != 2)
            throw new ElfFormatException($"{name}: ELF class {eh[4]} is not supported; only 64-bit ELF (class 2) is read");
        if (eh[5] != 1)
            throw new ElfFormatException($"{name}: ELF data encoding {eh[5]} is not supported; only little-endian (1) is read");

        var type = U16(eh, 16);
        var machine = U16(eh, 18);
        var phoff = U64(eh, 32);
        var shoff = U64(eh, 40);
        var phentsize = U16(eh, 54);
        int phnum = U16(eh, 56);
        var shentsize = U16(eh, 58);
        long shnum = U16(eh, 60);
        long shstrndx = U16(eh, 62);

        var loads = new List<ElfSegment>();
        var notes = new List<ElfSegment>();
        if (phoff != 0 && phnum > 0)
        {
            if (phentsize < PhdrSize)
                throw new ElfFormatException($"{name}: program header size {phentsize} is smaller than {PhdrSize}");
            var ph = ReadExact(src, phoff, phentsize * phnum, name, "program headers");
            for (var i = 0; i < phnum; i++)
            {
                var o = i * phentsize;
                var seg = new ElfSegment(U32(ph, o), U32(ph, o + 4), U64(ph, o + 8), U64(ph, o + 16), U64(ph, o + 32), U64(ph, o + 40));
                if (seg.Type == PtLoad) loads.Add(seg);
                else if (seg.Type == PtNote) notes.Add(seg);
            }
        }

        var sections = Array.Empty<ElfSection>();
        if (shoff != 0)
        {
            if (shentsize < ShdrSize)
                throw new ElfFormatException($"{name}: section header size {shentsize} is smaller than {ShdrSize}");
            if (shnum == 0 || shstrndx == 0xffff)
            {
                // Extended numbering: the real values live in section header 0.
                var first = ReadExact(src, shoff, ShdrSize, name, "section header 0");
                if (shnum == 0) shnum = (long)U64(first, 32);
                if (shstrndx == 0xffff) shstrndx = U32(first, 40);
            }
            if (shnum > 0 && shnum * shentsize <= MaxTableBytes)
                sections = ReadSections(src, name, shoff, shentsize, (int)shnum, shstrndx);
        }

        string? buildId = null;
        foreach (var n in notes)
        {
            buildId = FindBuildId(ReadUpTo(src, n.Offset, (int)Math.Min(n.FileSize, 1 << 16)));
            if (buildId != null) break;
        }
        if (buildId == null)
        {
            foreach (var s in sections)
            {
                if (s.Type != ShtNote) continue;
                buildId = FindBuildId(ReadUpTo(src, s.Offset, (int)Math.Min(s.Size, 1 << 16)));
                if (buildId != null) break;
            }
        }

        string? debugLink = null;
        foreach (var s in sections)
        {
            if (s.Name != ".gnu_debuglink") continue;
            var b = ReadUpTo(src, s.Offset, (int)Math.Min(s.Size, 4096));
            var end = Array.IndexOf(b, (byte)0);
            debugLink = Encoding.UTF8.GetString(b, 0, end < 0 ? b.Length : end);
            break;
        }

        // Like perf: .symtab when it names functions (it is a superset of .dynsym), else .dynsym (stripped files).
        var table = symbols
            ? FunctionSymbols(src, sections, ShtSymtab) ?? FunctionSymbols(src, sections, ShtDynsym) ?? ElfSymbolTable.Empty
            : ElfSymbolTable.Empty;

        return new ElfFile(type, machine, [.. loads], sections, buildId, debugLink, table);
    }

    // The function symbols of the first symbol table of this type that has any; null when none has.
    private static ElfSymbolTable? FunctionSymbols(ISource src, ElfSection[] sections, uint type)
    {
        foreach (var s in sections)
        {
            if (s.Type != type) continue;
            if (s.Link >= sections.Length || s.Size > MaxTableBytes || sections[s.Link].Size > MaxTableBytes) continue;
            var builder = ReadSymbols(src, s, sections[s.Link]);
            if (builder.Count > 0) return builder.Build();
        }
        return null;
    }

    // The function symbols (STT_FUNC, STT_GNU_IFUNC) of one symbol table. The table is read in pieces small enough
    // to stay off the large object heap; its string table is read whole and kept as the symbols' names.
    private static ElfSymbolTable.Builder ReadSymbols(ISource src, ElfSection symtab, ElfSection strtab)
    {
        var strs = ReadUpTo(src, strtab.Offset, (int)strtab.Size);
        var builder = new ElfSymbolTable.Builder(strs);
        var entsize = symtab.EntrySize >= SymSize ? (int)symtab.EntrySize : SymSize;
        var chunk = new byte[entsize * Math.Max(1, 64 * 1024 / entsize)];
        var end = Math.Min(symtab.Offset + symtab.Size, (ulong)src.Length);
        for (var at = symtab.Offset; at + (ulong)entsize <= end;)
        {
            var want = (int)Math.Min((ulong)chunk.Length, (end - at) / (ulong)entsize * (ulong)entsize);
            var n = src.Read(at, chunk.AsSpan(0, want));
            n -= n % entsize;
            if (n == 0) break;
            for (var o = 0; o < n; o += entsize)
            {
                var info = chunk[o + 4];
                var symType = info & 0xf;
                if (symType != 2 && symType != 10) continue;
                var shndx = U16(chunk, o + 6);
                var value = U64(chunk, o + 8);
                if (shndx == 0 || value == 0) continue;
                var nameOff = U32(chunk, o);
                if (nameOff >= strs.Length || strs[nameOff] == 0) continue;
                builder.Add(value, U64(chunk, o + 16), (int)nameOff, binding: info >> 4);
            }
            at += (ulong)n;
        }
        return builder;
    }

    /// <summary>
    /// Translates a file offset (a runtime address minus its mapping's start plus the mapping's file offset)
    /// to the ELF virtual address, through the PT_LOAD segment containing that offset.
    /// </summary>
    public bool TryFileOffsetToVirtualAddress(ulong fileOffset, out ulong virtualAddress)
    {
        var segs = (ElfSegment[])LoadSegments;
        foreach (var seg in segs)
        {
            if (fileOffset >= seg.Offset && fileOffset < seg.Offset + Math.Max(seg.FileSize, 1))
            {
                virtualAddress = fileOffset - seg.Offset + seg.VirtualAddress;
                return true;
            }
        }
        virtualAddress = 0;
        return false;
    }

    /// <summary>
    /// The ELF virtual address of <paramref name="address"/> in a process where this file is mapped at
    /// <paramref name="mappingStart"/> from file offset <paramref name="mappingOffset"/>:
    /// <c>addr - mapStart + off - seg.p_offset + seg.p_vaddr</c>. Allocation-free.
    /// </summary>
    public bool TryRuntimeToVirtualAddress(ulong address, ulong mappingStart, ulong mappingOffset, out ulong virtualAddress) =>
        TryFileOffsetToVirtualAddress(address - mappingStart + mappingOffset, out virtualAddress);

    private static ElfSection[] ReadSections(ISource src, string name, ulong shoff, int shentsize, int shnum, long shstrndx)
    {
        var sh = ReadExact(src, shoff, shentsize * shnum, name, "section headers");
        var raw = new (uint Name, uint Type, ulong Flags, ulong Addr, ulong Off, ulong Size, uint Link, ulong EntSize)[shnum];
        for (var i = 0; i < shnum; i++)
        {
            var o = i * shentsize;
            raw[i] = (U32(sh, o), U32(sh, o + 4), U64(sh, o + 8), U64(sh, o + 16), U64(sh, o + 24), U64(sh, o + 32), U32(sh, o + 40), U64(sh, o + 56));
        }
        byte[] names = [];
        if (shstrndx > 0 && shstrndx < shnum && raw[shstrndx].Size <= MaxTableBytes)
            names = ReadUpTo(src, raw[shstrndx].Off, (int)raw[shstrndx].Size);
        var result = new ElfSection[shnum];
        for (var i = 0; i < shnum; i++)
        {
            var r = raw[i];
            var secName = "";
            if (r.Name < names.Length)
            {
                var span = names.AsSpan((int)r.Name);
                var nul = span.IndexOf((byte)0);
                secName = Encoding.UTF8.GetString(nul < 0 ? span : span[..nul]);
            }
            // SHT_NOBITS (8) sections occupy no file bytes.
            result[i] = new ElfSection(secName, r.Type, r.Flags, r.Addr, r.Off, r.Type == 8 ? 0 : r.Size, r.Link, r.EntSize);
        }
        return result;
    }

    private static string? FindBuildId(byte[] notes)
    {
        var o = 0;
        while (o + 12 <= notes.Length)
        {
            var namesz = U32(notes, o);
            var descsz = U32(notes, o + 4);
            var ntype = U32(notes, o + 8);
            var nameStart = o + 12;
            var descStart = nameStart + (int)Align4(namesz);
            var next = descStart + (long)Align4(descsz);
            if (namesz > notes.Length || descsz > notes.Length || next > notes.Length)
                return null;
            if (ntype == NtGnuBuildId && namesz == 4 && notes.AsSpan(nameStart, 4).SequenceEqual("GNU\0"u8) && descsz > 0)
                return Convert.ToHexStringLower(notes, descStart, (int)descsz);
            o = (int)next;
        }
        return null;
    }

    private static uint Align4(uint v) => (v + 3) & ~3u;

    private static ushort U16(byte[] b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(o));

    private static uint U32(byte[] b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(o));

    private static ulong U64(byte[] b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(o));

    private interface ISource
    {
        long Length { get; }

        int Read(ulong offset, Span<byte> into);
    }

    private sealed class FileSource(SafeFileHandle handle) : ISource
    {
        public long Length { get; } = RandomAccess.GetLength(handle);

        public int Read(ulong offset, Span<byte> into)
        {
            var total = 0;
            while (total < into.Length)
            {
                var n = RandomAccess.Read(handle, into[total..], (long)offset + total);
                if (n <= 0) break;
                total += n;
            }
            return total;
        }
    }

    private sealed class ByteSource(byte[] bytes) : ISource
    {
        public long Length => bytes.Length;

        public int Read(ulong offset, Span<byte> into)
        {
            if (offset >= (ulong)bytes.Length) return 0;
            var n = (int)Math.Min((ulong)into.Length, (ulong)bytes.Length - offset);
            bytes.AsSpan((int)offset, n).CopyTo(into);
            return n;
        }
    }

    private static byte[] ReadExact(ISource src, ulong offset, int count, string name, string what)
    {
        if (count < 0 || offset > (ulong)src.Length || (ulong)count > (ulong)src.Length - offset)
            throw new ElfFormatException($"{name}: {what} at offset {offset} (+{count} bytes) lie outside the file ({src.Length} bytes)");
        var b = new byte[count];
        if (src.Read(offset, b) != count)
            throw new ElfFormatException($"{name}: short read of {what} at offset {offset}");
        return b;
    }

    private static byte[] ReadUpTo(ISource src, ulong offset, int count)
    {
        if (count <= 0 || offset >= (ulong)src.Length) return [];
        count = (int)Math.Min((ulong)count, (ulong)src.Length - offset);
        var b = new byte[count];
        var n = src.Read(offset, b);
        return n == count ? b : b[..n];
    }
}
