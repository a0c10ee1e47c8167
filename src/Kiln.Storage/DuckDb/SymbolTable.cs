using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Kiln.Storage.DuckDb;

/// <summary>A deduplicated mapping (binary loaded into a process). Ids are dense from 1.</summary>
internal sealed record MappingRow(int Id, string File, string BuildId, ulong Start, ulong Limit, ulong Offset, bool HasFunctions, bool HasFilenames, bool HasLineNumbers, bool HasInlineFrames);

/// <summary>A deduplicated function.</summary>
internal sealed record FunctionRow(int Id, string Name, string SystemName, string Filename, long StartLine);

/// <summary>One line of a location: a function and a source line. Several lines mean inlining, caller last.</summary>
// Pack = 4 leaves no padding, so the bytes hashed and stored are fully defined.
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal readonly record struct LocationLine(int FunctionId, long Line);

/// <summary>A deduplicated location: an address in a mapping and what it symbolizes to.</summary>
internal sealed record LocationRow(int Id, int MappingId, ulong Address, bool IsFolded, LocationLine[] Lines);

/// <summary>
/// The in-memory index of every stored symbol and stack, so that ingest deduplicates without asking the
/// database and queries resolve stack ids without joins. Keys are 128-bit hashes of the canonical
/// encoding; values are dense ids that double as indices (id - 1) into the row lists.
/// Only the single writer mutates it; readers use the row lists, which are safe to read concurrently.
/// </summary>
internal sealed class SymbolTable
{
    private readonly Dictionary<(string File, string BuildId, ulong Start, ulong Limit, ulong Offset), int> _mappingIds = [];
    private readonly Dictionary<(int Name, int SystemName, int Filename, long StartLine), int> _functionIds = [];

    // Every function string once: a profile's string table is interned index by index, so function keys
    // hash four numbers instead of three strings, and rows share one string instance.
    private readonly Dictionary<string, int> _stringIds = new(StringComparer.Ordinal);
    private readonly List<string> _strings = [];
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _stringLookup;

    public SymbolTable() => _stringLookup = _stringIds.GetAlternateLookup<ReadOnlySpan<char>>();
    private readonly Dictionary<UInt128, int> _locationIds = [];
    private readonly Dictionary<UInt128, int> _stackIds = [];

    // A cache in front of everything else: the content key of a profile's stack (StackKeys) → its stack id. Only
    // what the writer resolved since start is here; a miss goes the slow way and is then added.
    private readonly ContentKeyTable _stacksByContent = new();

    // The same for locations: a 64-bit content hash (StackKeys.LocationHash) → location id. A hit is checked
    // against the row's address and line numbers, so a hash collision would also need those to agree.
    private readonly Dictionary<ulong, int> _locationsByContent = [];
    private readonly Dictionary<string, int> _sampleLabelIds = new(StringComparer.Ordinal);

    public AppendOnlyList<MappingRow?> Mappings { get; } = new();
    public AppendOnlyList<FunctionRow?> Functions { get; } = new();
    public AppendOnlyList<LocationRow?> Locations { get; } = new(1 << 16);

    /// <summary>Stacks as location ids, leaf first; null where retention removed the stack.</summary>
    public AppendOnlyList<int[]?> Stacks { get; } = new(1 << 16);

    /// <summary>Per-sample label sets (canonical JSON), id 0 meaning none.</summary>
    public AppendOnlyList<string?> SampleLabels { get; } = new();

    public int StackCount => _stackIds.Count;

    public int GetOrAddMapping(string file, string buildId, ulong start, ulong limit, ulong offset, bool hasFunctions, bool hasFilenames, bool hasLines, bool hasInline, List<MappingRow> added)
    {
        var key = (file, buildId, start, limit, offset);
        if (_mappingIds.TryGetValue(key, out var id))
        {
            return id;
        }
        id = Mappings.Count + 1;
        var row = new MappingRow(id, file, buildId, start, limit, offset, hasFunctions, hasFilenames, hasLines, hasInline);
        Mappings.Add(row);
        _mappingIds.Add(key, id);
        added.Add(row);
        return id;
    }

    /// <summary>The id of <paramref name="value"/> in the function string pool, adding it when new.</summary>
    public int InternString(string value)
    {
        if (_stringIds.TryGetValue(value, out var id))
        {
            return id;
        }
        id = _strings.Count;
        _strings.Add(value);
        _stringIds.Add(value, id);
        return id;
    }

