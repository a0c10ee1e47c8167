using Kiln.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kiln.Server;

/// <summary>
/// Rolls up the store's time buckets once they ended a grace period ago and were not written to during it (most late
/// profiles have arrived by then; one that arrives later invalidates its bucket's roll-up; a backfill of old data is
/// left alone until it stops), every minute from two minutes after start.
/// </summary>
internal sealed partial class RollupService(IProfileStore store, TimeProvider time, ILogger<RollupService> logger) : BackgroundService
{
    private static readonly TimeSpan s_interval = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan s_grace = TimeSpan.FromMinutes(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Delay(TimeSpan.FromMinutes(2), time, stoppingToken).ConfigureAwait(false);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await store.RollUpAsync(time.GetUtcNow() - s_grace, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(logger, e);
            }
            await Task.Delay(s_interval, time, stoppingToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Roll-up pass failed; merges read raw samples until the next pass")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
