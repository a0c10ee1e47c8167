using System.Runtime.CompilerServices;
using Kiln.Agent.Interop;

namespace Kiln.Agent.Bpf;

/// <summary>
/// A loaded BPF map, through its own fd. Keys and values are unmanaged structs whose sizes must
/// match the map's (checked once per call site by <see cref="CheckSizes{TKey, TValue}"/>).
/// </summary>
internal sealed class BpfMap(string name, SafeBpfMapHandle fd, uint keySize, uint valueSize) : IDisposable
{
    internal string Name { get; } = name;

    internal uint KeySize { get; } = keySize;

    internal uint ValueSize { get; } = valueSize;

    /// <summary>The map's file descriptor, for libbpf calls that take one (valid while this map is not disposed).</summary>
    internal int Fd => fd.Fd;

    internal void CheckSizes<TKey, TValue>(int valueCount = 1)
        where TKey : unmanaged
        where TValue : unmanaged
    {
        if (Unsafe.SizeOf<TKey>() != KeySize || Unsafe.SizeOf<TValue>() * valueCount != ValueSize)
        {
            throw new InvalidOperationException(
                $"BPF map '{Name}' has key/value sizes {KeySize}/{ValueSize} but the agent expects {Unsafe.SizeOf<TKey>()}/{Unsafe.SizeOf<TValue>() * valueCount} — rebuild profiler.bpf.o with src/Kiln.Agent/Bpf/build.sh");
        }
    }

    /// <summary>Looks <paramref name="key"/> up into <paramref name="value"/> (which may hold one value per CPU); false when absent.</summary>
    internal unsafe bool TryLookup<TKey, TValue>(in TKey key, Span<TValue> value)
        where TKey : unmanaged
        where TValue : unmanaged
    {
        int result;
        fixed (TKey* k = &key)
        fixed (TValue* v = value)
        {
            result = Libbpf.BpfMapLookupElem(fd.Fd, k, v);
        }
        return result == 0 || Fail(result, Errno.ENOENT, "lookup_elem");
    }

    internal unsafe void Update<TKey, TValue>(in TKey key, in TValue value)
        where TKey : unmanaged
        where TValue : unmanaged
    {
        int result;
        fixed (TKey* k = &key)
        fixed (TValue* v = &value)
        {
            result = Libbpf.BpfMapUpdateElem(fd.Fd, k, v, 0);
        }
        if (result != 0)
            Fail(result, -1, "update_elem");
    }

    /// <summary>Deletes <paramref name="key"/>; false when it was not there.</summary>
    internal unsafe bool Delete<TKey>(in TKey key)
        where TKey : unmanaged
    {
        int result;
        fixed (TKey* k = &key)
        {
            result = Libbpf.BpfMapDeleteElem(fd.Fd, k);
        }
        return result == 0 || Fail(result, Errno.ENOENT, "delete_elem");
    }

    /// <summary>The key after <paramref name="previous"/> (the first key when null); false at the end.</summary>
    internal unsafe bool TryGetNextKey<TKey>(TKey? previous, out TKey next)
        where TKey : unmanaged
    {
        int result;
        var prev = previous.GetValueOrDefault();
        fixed (TKey* n = &next)
        {
            result = Libbpf.BpfMapGetNextKey(fd.Fd, previous.HasValue ? &prev : null, n);
        }
        return result == 0 || Fail(result, Errno.ENOENT, "get_next_key");
    }

    public void Dispose() => fd.Dispose();

    /// <summary>Returns false for the one errno that means "not there", throws for anything else.</summary>
    private bool Fail(int result, int benign, string operation)
    {
        var errno = Libbpf.Errno(result);
        if (errno == benign)
            return false;
        throw new KernelCallException($"bpf_map_{operation}({Name})", errno, null, null);
    }
}
