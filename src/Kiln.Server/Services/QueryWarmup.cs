using System.Diagnostics;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using System.IO.Pipelines;
using Grpc.Core;
using Kiln.Api.Query;
using Kiln.Server.Hosting;
using Kiln.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Services;

/// <summary>
/// Once at start, asks the QueryService what a user opens first — the flame graph, the table and the metrics graph of
/// the newest profile type's last hour, the web UI's default range — and throws the answers away, so that the code
/// answering them is compiled before anyone waits for it. The server runs without tiered compilation (see
/// Kiln.Cli.csproj): a method is compiled, fully optimised, on its first call, and the first 1-hour merge after a start
/// took twice as long as the next. <c>/readyz</c> answers 503 until this is done. Not counted in the query metrics; an
/// empty store skips it.
/// </summary>
internal sealed partial class QueryWarmup(IProfileStore store, ILogger<QueryWarmup> logger) : BackgroundService
{
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
        foreach (var report in new[] { QueryRequest.Types.ReportType.FlamegraphArrow, QueryRequest.Types.ReportType.TableArrow })
        {
            var response = await service.Query(new QueryRequest
            {
                Mode = QueryRequest.Types.Mode.Merge,
                Merge = new MergeProfile { Query = query, Start = start, End = end },
                ReportType = report,
            }, context).ConfigureAwait(false);
            await SerializeAsync(response).ConfigureAwait(false);
        }
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Query warm-up failed; the first queries will be slower")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
