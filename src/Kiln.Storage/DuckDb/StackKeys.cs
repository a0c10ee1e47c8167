using System.Buffers;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Kiln.Profiles;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Content keys of a profile's stacks: per sample, a 128-bit hash of what its stack means — every frame's mapping
/// (file, build id, range, offset), address, folding and lines with their functions' names, file and start line —
/// independent of the profile's own ids. The store maps a key to its stack id once, so a profile whose stacks were
/// seen before is stored with one dictionary lookup per sample. Computing the keys costs one XXH3 per string and a
/// few multiplications per mapping, function, location and frame; no dictionary is touched. Holds pooled arrays:
/// dispose it when the write is done.
/// </summary>
internal sealed class StackKeys : IDisposable
{
    private UInt128[] _keys;

    // The content hash of each location by its position in the profile's table.
    private ulong[] _locations;

    private StackKeys(UInt128[] keys, int count, ulong[] locations)
    {
        _keys = keys;
        _locations = locations;
        Count = count;
    }

    /// <summary>One key per sample of the profile, in sample order.</summary>
    public int Count { get; }

    public UInt128 this[int sample] => _keys[sample];

    /// <summary>The 64-bit content hash of the location at <paramref name="index"/> in the profile's table.</summary>
    public ulong LocationHash(int index) => _locations[index];

    /// <summary>Computes the key of every sample's stack.</summary>
    public static StackKeys Compute(PprofView profile)
    {
        var samples = profile.Samples;
        var keys = ArrayPool<UInt128>.Shared.Rent(Math.Max(samples.Length, 1));
        var locations = ArrayPool<ulong>.Shared.Rent(Math.Max(profile.Locations.Length, 1));
        // One linear pass per table, each building on the one before: strings, then mappings and functions,
        // then locations. Producers put in the tables what their samples use, so little is hashed for nothing.
        // Each pass is a method of its own: as one method, its loops' variables lived on the stack.
        var strings = ArrayPool<ulong>.Shared.Rent(Math.Max(profile.StringCount, 1));
        var mappings = ArrayPool<ulong>.Shared.Rent(Math.Max(profile.Mappings.Length, 1));
        var functions = ArrayPool<ulong>.Shared.Rent(Math.Max(profile.Functions.Length, 1));
        try
        {
            HashStrings(profile, strings);
            HashMappings(profile.Mappings, strings, mappings);
            HashFunctions(profile.Functions, strings, functions);
            HashLocations(profile, mappings, functions, locations);
            HashStacks(profile, locations, keys);
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(strings);
            ArrayPool<ulong>.Shared.Return(mappings);
            ArrayPool<ulong>.Shared.Return(functions);
        }
        return new StackKeys(keys, samples.Length, locations);
    }

    private static void HashStrings(PprofView profile, ulong[] strings)
    {
        for (var i = 0; i < profile.StringCount; i++)
        {
            strings[i] = XxHash3.HashToUInt64(profile.Utf8(i));
        }
    }

    private static void HashMappings(ReadOnlySpan<PprofView.ViewMapping> table, ulong[] strings, ulong[] mappings)
    {
        for (var i = 0; i < table.Length; i++)
        {
            ref readonly var m = ref table[i];
            mappings[i] = Mix(Mix(Mix(Mix(Mix(MappingSeed, strings[m.Filename]), strings[m.BuildId]), m.MemoryStart), m.MemoryLimit), m.FileOffset);
        }
    }

    private static void HashFunctions(ReadOnlySpan<PprofView.ViewFunction> table, ulong[] strings, ulong[] functions)
    {
        for (var i = 0; i < table.Length; i++)
        {
            ref readonly var f = ref table[i];
            functions[i] = Mix(Mix(Mix(Mix(FunctionSeed, strings[f.Name]), strings[f.SystemName]), strings[f.Filename]), (ulong)f.StartLine);
        }
    }

    private static void HashLocations(PprofView profile, ulong[] mappings, ulong[] functions, ulong[] locations)
    {
        var table = profile.Locations;
        for (var i = 0; i < table.Length; i++)
        {
            ref readonly var l = ref table[i];
            var h = Mix(LocationSeed, l.MappingId == 0 ? 0 : mappings[profile.MappingIndex(l.MappingId)]);
            h = Mix(Mix(h, l.Address), l.IsFolded ? 1UL : 0UL);
            var lines = profile.Lines(l);
            h = Mix(h, (ulong)lines.Length);
            foreach (var (functionId, line) in lines)
            {
                h = Mix(Mix(h, functions[profile.FunctionIndex(functionId)]), (ulong)line);
            }
            locations[i] = h;
        }
    }

    private static void HashStacks(PprofView profile, ulong[] locations, UInt128[] keys)
    {
        var samples = profile.Samples;
        var frames = ArrayPool<ulong>.Shared.Rent(256);
        for (var s = 0; s < samples.Length; s++)
        {
            var stack = profile.LocationIndices(samples[s]);
            if (stack.Length > frames.Length)
            {
                ArrayPool<ulong>.Shared.Return(frames);
                frames = ArrayPool<ulong>.Shared.Rent(stack.Length);
            }
            var hashes = frames.AsSpan(0, stack.Length);
            for (var i = 0; i < hashes.Length; i++)
            {
                hashes[i] = locations[stack[i]];
            }
            keys[s] = XxHash128.HashToUInt128(MemoryMarshal.AsBytes(hashes));
        }
        ArrayPool<ulong>.Shared.Return(frames);
    }

    public void Dispose()
    {
        if (_keys.Length > 0)
        {
            ArrayPool<UInt128>.Shared.Return(_keys);
            ArrayPool<ulong>.Shared.Return(_locations);
            _keys = [];
            _locations = [];
        }
    }

    // Distinct starting points, so that a mapping, a function and a location with the same fields hash apart.
    private const ulong MappingSeed = 0x243f6a8885a308d3;
    private const ulong FunctionSeed = 0x13198a2e03707344;
    private const ulong LocationSeed = 0xa4093822299f31d0;

    /// <summary>
    /// Folds <paramref name="value"/> into the running hash <paramref name="h"/>: the 128-bit product of the two
    /// (each xored with a constant) folded to 64 bits, as wyhash mixes. Strings are hashed with XXH3 first;
    /// numbers and those hashes are combined this way, far cheaper than hashing a buffer per entry.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong h, ulong value)
    {
        var high = Math.BigMul(h ^ 0xa0761d6478bd642f, value ^ 0xe7037ed1a0b428db, out var low);
        return high ^ low;
    }
}
