using Kiln.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kiln.Server;

/// <summary>Deletes data older than --retention: once shortly after start, then every hour.</summary>
internal sealed partial class RetentionService(IProfileStore store, KilnServerOptions options, TimeProvider time, ILogger<RetentionService> logger) : BackgroundService
{
    private static readonly TimeSpan s_interval = TimeSpan.FromHours(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Delay(TimeSpan.FromSeconds(30), time, stoppingToken).ConfigureAwait(false);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await store.DeleteBeforeAsync(time.GetUtcNow() - options.Retention, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(logger, e);
            }
            await Task.Delay(s_interval, time, stoppingToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Retention pass failed; it will run again in an hour")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
