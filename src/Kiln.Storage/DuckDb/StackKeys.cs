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
        var strings = ArrayPool<ulong>.Shared.Rent(Math.Max(profile.StringCount, 1));
        var mappings = ArrayPool<ulong>.Shared.Rent(Math.Max(profile.Mappings.Length, 1));
        var functions = ArrayPool<ulong>.Shared.Rent(Math.Max(profile.Functions.Length, 1));
        var frames = ArrayPool<ulong>.Shared.Rent(256);
        try
        {
            for (var i = 0; i < profile.StringCount; i++)
            {
                strings[i] = XxHash3.HashToUInt64(profile.Utf8(i));
            }
            var mappingTable = profile.Mappings;
            for (var i = 0; i < mappingTable.Length; i++)
            {
                ref readonly var m = ref mappingTable[i];
                var h = Mix(Mix(Mix(Mix(Mix(MappingSeed, strings[m.Filename]), strings[m.BuildId]), m.MemoryStart), m.MemoryLimit), m.FileOffset);
                mappings[i] = h;
            }
            var functionTable = profile.Functions;
            for (var i = 0; i < functionTable.Length; i++)
            {
                ref readonly var f = ref functionTable[i];
                functions[i] = Mix(Mix(Mix(Mix(FunctionSeed, strings[f.Name]), strings[f.SystemName]), strings[f.Filename]), (ulong)f.StartLine);
            }
            var locationTable = profile.Locations;
            for (var i = 0; i < locationTable.Length; i++)
            {
                ref readonly var l = ref locationTable[i];
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
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(strings);
            ArrayPool<ulong>.Shared.Return(mappings);
            ArrayPool<ulong>.Shared.Return(functions);
            ArrayPool<ulong>.Shared.Return(frames);
        }
        return new StackKeys(keys, samples.Length, locations);
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
