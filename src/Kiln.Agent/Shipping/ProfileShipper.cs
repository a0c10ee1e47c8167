using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Kiln.Api.ProfileStore;
using Microsoft.Extensions.Logging;

namespace Kiln.Agent.Shipping;

/// <summary>
/// Sends windows of profiles to the server through WriteRaw, one request per window, oldest first. A window
/// leaves the buffer only when the server acknowledged it or refused its content; on any other failure it is
/// retried with exponential backoff. While the server is unreachable windows accumulate up to
/// <see cref="ShipperOptions.BufferSize"/>; beyond that the oldest is dropped, counted, and logged at most once a minute.
/// </summary>
public sealed partial class ProfileShipper : IDisposable
{
    /// <summary>The profile name of on-CPU samples from the agent (Parca's, so existing dashboards work).</summary>
    public const string ProfileName = "parca_agent";

    private readonly ShipperOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly GrpcChannel _channel;
    private readonly ProfileStoreService.ProfileStoreServiceClient _client;
    private readonly LinkedList<WriteRawRequest> _buffer = new();
    private readonly SemaphoreSlim _available = new(0);
    private readonly Lock _gate = new();
    private DateTimeOffset _lastOverflowLog = DateTimeOffset.MinValue;

    public ProfileShipper(ShipperOptions options, ILogger logger, TimeProvider? time = null)
    {
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        if (options.InsecureSkipVerify)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        }
        _channel = GrpcChannel.ForAddress(options.RemoteStoreAddress, new GrpcChannelOptions { HttpHandler = handler, MaxSendMessageSize = null });
        _client = new ProfileStoreService.ProfileStoreServiceClient(_channel);
    }

    /// <summary>What the shipper has done so far; read by the agent's /metrics.</summary>
    public ShipperCounters Counters { get; } = new();

    /// <summary>Windows waiting to be sent.</summary>
    public int BufferFill
    {
        get
        {
            lock (_gate)
            {
                return _buffer.Count;
            }
        }
    }

    /// <summary>Queues one window's profiles; never blocks. An empty window is not sent.</summary>
    public void Enqueue(IReadOnlyList<ShippedProfile> profiles)
    {
        if (profiles.Count == 0)
        {
            return;
        }
        var request = new WriteRawRequest { Normalized = true };
        foreach (var p in profiles)
        {
            var series = new RawProfileSeries { Labels = new LabelSet() };
            series.Labels.Labels.Add(new Label { Name = Kiln.Profiles.LabelSet.MetricName, Value = ProfileName });
            foreach (var l in p.Labels)
            {
                series.Labels.Labels.Add(new Label { Name = l.Name, Value = l.Value });
            }
            series.Samples.Add(new RawSample { RawProfile = ByteString.CopyFrom(p.Pprof) });
            request.Series.Add(series);
        }
        var dropped = 0;
        lock (_gate)
        {
            _buffer.AddLast(request);
            while (_buffer.Count > _options.BufferSize)
            {
                _buffer.RemoveFirst();
                dropped++;
            }
        }
        if (dropped > 0)
        {
            Counters.AddDropped(dropped);
            var now = _time.GetUtcNow();
            if (now - _lastOverflowLog >= TimeSpan.FromMinutes(1))
            {
                _lastOverflowLog = now;
                LogOverflow(_logger, _options.BufferSize, Counters.WindowsDropped);
            }
        }
        _available.Release();
    }

    private static readonly TimeSpan s_stopGrace = TimeSpan.FromSeconds(5);

    /// <summary>Sends until cancelled; then makes one last attempt at what is buffered.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromSeconds(1);
        // Stopping does not abort a send in flight (the server may already have stored it, and sending it again
        // would duplicate it on a server that does not deduplicate); it gets a few seconds to finish.
        using var abortSends = new CancellationTokenSource();
        using var onStop = cancellationToken.Register(() => abortSends.CancelAfter(s_stopGrace));
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            while (TryPeek(out var request))
            {
                var outcome = await SendAsync(request, abortSends.Token).ConfigureAwait(false);
                if (outcome == Outcome.Retry)
                {
                    try
                    {
                        await Task.Delay(Jitter(backoff), _time, cancellationToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
                    continue;
                }
                backoff = TimeSpan.FromSeconds(1);
                Remove(request);
            }
        }
        // Stopping: one attempt each for what is left, with a short deadline, so a clean stop loses nothing
        // the server could still take.
        using var final = new CancellationTokenSource(s_stopGrace);
        while (TryPeek(out var request) && await SendAsync(request, final.Token).ConfigureAwait(false) != Outcome.Retry)
        {
            Remove(request);
        }
    }

    private enum Outcome
    {
        Sent,
        Refused,
        Retry,
    }

    private async Task<Outcome> SendAsync(WriteRawRequest request, CancellationToken cancellationToken)
    {
        var headers = _options.BearerToken is { Length: > 0 } token ? new Metadata { { "authorization", $"Bearer {token}" } } : null;
        try
        {
            await _client.WriteRawAsync(request, headers, _time.GetUtcNow().UtcDateTime + _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
            Counters.AddSent(request.Series.Count, request.CalculateSize());
            return Outcome.Sent;
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.ResourceExhausted or StatusCode.Unauthenticated or StatusCode.PermissionDenied)
        {
            // Sending the same bytes again cannot succeed: count, log and move on.
            Counters.AddRefused(request.Series.Count);
            LogRefused(_logger, request.Series.Count, e.StatusCode, e.Status.Detail);
            return Outcome.Refused;
        }
        catch (RpcException e)
        {
            Counters.AddError();
            LogSendFailed(_logger, _options.RemoteStoreAddress, e.StatusCode, e.Status.Detail);
            return Outcome.Retry;
        }
    }

    private bool TryPeek(out WriteRawRequest request)
    {
        lock (_gate)
        {
            request = _buffer.First?.Value!;
            return request is not null;
        }
    }

    private void Remove(WriteRawRequest request)
    {
        lock (_gate)
        {
            // It may have been dropped by overflow meanwhile; remove by identity.
            _buffer.Remove(request);
        }
    }

    private static TimeSpan Jitter(TimeSpan backoff) => backoff * (0.8 + Random.Shared.NextDouble() * 0.4);

    public void Dispose()
    {
        _channel.Dispose();
        _available.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Profile buffer full ({Capacity} windows): dropping the oldest; {Total} windows dropped so far")]
    private static partial void LogOverflow(ILogger logger, int capacity, long total);

    [LoggerMessage(Level = LogLevel.Error, Message = "The server refused {Profiles} profile(s) ({Status}: {Detail}); they will not be retried")]
    private static partial void LogRefused(ILogger logger, int profiles, StatusCode status, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sending profiles to {Address} failed ({Status}: {Detail}); retrying with backoff")]
    private static partial void LogSendFailed(ILogger logger, string address, StatusCode status, string detail);
}

/// <summary>Totals kept by <see cref="ProfileShipper"/>.</summary>
public sealed class ShipperCounters
{
    private long _profilesSent;
    private long _bytesSent;
    private long _sendErrors;
    private long _profilesRefused;
    private long _windowsDropped;

    public long ProfilesSent => Interlocked.Read(ref _profilesSent);
    public long BytesSent => Interlocked.Read(ref _bytesSent);
    public long SendErrors => Interlocked.Read(ref _sendErrors);
    public long ProfilesRefused => Interlocked.Read(ref _profilesRefused);
    public long WindowsDropped => Interlocked.Read(ref _windowsDropped);

    internal void AddSent(int profiles, long bytes)
    {
        Interlocked.Add(ref _profilesSent, profiles);
        Interlocked.Add(ref _bytesSent, bytes);
    }

    internal void AddError() => Interlocked.Increment(ref _sendErrors);

    internal void AddRefused(int profiles) => Interlocked.Add(ref _profilesRefused, profiles);

    internal void AddDropped(int windows) => Interlocked.Add(ref _windowsDropped, windows);
}