    /// <summary>Like <see cref="InternString"/> for UTF-8 bytes; allocates a string only for a new value.</summary>
    public int InternUtf8(ReadOnlySpan<byte> utf8)
    {
        char[]? rented = null;
        var chars = utf8.Length <= 512 ? stackalloc char[512] : (rented = System.Buffers.ArrayPool<char>.Shared.Rent(utf8.Length));
        try
        {
            var length = System.Text.Encoding.UTF8.GetChars(utf8, chars);
            var value = chars[..length];
            return _stringLookup.TryGetValue(value, out var id) ? id : InternString(new string(value));
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Returns the id of the function whose strings have the given pool ids (<see cref="InternString"/>).</summary>
    public int GetOrAddFunction(int name, int systemName, int filename, long startLine, List<FunctionRow> added)
    {
        var key = (name, systemName, filename, startLine);
        if (_functionIds.TryGetValue(key, out var id))
        {
            return id;
        }
        id = Functions.Count + 1;
        var row = new FunctionRow(id, _strings[name], _strings[systemName], _strings[filename], startLine);
        Functions.Add(row);
        _functionIds.Add(key, id);
        added.Add(row);
        return id;
    }

    public int GetOrAddLocation(int mappingId, ulong address, bool isFolded, ReadOnlySpan<LocationLine> lines, List<LocationRow> added)
    {
        var key = HashLocation(mappingId, address, isFolded, lines);
        if (_locationIds.TryGetValue(key, out var id))
        {
            return id;
        }
        id = Locations.Count + 1;
        var row = new LocationRow(id, mappingId, address, isFolded, lines.ToArray());
        Locations.Add(row);
        _locationIds.Add(key, id);
        added.Add(row);
        return id;
    }

    /// <summary>Returns the id of the stack (location ids, leaf first), adding it when new.</summary>
    public int GetOrAddStack(ReadOnlySpan<int> locationIds, List<int> added)
    {
        var key = HashStack(locationIds);
        if (_stackIds.TryGetValue(key, out var id))
        {
            return id;
        }
        id = Stacks.Count + 1;
        Stacks.Add(locationIds.ToArray());
        _stackIds.Add(key, id);
        added.Add(id);
        return id;
    }

    /// <summary>The stack id cached for a content key (<see cref="StackKeys"/>), if any.</summary>
    public bool TryGetStackByContent(UInt128 contentKey, out int id) => _stacksByContent.TryGetValue(contentKey, out id);

    /// <summary>Caches the stack id resolved for a content key.</summary>
    public void AddStackContent(UInt128 contentKey, int id) => _stacksByContent.Set(contentKey, id);

    /// <summary>Starts loading what <see cref="TryGetStackByContent"/> will read for <paramref name="contentKey"/>.</summary>
    public void PrefetchStackByContent(UInt128 contentKey) => _stacksByContent.Prefetch(contentKey);

    /// <summary>The location id cached for a content hash (<see cref="StackKeys.LocationHash"/>), if any.</summary>
    public bool TryGetLocationByContent(ulong contentHash, out int id) => _locationsByContent.TryGetValue(contentHash, out id);

    /// <summary>Caches the location id resolved for a content hash.</summary>
    public void AddLocationContent(ulong contentHash, int id) => _locationsByContent[contentHash] = id;

    public int GetOrAddSampleLabels(string canonical, List<(int Id, string Labels)> added)
    {
        if (_sampleLabelIds.TryGetValue(canonical, out var id))
        {
            return id;
        }
        id = SampleLabels.Count + 1;
        SampleLabels.Add(canonical);
        _sampleLabelIds.Add(canonical, id);
        added.Add((id, canonical));
        return id;
    }

    /// <summary>Loading from the database: rows arrive with their stored ids, which must be dense and ascending.</summary>
    public void LoadMapping(MappingRow row)
    {
        Pad(Mappings, row.Id);
        Mappings.Add(row);
        _mappingIds[(row.File, row.BuildId, row.Start, row.Limit, row.Offset)] = row.Id;
    }

    public void LoadFunction(FunctionRow row)
    {
        Pad(Functions, row.Id);
        var interned = row with { Name = _strings[InternString(row.Name)], SystemName = _strings[InternString(row.SystemName)], Filename = _strings[InternString(row.Filename)] };
        Functions.Add(interned);
        _functionIds[(InternString(row.Name), InternString(row.SystemName), InternString(row.Filename), row.StartLine)] = row.Id;
    }

    public void LoadLocation(LocationRow row)
    {
        Pad(Locations, row.Id);
        Locations.Add(row);
        _locationIds[HashLocation(row.MappingId, row.Address, row.IsFolded, row.Lines)] = row.Id;
    }

    public void LoadStack(int id, int[] locationIds)
    {
        Pad(Stacks, id);
        Stacks.Add(locationIds);
        _stackIds[HashStack(locationIds)] = id;
    }

    public void LoadSampleLabels(int id, string canonical)
    {
        Pad(SampleLabels, id);
        SampleLabels.Add(canonical);
        _sampleLabelIds[canonical] = id;
    }

    /// <summary>Forgets everything, before a reload from the database.</summary>
    public void Clear()
    {
        _mappingIds.Clear();
        _functionIds.Clear();
        _stringIds.Clear();
        _strings.Clear();
        _locationIds.Clear();
        _stackIds.Clear();
        _stacksByContent.Clear();
        _locationsByContent.Clear();
        _sampleLabelIds.Clear();
        Mappings.Clear();
        Functions.Clear();
        Locations.Clear();
        Stacks.Clear();
        SampleLabels.Clear();
    }

    /// <summary>Forgets stacks that retention deleted; their ids are never reused.</summary>
    public void RemoveStacks(IReadOnlyCollection<int> ids)
    {
        if (ids.Count == 0)
        {
            return;
        }
        foreach (var id in ids)
        {
            var stack = Stacks[id - 1];
            if (stack is not null)
            {
                _stackIds.Remove(HashStack(stack));
                Stacks.Set(id - 1, null);
            }
        }
        _stacksByContent.RemoveIds(ids as HashSet<int> ?? [.. ids]);
    }

    private static void Pad<T>(AppendOnlyList<T?> list, int id) where T : class
    {
        // Ids deleted by retention leave gaps; keep index == id - 1.
        while (list.Count < id - 1)
        {
            list.Add(null);
        }
    }

    private static UInt128 HashStack(ReadOnlySpan<int> locationIds) =>
        XxHash128.HashToUInt128(MemoryMarshal.AsBytes(locationIds));

    private static UInt128 HashLocation(int mappingId, ulong address, bool isFolded, ReadOnlySpan<LocationLine> lines)
    {
        Span<byte> head = stackalloc byte[13];
        BitConverter.TryWriteBytes(head, mappingId);
        BitConverter.TryWriteBytes(head[4..], address);
        head[12] = isFolded ? (byte)1 : (byte)0;
        var hash = new XxHash128();
        hash.Append(head);
        hash.Append(MemoryMarshal.AsBytes(lines));
        return hash.GetCurrentHashAsUInt128();
    }
}
