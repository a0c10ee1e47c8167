using System.Diagnostics;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;
using Kiln.Api.Query;
using Kiln.Server.Hosting;
using Kiln.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Services;

/// <summary>
/// Once at start, asks the QueryService what a user opens first — the flame graph, the table and the metrics graph of
/// the newest profile type's last hour, the web UI's default range — and throws the answers away, so that the code
/// answering them is compiled before anyone waits for it. The server runs without tiered compilation (see
/// Kiln.Cli.csproj): a method is compiled, fully optimised, on its first call, and the first 1-hour merge after a start
/// took twice as long as the next. The flame graph is asked for over loopback, through Kestrel, like a client's query;
/// the rest in process. <c>/readyz</c> answers 503 until this is done. Not counted in the query metrics (the loopback
/// call carries <see cref="Header"/> with a secret of this process); an empty store skips it.
/// </summary>
internal sealed partial class QueryWarmup(IProfileStore store, IServer server, IHostApplicationLifetime lifetime, ILogger<QueryWarmup> logger)
    : BackgroundService
{
    /// <summary>The request header that marks the warm-up's own call over loopback; its value is this process's secret.</summary>
    internal const string Header = "kiln-warmup";

    private static readonly string s_secret = Guid.NewGuid().ToString("N");

    // The web UI's default range (DEFAULT_SIDE in ui/src/url.ts).
    private static readonly TimeSpan s_window = TimeSpan.FromHours(1);

    private volatile bool _done;

    /// <summary>True once the warm-up queries have run (or failed, or there was nothing to query).</summary>
    public bool IsDone => _done;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Off the host's start: Kestrel starts listening while this runs.
        await Task.Yield();
        try
        {
            var started = Stopwatch.GetTimestamp();
            if (await RunAsync(stoppingToken).ConfigureAwait(false))
            {
                // The warm-up's few hundred MB of garbage are collected now, not during the first user's query.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                LogWarmedUp(logger, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogFailed(logger, e);
        }
        finally
        {
            _done = true;
        }
    }

    private async Task<bool> RunAsync(CancellationToken cancellationToken)
    {
        var series = store.GetSeries(TimeRange.All);
        if (series.Count == 0)
        {
            return false;
        }
        var newest = series.MaxBy(s => s.MaxTimeNanos)!;
        var last = TimeRange.FromNanos(newest.MaxTimeNanos);
        var (start, end) = (Timestamp.FromDateTimeOffset(last - s_window), Timestamp.FromDateTimeOffset(last));
        var query = $"{newest.Type}{{}}";
        var service = new QueryGrpcService(store);
        var context = new CallContext(cancellationToken);
        QueryRequest Merge(QueryRequest.Types.ReportType report) => new()
        {
            Mode = QueryRequest.Types.Mode.Merge,
            Merge = new MergeProfile { Query = query, Start = start, End = end },
            ReportType = report,
        };
        // The flame graph through Kestrel as a client asks for it, so that HTTP/2, gRPC and sending its ~65 MB are
        // compiled and mapped too (~100 ms of JIT in Kestrel alone in the first query otherwise); in this process if
        // that call cannot be made.
        if (!await CallOverLoopbackAsync(Merge(QueryRequest.Types.ReportType.FlamegraphArrow), cancellationToken).ConfigureAwait(false))
        {
            await SerializeAsync(await service.Query(Merge(QueryRequest.Types.ReportType.FlamegraphArrow), context).ConfigureAwait(false)).ConfigureAwait(false);
        }
        await SerializeAsync(await service.Query(Merge(QueryRequest.Types.ReportType.TableArrow), context).ConfigureAwait(false)).ConfigureAwait(false);
        // As Grafana asks (a step) and as the web UI asks (no step, a point limit).
        foreach (var (step, limit) in new[] { (Duration.FromTimeSpan(TimeSpan.FromMinutes(1)), 0u), (null, 300u) })
        {
            var response = await service.QueryRange(new QueryRangeRequest
            {
                Query = query,
                Start = start,
                End = end,
                Step = step,
                Limit = limit,
            }, context).ConfigureAwait(false);
            await SerializeAsync(response).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>True when the call carries the warm-up's header with this process's secret (see <see cref="Header"/>).</summary>
    internal static bool IsOwnCall(ServerCallContext context) => context.RequestHeaders.GetValue(Header) == s_secret;

    /// <summary>
    /// Sends <paramref name="request"/> to this server's QueryService over loopback (gRPC over HTTP/2 without TLS, as
    /// agents and Grafana connect) and reads the answer to its end. False, having said why, when that fails.
    /// </summary>
    private async Task<bool> CallOverLoopbackAsync(QueryRequest request, CancellationToken cancellationToken)
    {
        // Kestrel binds its addresses once the host has started.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(started.SetResult))
        using (cancellationToken.Register(() => started.TrySetCanceled(cancellationToken)))
        {
            await started.Task.ConfigureAwait(false);
        }
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses
            .FirstOrDefault(a => a.StartsWith("http://", StringComparison.Ordinal) && !a.StartsWith("http://unix:", StringComparison.Ordinal));
        if (address is null)
        {
            return false;
        }
        var uri = new UriBuilder(address);
        uri.Host = uri.Host switch
        {
            "0.0.0.0" or "+" or "*" => "127.0.0.1",
            "[::]" => "[::1]",
            var host => host,
        };
        uri.Path = "/parca.query.v1alpha1.QueryService/Query";
        var body = request.ToByteArray();
        var framed = new byte[5 + body.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(framed.AsSpan(1), body.Length);
        body.CopyTo(framed, 5);
        try
        {
            await SendAsync(uri.Uri, framed, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or IOException)
        {
            LogLoopbackFailed(logger, uri.Uri, e);
            return false;
        }
    }

    private static async Task SendAsync(Uri uri, byte[] framed, CancellationToken cancellationToken)
    {
        using var http = new HttpClient();
        using var message = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(framed),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        message.Headers.TryAddWithoutValidation("te", "trailers");
        message.Headers.Add(Header, s_secret);
        using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await using (var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
        {
            await stream.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        }
        var status = response.TrailingHeaders.TryGetValues("grpc-status", out var values) ? values.FirstOrDefault() : null;
        if (status != "0")
        {
            throw new InvalidOperationException($"HTTP {(int)response.StatusCode}, grpc-status {status ?? "missing"}");
        }
    }

    /// <summary>
    /// Serializes <paramref name="response"/> as gRPC does, into a pipe of Kestrel's blocks (<see cref="LargeBlockMemoryPool"/>),
    /// and drops it: the first real answer then finds that code compiled and memory for its 65 MB of blocks mapped
    /// (written to a stream instead, the first 1-hour flame graph's serialization took ~120 ms instead of ~25).
    /// </summary>
    private static async Task SerializeAsync(IMessage response)
    {
        using var pool = new LargeBlockMemoryPool();
        var pipe = new Pipe(new PipeOptions(pool, minimumSegmentSize: LargeBlockMemoryPool.BlockSize, pauseWriterThreshold: 0, useSynchronizationContext: false));
        response.WriteTo(pipe.Writer);
        await pipe.Writer.CompleteAsync().ConfigureAwait(false);
        while (true)
        {
            var read = await pipe.Reader.ReadAsync().ConfigureAwait(false);
            pipe.Reader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                break;
            }
        }
        await pipe.Reader.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>The call context of a warm-up query: no peer, no headers, and the host's stopping token.</summary>
    internal sealed class CallContext(CancellationToken cancellationToken) : ServerCallContext
    {
        protected override string MethodCore => "warm-up";
        protected override string HostCore => "localhost";
        protected override string PeerCore => "local";
        protected override DateTime DeadlineCore => DateTime.MaxValue;
        protected override Metadata RequestHeadersCore { get; } = [];
        protected override CancellationToken CancellationTokenCore => cancellationToken;
        protected override Metadata ResponseTrailersCore { get; } = [];
        protected override Status StatusCore { get; set; }
        protected override WriteOptions? WriteOptionsCore { get; set; }
        protected override AuthContext AuthContextCore { get; } = new(null, []);
        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
            throw new NotSupportedException("warm-up queries make no outgoing calls");
        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Query paths warmed up in {Milliseconds} ms")]
    private static partial void LogWarmedUp(ILogger logger, long milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The query warm-up's call to {Uri} failed; warming up in process instead")]
    private static partial void LogLoopbackFailed(ILogger logger, Uri uri, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Query warm-up failed; the first queries will be slower")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
