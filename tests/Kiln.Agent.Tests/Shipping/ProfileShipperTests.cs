using System.Collections.Concurrent;
using System.Net;
using Grpc.Core;
using Kiln.Agent.Shipping;
using Kiln.Api.ProfileStore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ProfileLabelSet = Kiln.Profiles.LabelSet;

namespace Kiln.Agent.Tests.Shipping;

/// <summary>The shipper against an in-process gRPC ProfileStoreService whose answers each test scripts.</summary>
public sealed class ProfileShipperTests : IAsyncLifetime
{
    private readonly FakeStore _store = new();
    private WebApplication? _app;
    private string _address = "";

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_store);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        _app = builder.Build();
        _app.MapGrpcService<FakeStoreService>();
        await _app.StartAsync();
        _address = _app.Urls.Single();
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Windows_arrive_once_each_in_order()
    {
        using var shipper = Shipper();
        shipper.Enqueue([Profile(1)]);
        shipper.Enqueue([Profile(2), Profile(3)]);
        await RunUntilAsync(shipper, () => _store.Stored.Count == 2);

        Assert.Equal([[1], [2, 3]], _store.Stored.Select(Pids).ToArray());
        Assert.Equal(3, shipper.Counters.ProfilesSent);
        Assert.Equal(0, shipper.BufferFill);
    }

    [Fact]
    public async Task An_unavailable_server_is_retried_and_each_window_arrives_once()
    {
        _store.Script.Enqueue(StatusCode.Unavailable);
        _store.Script.Enqueue(StatusCode.Unavailable);
        using var shipper = Shipper();
        shipper.Enqueue([Profile(1)]);
        shipper.Enqueue([Profile(2)]);
        await RunUntilAsync(shipper, () => _store.Stored.Count == 2);

        Assert.Equal([[1], [2]], _store.Stored.Select(Pids).ToArray());
        Assert.Equal(2, shipper.Counters.SendErrors);
        Assert.Equal(4, _store.Calls);
    }

    [Fact]
    public async Task Refused_content_is_counted_and_not_sent_again()
    {
        _store.Script.Enqueue(StatusCode.InvalidArgument);
        using var shipper = Shipper();
        shipper.Enqueue([Profile(1)]);
        shipper.Enqueue([Profile(2)]);
        await RunUntilAsync(shipper, () => _store.Stored.Count == 1);

        Assert.Equal([[2]], _store.Stored.Select(Pids).ToArray());
        Assert.Equal(1, shipper.Counters.ProfilesRefused);
        Assert.Equal(2, _store.Calls);
    }

    [Fact]
    public async Task Beyond_the_buffer_size_the_oldest_windows_are_dropped_and_counted()
    {
        using var shipper = Shipper(bufferSize: 2);
        for (var pid = 1; pid <= 5; pid++)
        {
            shipper.Enqueue([Profile(pid)]);
        }
        Assert.Equal(2, shipper.BufferFill);
        Assert.Equal(3, shipper.Counters.WindowsDropped);

        await RunUntilAsync(shipper, () => _store.Stored.Count == 2);
        Assert.Equal([[4], [5]], _store.Stored.Select(Pids).ToArray());
    }

    [Fact]
    public async Task Stopping_lets_a_send_in_flight_finish_instead_of_sending_it_again()
    {
        _store.Delay = TimeSpan.FromSeconds(1);
        using var shipper = Shipper();
        shipper.Enqueue([Profile(1)]);
        using var stop = new CancellationTokenSource();
        var run = shipper.RunAsync(stop.Token);
        await WaitForAsync(() => _store.Calls == 1);
        await stop.CancelAsync();
        await run;

        Assert.Equal(1, _store.Calls);
        Assert.Equal([[1]], _store.Stored.Select(Pids).ToArray());
        Assert.Equal(0, shipper.BufferFill);
    }

    private ProfileShipper Shipper(int bufferSize = 60) =>
        new(new ShipperOptions { RemoteStoreAddress = _address, BufferSize = bufferSize }, NullLogger.Instance);

    private static ShippedProfile Profile(int pid) =>
        new(ProfileLabelSet.From(("pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture))), [0x0a, 0x00]);

    private static int[] Pids(WriteRawRequest request) =>
        request.Series.Select(s => int.Parse(s.Labels.Labels.Single(l => l.Name == "pid").Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Runs the shipper until <paramref name="done"/> holds, then stops it and waits for it to return.</summary>
    private static async Task RunUntilAsync(ProfileShipper shipper, Func<bool> done)
    {
        using var stop = new CancellationTokenSource();
        var run = shipper.RunAsync(stop.Token);
        await WaitForAsync(done);
        await stop.CancelAsync();
        await run;
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        // A generous bound that only ends a hung test; the shipper's first retries wait about 1 s and 2 s.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 30 s");
            await Task.Delay(20);
        }
    }

    /// <summary>What the fake server received and how it answers: scripted failures first, then success.</summary>
    internal sealed class FakeStore
    {
        private int _calls;

        public ConcurrentQueue<StatusCode> Script { get; } = new();

        public ConcurrentQueue<WriteRawRequest> Stored { get; } = new();

        public TimeSpan Delay { get; set; }

        public int Calls => Volatile.Read(ref _calls);

        public void CountCall() => Interlocked.Increment(ref _calls);
    }

    internal sealed class FakeStoreService(FakeStore store) : ProfileStoreService.ProfileStoreServiceBase
    {
        public override async Task<WriteRawResponse> WriteRaw(WriteRawRequest request, ServerCallContext context)
        {
            store.CountCall();
            if (store.Script.TryDequeue(out var status))
            {
                throw new RpcException(new Status(status, $"scripted {status}"));
            }
            if (store.Delay > TimeSpan.Zero)
            {
                // Not cancelled with the call: the store finishes what it accepted, as a real one does.
                await Task.Delay(store.Delay, CancellationToken.None);
            }
            store.Stored.Enqueue(request);
            return new WriteRawResponse();
        }
    }
}
