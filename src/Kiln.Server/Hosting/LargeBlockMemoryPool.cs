using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Kiln.Server.Hosting;

/// <summary>
/// Kestrel's memory pool with 64 KiB blocks instead of its default 4 KiB. A connection's socket is read into one
/// block at a time, so an agent's megabyte-sized WriteRaw request took some 300 receive calls and pipe segments;
/// with these blocks it takes about 20. Blocks live on the pinned object heap (the socket layer pins what it reads
/// into) and at most <see cref="MaxPooledBlocks"/> free ones are kept; the rest go back to the GC.
/// </summary>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;

    // 16 MiB of free blocks: enough for a few dozen requests in flight, bounded when a burst has passed.
    private const int MaxPooledBlocks = 256;

    private readonly ConcurrentQueue<byte[]> _free = new();
    private int _freeCount;

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        if (_free.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _freeCount);
        }
        else
        {
            block = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        }
        return new Lease(this, block);
    }

    private void Return(byte[] block)
    {
        if (Interlocked.Increment(ref _freeCount) <= MaxPooledBlocks)
        {
            _free.Enqueue(block);
        }
        else
        {
            Interlocked.Decrement(ref _freeCount);
        }
    }

    protected override void Dispose(bool disposing) => _free.Clear();

    private sealed class Lease(LargeBlockMemoryPool pool, byte[] block) : IMemoryOwner<byte>
    {
        private byte[]? _block = block;

        public Memory<byte> Memory => _block ?? throw new ObjectDisposedException(nameof(Lease));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _block, null) is { } b)
            {
                pool.Return(b);
            }
        }
    }
}

/// <summary>Hands Kestrel <see cref="LargeBlockMemoryPool"/>s (registered in place of its default factory).</summary>
internal sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
}
