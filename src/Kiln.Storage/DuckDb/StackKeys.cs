using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Kiln.Profiles;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Content keys of a profile's stacks: per sample, a 128-bit hash of what its stack means — every frame's mapping
/// (file, build id, range, offset), address, folding and lines with their functions' names, file and start line —
/// independent of the profile's own ids. The store maps a key to its stack id once, so a profile whose stacks were
/// seen before is stored with one dictionary lookup per sample. Computing the keys reads each referenced location
/// and function once (memoized per profile) and nothing else, so the cost follows the samples, not the symbol
/// tables. Holds pooled arrays: dispose it when the write is done.
/// </summary>
internal sealed class StackKeys : IDisposable
{
    private UInt128[] _keys;

    // The content hash of each location by its position in the profile's table; 0 where no sample refers to it.
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

    /// <summary>The 64-bit content hash of the location at <paramref name="index"/> in the profile's table (one a sample refers to).</summary>
    public ulong LocationHash(int index) => _locations[index];

    /// <summary>Computes the key of every sample's stack.</summary>
    public static StackKeys Compute(PprofView profile)
    {
        var samples = profile.Samples;
        var keys = ArrayPool<UInt128>.Shared.Rent(Math.Max(samples.Length, 1));
        var locations = Hasher.Rent(profile.Locations.Length);
        using var hasher = new Hasher(profile, locations);
        var frames = ArrayPool<ulong>.Shared.Rent(256);
        try
        {
            for (var s = 0; s < samples.Length; s++)
            {
                var ids = profile.LocationIds(samples[s]);
                if (ids.Length > frames.Length)
                {
                    ArrayPool<ulong>.Shared.Return(frames);
                    frames = ArrayPool<ulong>.Shared.Rent(ids.Length);
                }
                for (var i = 0; i < ids.Length; i++)
                {
                    frames[i] = hasher.Location(profile.LocationIndex(ids[i]));
                }
                keys[s] = XxHash128.HashToUInt128(MemoryMarshal.AsBytes(frames.AsSpan(0, ids.Length)));
            }
        }
        finally
        {
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

    /// <summary>
    /// 64-bit content hashes of one profile's mappings, functions and locations, each computed on first use. Zero
    /// marks "not computed yet" (a real hash of zero is stored as one). A function's and a mapping's strings are
    /// hashed as their bytes, so equal content hashes equal whatever the string table's order.
    /// </summary>
    private readonly ref struct Hasher : IDisposable
    {
        private readonly PprofView _profile;
        private readonly ulong[] _mappings;
        private readonly ulong[] _functions;
        private readonly ulong[] _locations; // owned by the caller
        private readonly byte[] _bytes;

        public Hasher(PprofView profile, ulong[] locations)
        {
            _profile = profile;
            _mappings = Rent(profile.Mappings.Length);
            _functions = Rent(profile.Functions.Length);
            _locations = locations;
            _bytes = ArrayPool<byte>.Shared.Rent(1024);
        }

        public ulong Location(int index)
        {
            ref var memo = ref _locations[index];
            if (memo == 0)
            {
                memo = HashLocation(index);
            }
            return memo;
        }

        public void Dispose()
        {
            ArrayPool<ulong>.Shared.Return(_mappings);
            ArrayPool<ulong>.Shared.Return(_functions);
            ArrayPool<byte>.Shared.Return(_bytes);
        }

        private ulong HashLocation(int index)
        {
            ref readonly var l = ref _profile.Locations[index];
            var lines = _profile.Lines(l);
            // mapping, address, folded, then (function, line) per line; a location has a handful of lines at most,
            // more only when deeply inlined.
            var length = 24 + lines.Length * 16;
            var buffer = length <= _bytes.Length ? _bytes : new byte[length];
            var words = MemoryMarshal.Cast<byte, ulong>(buffer.AsSpan(0, length));
            words[0] = l.MappingId == 0 ? 0 : Mapping(_profile.MappingIndex(l.MappingId));
            words[1] = l.Address;
            words[2] = l.IsFolded ? 1UL : 0UL;
            for (var i = 0; i < lines.Length; i++)
            {
                words[3 + 2 * i] = Function(_profile.FunctionIndex(lines[i].FunctionId));
                words[4 + 2 * i] = (ulong)lines[i].Line;
            }
            return NonZero(XxHash3.HashToUInt64(MemoryMarshal.AsBytes(words)));
        }

        private ulong Function(int index)
        {
            ref var memo = ref _functions[index];
            if (memo == 0)
            {
                ref readonly var f = ref _profile.Functions[index];
                memo = HashStrings(f.Name, f.SystemName, f.Filename, (ulong)f.StartLine, 0, 0);
            }
            return memo;
        }

        private ulong Mapping(int index)
        {
            ref var memo = ref _mappings[index];
            if (memo == 0)
            {
                ref readonly var m = ref _profile.Mappings[index];
                memo = HashStrings(m.Filename, m.BuildId, 0, m.MemoryStart, m.MemoryLimit, m.FileOffset);
            }
            return memo;
        }

        // Three strings (each length-prefixed) and three numbers, in one hash call.
        private ulong HashStrings(long a, long b, long c, ulong x, ulong y, ulong z)
        {
            var sa = _profile.Utf8(a);
            var sb = _profile.Utf8(b);
            var sc = _profile.Utf8(c);
            var length = 36 + sa.Length + sb.Length + sc.Length;
            var buffer = length <= _bytes.Length ? _bytes.AsSpan(0, length) : new byte[length];
            var at = Put(buffer, 0, sa);
            at = Put(buffer, at, sb);
            at = Put(buffer, at, sc);
            BinaryPrimitives.WriteUInt64LittleEndian(buffer[at..], x);
            BinaryPrimitives.WriteUInt64LittleEndian(buffer[(at + 8)..], y);
            BinaryPrimitives.WriteUInt64LittleEndian(buffer[(at + 16)..], z);
            return NonZero(XxHash3.HashToUInt64(buffer));
        }

        private static int Put(Span<byte> buffer, int at, ReadOnlySpan<byte> value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(buffer[at..], value.Length);
            value.CopyTo(buffer[(at + 4)..]);
            return at + 4 + value.Length;
        }

        private static ulong NonZero(ulong hash) => hash == 0 ? 1 : hash;

        public static ulong[] Rent(int count)
        {
            var array = ArrayPool<ulong>.Shared.Rent(Math.Max(count, 1));
            array.AsSpan(0, count).Clear();
            return array;
        }
    }
}
