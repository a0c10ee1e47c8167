using System.Text.RegularExpressions;
using Kiln.Api.ProfileStore;
using Kiln.Profiles;
using Kiln.Storage;
using Label = Kiln.Profiles.Label;
using LabelSet = Kiln.Profiles.LabelSet;

namespace Kiln.Server.Ingest;

/// <summary>
/// Turns a WriteRaw request into stored profiles: checks series labels, decodes and validates every pprof, and
/// splits each into one profile per sample type (each its own profile type, e.g. Go's CPU profile gives
/// <c>samples:count</c> and <c>cpu:nanoseconds</c>). The whole request is checked before anything is stored.
/// </summary>
internal sealed partial class RawProfileIngester(IProfileStore store, TimeProvider time)
{
    private readonly PprofViewPool _views = new();

    public async Task<WriteStats> IngestAsync(WriteRawRequest request, CancellationToken cancellationToken)
    {
        var profiles = new List<IngestProfile>();
        var views = new List<PprofView>();
        try
        {
            long bytes = 0;
            for (var i = 0; i < request.Series.Count; i++)
            {
                var series = request.Series[i];
                var (name, labels) = SeriesLabels(series, i);
                for (var j = 0; j < series.Samples.Count; j++)
                {
                    var raw = series.Samples[j].RawProfile;
                    var where = $"series[{i}].samples[{j}].raw_profile";
                    if (raw.IsEmpty)
                    {
                        throw new IngestException("empty_profile", $"{where} is empty; send a pprof profile (gzip-compressed or raw)");
                    }
                    var view = _views.Rent();
                    views.Add(view);
                    try
                    {
                        view.Parse(raw.Memory);
                    }
                    catch (PprofFormatException e)
                    {
                        throw new IngestException("malformed_pprof", $"{where}: {e.Message}");
                    }
                    bytes += raw.Length;
                    AddProfiles(profiles, name, labels, view, where);
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
            // Not cancellable once queued: the writer reads the pooled views until it finishes, and an
            // accepted write is carried out even when the client has gone.
            var stats = await store.WriteAsync(profiles, CancellationToken.None).ConfigureAwait(false);
            KilnMetrics.ProfilesIngested.Inc(profiles.Count);
            KilnMetrics.SamplesIngested.Inc(stats.SampleRows);
            KilnMetrics.BytesIngested.Inc(bytes);
            return stats;
        }
        finally
        {
            // The store has finished with the views once WriteAsync completed (or was never called).
            foreach (var view in views)
            {
                _views.Return(view);
            }
        }
    }

    private void AddProfiles(List<IngestProfile> profiles, string name, LabelSet labels, PprofView profile, string where)
    {
        var sampleTypes = profile.SampleTypes;
        if (sampleTypes.Length == 0)
        {
            throw new IngestException("malformed_pprof", $"{where} declares no sample_type; a profile needs at least one (e.g. samples/count)");
        }
        var periodType = profile.HasPeriodType ? profile.String(profile.PeriodType) : "";
        var periodUnit = profile.HasPeriodType ? profile.String(profile.PeriodUnit) : "";
        var timeNanos = profile.TimeNanos != 0 ? profile.TimeNanos : TimeRange.ToNanos(time.GetUtcNow());
        for (var k = 0; k < sampleTypes.Length; k++)
        {
            var sampleType = profile.String(sampleTypes[k].Type);
            var sampleUnit = profile.String(sampleTypes[k].Unit);
            if (sampleType.Length == 0 || sampleUnit.Length == 0)
            {
                throw new IngestException("malformed_pprof", $"{where}: sample_type[{k}] has an empty type or unit; both are needed to name the profile type");
            }
            var type = new ProfileType(name, sampleType, sampleUnit,
                periodType.Length > 0 ? periodType : sampleType,
                periodUnit.Length > 0 ? periodUnit : sampleUnit,
                IsDelta(profile.DurationNanos, sampleType));
            profiles.Add(new IngestProfile(type, labels, profile, k, timeNanos, profile.DurationNanos));
        }
    }

    // A profile that covers a duration holds what happened in it and sums over time (CPU, allocations,
    // contention); in-use memory and goroutine counts are snapshots and do not.
    private static bool IsDelta(long durationNanos, string sampleType) =>
        durationNanos > 0 && !sampleType.StartsWith("inuse", StringComparison.Ordinal) && sampleType != "goroutine";

    private static (string Name, LabelSet Labels) SeriesLabels(RawProfileSeries series, int index)
    {
        string? name = null;
        var labels = new List<Label>();
        foreach (var l in series.Labels?.Labels ?? [])
        {
            if (!LabelNamePattern().IsMatch(l.Name))
            {
                throw new IngestException("bad_label", $"series[{index}] has label name '{l.Name}', which is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)");
            }
            if (l.Name == LabelSet.MetricName)
            {
                name = l.Value;
            }
            else
            {
                labels.Add(new Label(l.Name, l.Value));
            }
        }
        if (string.IsNullOrEmpty(name))
        {
            throw new IngestException("missing_name", $"series[{index}] has no __name__ label; every series needs one naming the profile, e.g. __name__=\"parca_agent\" or \"process_cpu\"");
        }
        if (name.Contains(':', StringComparison.Ordinal))
        {
            throw new IngestException("bad_label", $"series[{index}] __name__ '{name}' contains ':', which separates the parts of a profile type");
        }
        return (name, LabelSet.From(labels));
    }

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelNamePattern();
}

/// <summary>A write refused for its content; <see cref="Reason"/> is the metric label.</summary>
internal sealed class IngestException(string reason, string message) : Exception(message)
{
    public string Reason { get; } = reason;
}
