using System.Buffers;
using Kiln.Server.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Server.Tests;

public sealed class LargeBlockMemoryPoolTests : IDisposable
{
    private readonly string _dataDirectory = KilnProcess.CreateTempDirectory("kiln-pool-");

    public void Dispose() => KilnProcess.TryDeleteDirectory(_dataDirectory);

    [Fact]
    public async Task The_server_hands_kestrel_the_large_block_pool()
    {
        await using var app = KilnServer.Build(new KilnServerOptions { HttpAddress = "127.0.0.1:0", DataDirectory = _dataDirectory });

        Assert.IsType<LargeBlockMemoryPoolFactory>(app.Services.GetRequiredService<IMemoryPoolFactory<byte>>());
    }

    [Fact]
    public void Blocks_are_64_KiB_whatever_the_request_and_are_reused_once_returned()
    {
        using var pool = new LargeBlockMemoryPool();
        var first = pool.Rent(4096);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, first.Memory.Length);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, pool.Rent().Memory.Length);
        var block = first.Memory;
        first.Dispose();
        first.Dispose(); // a second dispose must not return the block twice

        var again = pool.Rent(1);
        Assert.True(again.Memory.Span.Overlaps(block.Span));
        Assert.False(pool.Rent(1).Memory.Span.Overlaps(block.Span));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(LargeBlockMemoryPool.BlockSize + 1));
    }
}
