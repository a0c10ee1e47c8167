using Prometheus;

namespace Kiln.Server;

/// <summary>The server's Prometheus metrics, exposed on /metrics.</summary>
internal static class KilnMetrics
{
    public static readonly Counter ProfilesIngested = Metrics.CreateCounter(
        "kiln_ingested_profiles_total", "Profiles (one per series and sample type) stored.");

    public static readonly Counter SamplesIngested = Metrics.CreateCounter(
        "kiln_ingested_samples_total", "Sample rows stored.");

    public static readonly Counter BytesIngested = Metrics.CreateCounter(
        "kiln_ingested_bytes_total", "Raw pprof bytes received in accepted writes.");

    public static readonly Counter RejectedRequests = Metrics.CreateCounter(
        "kiln_rejected_requests_total", "Requests refused, by reason.", "reason");

    public static readonly Histogram QueryDuration = Metrics.CreateHistogram(
        "kiln_query_duration_seconds", "Time to answer a query, by RPC.",
        new HistogramConfiguration
        {
            LabelNames = ["rpc"],
            Buckets = Histogram.ExponentialBuckets(0.001, 2, 16),
        });

    public static readonly Gauge StoreSize = Metrics.CreateGauge(
        "kiln_store_size_bytes", "Size of the store's files on disk.");

    public static readonly Counter GcPause = Metrics.CreateCounter(
        "kiln_gc_pause_seconds_total", "Time the .NET garbage collector has paused the server's threads since it started.");

    public static readonly Counter StoreCommits = Metrics.CreateCounter(
        "kiln_store_commits_total", "Transactions that stored writes; concurrent writes share one.");
}
