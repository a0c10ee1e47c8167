using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Kiln.Api.Query;
using Kiln.Profiles;
using Kiln.Profiles.Selectors;
using Kiln.Query;
using Kiln.Storage;
using ProfileStoreLabel = Kiln.Api.ProfileStore.Label;
using ProfileStoreLabelSet = Kiln.Api.ProfileStore.LabelSet;

namespace Kiln.Server.Services;

/// <summary>
/// parca.query.v1alpha1.QueryService: what Grafana's Parca data source, Parca clients, the CLI and the UI ask.
/// Bad input (selector, time range, report type) is answered with InvalidArgument naming what is wrong.
/// </summary>
[BindServiceMethod(typeof(QueryServiceBinding), nameof(QueryServiceBinding.BindService))]
internal sealed class QueryGrpcService(IProfileStore store) : QueryService.QueryServiceBase
{
    // Above this many points per series, QueryRange buckets by a coarser step when the caller gave no limit.
    private const int DefaultPointLimit = 1000;

    public override Task<ProfileTypesResponse> ProfileTypes(ProfileTypesRequest request, ServerCallContext context) => Timed("ProfileTypes", context, () =>
    {
        var range = OptionalRange(request.Start, request.End);
        var response = new ProfileTypesResponse();
        foreach (var type in store.GetSeries(range).Select(s => s.Type).Distinct().OrderBy(t => t.ToString(), StringComparer.Ordinal))
        {
            response.Types_.Add(new Kiln.Api.Query.ProfileType
            {
                Name = type.Name,
                SampleType = type.SampleType,
                SampleUnit = type.SampleUnit,
                PeriodType = type.PeriodType,
                PeriodUnit = type.PeriodUnit,
                Delta = type.Delta,
            });
        }
        return Task.FromResult(response);
    });

    public override Task<LabelsResponse> Labels(LabelsRequest request, ServerCallContext context) => Timed("Labels", context, () =>
    {
        var series = FilterSeries(request.Match, OptionalRange(request.Start, request.End), request.HasProfileType ? request.ProfileType : null);
        var response = new LabelsResponse();
        response.LabelNames.AddRange(series.SelectMany(s => s.Labels).Select(l => l.Name).Distinct().Order(StringComparer.Ordinal));
        return Task.FromResult(response);
    });

    public override Task<ValuesResponse> Values(ValuesRequest request, ServerCallContext context) => Timed("Values", context, () =>
    {
        if (string.IsNullOrEmpty(request.LabelName))
        {
            throw Invalid("label_name is empty; name the label whose values you want, e.g. /profiles/labels/comm/values");
        }
        var series = FilterSeries(request.Match, OptionalRange(request.Start, request.End), request.HasProfileType ? request.ProfileType : null);
        var values = request.LabelName == LabelSet.MetricName
            ? series.Select(s => s.Type.Name)
            : series.Select(s => s.Labels.Get(request.LabelName)).Where(v => v.Length > 0);
        var response = new ValuesResponse();
        response.LabelValues.AddRange(values.Distinct().Order(StringComparer.Ordinal));
        return Task.FromResult(response);
    });

    public override Task<SeriesResponse> Series(SeriesRequest request, ServerCallContext context) => Timed("Series", context, () =>
    {
        var response = new SeriesResponse();
        foreach (var s in FilterSeries(request.Match, OptionalRange(request.Start, request.End), null))
        {
            var labelSet = ToLabelSet(s.Labels);
            labelSet.Labels.Insert(0, new ProfileStoreLabel { Name = LabelSet.MetricName, Value = s.Type.Name });
            response.Series.Add(labelSet);
        }
        return Task.FromResult(response);
    });

    public override Task<HasProfileDataResponse> HasProfileData(HasProfileDataRequest request, ServerCallContext context) =>
        Task.FromResult(new HasProfileDataResponse { HasData = store.GetSeries(TimeRange.All).Count > 0 });

    public override Task<ShareProfileResponse> ShareProfile(ShareProfileRequest request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented,
            "ShareProfile uploads to an external sharing service, which Kiln does not use; share the UI's URL (it holds the whole view) or download the profile as pprof"));

    public override Task<QueryRangeResponse> QueryRange(QueryRangeRequest request, ServerCallContext context) => Timed("QueryRange", context, async () =>
    {
        var selector = ParseQuery(request.Query, "query");
        var range = RequiredRange(request.Start, request.End);
        var step = request.Step?.ToTimeSpan() ?? TimeSpan.Zero;
        if (step < TimeSpan.Zero)
        {
            throw Invalid($"step {step} is negative; give a positive duration or none");
        }
        var limit = request.Limit > 0 ? (int)Math.Min(request.Limit, int.MaxValue) : DefaultPointLimit;
        var sumBy = request.SumBy.ToArray();
        if (step == TimeSpan.Zero && sumBy.Length > 0)
        {
            // Series summed together have profiles at different instants: align them on a common step.
            step = RangeSteps.Coarser(range, limit, TimeSpan.Zero);
        }
        (var series, step) = await store.QueryRangeAsync(selector, range, step, limit, context.CancellationToken).ConfigureAwait(false);
        var valueType = new Kiln.Api.Query.ValueType { Type = selector.Type.SampleType, Unit = selector.Type.SampleUnit };
        var periodType = new Kiln.Api.Query.ValueType { Type = selector.Type.PeriodType, Unit = selector.Type.PeriodUnit };
        var results = (sumBy.Length > 0 ? SumBy(series, sumBy) : series.Select(s => (s.Series.Labels, s.Points)))
            .Select(r => (ToLabelSet(r.Item1), r.Item2)).ToList();
        if (!IsGrpc(context))
        {
            return QueryRangeEncoding.Messages(results, step, valueType, periodType);
        }
        // Written straight to the stream by the method's marshaller (QueryRangeEncoding), not as messages.
        var response = new QueryRangeResponse();
        QueryRangeEncoding.Attach(response, results, step, valueType, periodType);
        return response;
    });

    public override Task<QueryResponse> Query(QueryRequest request, ServerCallContext context) => Timed("Query", context, async () =>
    {
        var keepLabels = GroupByLabels(request.GroupBy);
        var options = new ReportOptions
        {
            Filters = request.Filter.ToArray(),
            InvertCallStack = request.HasInvertCallStack && request.InvertCallStack,
            NodeTrimThreshold = request.HasNodeTrimThreshold ? request.NodeTrimThreshold : null,
            GroupBy = request.GroupBy?.Fields.ToArray() ?? [],
            AbsoluteDiff = request.Diff is { HasAbsolute: true, Absolute: true },
        };
        MergedStacks profile;
        MergedStacks? baseline = null;
        switch (request.Mode)
        {
            case QueryRequest.Types.Mode.Merge:
                if (request.Merge is null)
                {
                    throw Invalid("mode is MODE_MERGE but merge is not set; send merge{query, start, end}");
                }
                profile = await Merge(request.Merge, "merge", keepLabels, context.CancellationToken).ConfigureAwait(false);
                break;
            case QueryRequest.Types.Mode.SingleUnspecified:
                if (request.Single is null)
                {
                    throw Invalid("mode is MODE_SINGLE_UNSPECIFIED but single is not set; send single{time, query} (or choose MODE_MERGE with merge{...})");
                }
                profile = await Single(request.Single, "single", keepLabels, context.CancellationToken).ConfigureAwait(false);
                break;
            case QueryRequest.Types.Mode.Diff:
                if (request.Diff?.A is null || request.Diff.B is null)
                {
                    throw Invalid("mode is MODE_DIFF but diff.a or diff.b is not set; send both sides");
                }
                baseline = await Side(request.Diff.A, "diff.a", keepLabels, context.CancellationToken).ConfigureAwait(false);
                profile = await Side(request.Diff.B, "diff.b", keepLabels, context.CancellationToken).ConfigureAwait(false);
                break;
            default:
                throw Invalid($"unknown mode {(int)request.Mode}; expected MODE_SINGLE_UNSPECIFIED (0), MODE_DIFF (1) or MODE_MERGE (2)");
        }
        try
        {
            return ReportBuilder.Build(request.ReportType, profile, baseline, options);
        }
        catch (ArgumentException e)
        {
            throw Invalid(e.Message);
        }
    });

    private Task<MergedStacks> Side(ProfileDiffSelection side, string where, IReadOnlyCollection<string> keepLabels, CancellationToken cancellationToken) =>
        side.Mode switch
        {
            ProfileDiffSelection.Types.Mode.Merge when side.Merge is not null => Merge(side.Merge, $"{where}.merge", keepLabels, cancellationToken),
            ProfileDiffSelection.Types.Mode.SingleUnspecified when side.Single is not null => Single(side.Single, $"{where}.single", keepLabels, cancellationToken),
            _ => throw Invalid($"{where}: mode {side.Mode} needs {(side.Mode == ProfileDiffSelection.Types.Mode.Merge ? "merge" : "single")} to be set"),
        };

    private async Task<MergedStacks> Merge(MergeProfile merge, string where, IReadOnlyCollection<string> keepLabels, CancellationToken cancellationToken)
    {
        var selector = ParseQuery(merge.Query, $"{where}.query");
        var range = RequiredRange(merge.Start, merge.End, where);
        return await store.MergeAsync(selector, range, keepLabels, cancellationToken).ConfigureAwait(false) ?? EmptyProfile(selector.Type);
    }

    private async Task<MergedStacks> Single(SingleProfile single, string where, IReadOnlyCollection<string> keepLabels, CancellationToken cancellationToken)
    {
        var selector = ParseQuery(single.Query, $"{where}.query");
        if (single.Time is null)
        {
            throw Invalid($"{where}.time is not set; give the timestamp of the profile (a point of QueryRange)");
        }
        var t = TimeRange.ToNanos(single.Time.ToDateTimeOffset());
        return await store.MergeAsync(selector, new TimeRange(t, t + 1), keepLabels, cancellationToken).ConfigureAwait(false) ?? EmptyProfile(selector.Type);
    }

    private ProfileSelector ParseQuery(string query, string field)
    {
        if (string.IsNullOrWhiteSpace(query))
        {
            throw Invalid($"{field} is empty; expected a profile type and optional matchers, e.g. parca_agent:samples:count:cpu:nanoseconds:delta{{comm=\"python3\"}}");
        }
        ProfileSelector selector;
        try
        {
            selector = SelectorParser.ParseQuery(query);
        }
        catch (FormatException e)
        {
            throw Invalid($"{field}: {e.Message}");
        }
        var known = store.GetSeries(TimeRange.All).Select(s => s.Type).Distinct().ToList();
        if (!known.Contains(selector.Type))
        {
            var list = known.Count == 0 ? "none yet: nothing has been stored" : string.Join(", ", known.Select(t => t.ToString()).Order(StringComparer.Ordinal));
            throw new RpcException(new Status(StatusCode.NotFound, $"{field}: unknown profile type '{selector.Type}'; known types: {list}"));
        }
        return selector;
    }

    private List<SeriesInfo> FilterSeries(IEnumerable<string> match, TimeRange range, string? profileType)
    {
        Kiln.Profiles.ProfileType? type = null;
        if (!string.IsNullOrEmpty(profileType))
        {
            try
            {
                type = Kiln.Profiles.ProfileType.Parse(profileType);
            }
            catch (FormatException e)
            {
                throw Invalid($"profile_type: {e.Message}");
            }
        }
        var selectors = new List<IReadOnlyList<LabelMatcher>>();
        foreach (var m in match)
        {
            try
            {
                selectors.Add(SelectorParser.ParseMatchers(m));
            }
            catch (FormatException e)
            {
                throw Invalid($"match[] '{m}': {e.Message}");
            }
        }
        var result = new List<SeriesInfo>();
        foreach (var s in store.GetSeries(range, type))
        {
            if (selectors.Count == 0 || selectors.Any(matchers => matchers.All(m => m.Name == LabelSet.MetricName ? m.Matches(MetricName(m, s.Type)) : m.Matches(s.Labels))))
            {
                result.Add(s);
            }
        }
        return result;
    }

    // A match[] metric name may be the profile name (process_cpu) or a whole profile type id
    // (process_cpu:cpu:nanoseconds:cpu:nanoseconds:delta), which Prometheus syntax also allows.
    private static string MetricName(LabelMatcher matcher, Kiln.Profiles.ProfileType type) =>
        matcher.Value.Contains(':', StringComparison.Ordinal) ? type.ToString() : type.Name;

    private static IEnumerable<(LabelSet Labels, IReadOnlyList<MetricPoint> Points)> SumBy(IReadOnlyList<SeriesPoints> series, string[] sumBy)
    {
        var groups = new Dictionary<LabelSet, SortedDictionary<long, MetricPoint>>();
        foreach (var s in series)
        {
            var key = s.Series.Labels.Keep(sumBy);
            if (!groups.TryGetValue(key, out var points))
            {
                groups[key] = points = [];
            }
            foreach (var p in s.Points)
            {
                points[p.TimeNanos] = points.TryGetValue(p.TimeNanos, out var existing)
                    ? new MetricPoint(p.TimeNanos, existing.Value + p.Value, existing.DurationNanos + p.DurationNanos, existing.Count + p.Count)
                    : p;
            }
        }
        return groups.OrderBy(g => g.Key.ToString(), StringComparer.Ordinal).Select(g => (g.Key, (IReadOnlyList<MetricPoint>)g.Value.Values.ToList()));
    }

    /// <summary>
    /// Whether the call came as gRPC or gRPC-Web, whose responses the method's marshaller writes; REST/JSON calls
    /// (JSON transcoding) and the warm-up's in-process calls get messages.
    /// </summary>
    private static bool IsGrpc(ServerCallContext context) =>
        context is not QueryWarmup.CallContext
        && context.GetHttpContext().Request.ContentType is { } type
        && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    private static IReadOnlyCollection<string> GroupByLabels(GroupBy? groupBy)
    {
        if (groupBy is null)
        {
            return [];
        }
        var labels = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in groupBy.Fields)
        {
            if (field.StartsWith("labels.", StringComparison.Ordinal))
            {
                labels.Add(field["labels.".Length..]);
            }
        }
        return labels;
    }

    private static MergedStacks EmptyProfile(Kiln.Profiles.ProfileType type) => new(type, 0, 0, 0);

    private static ProfileStoreLabelSet ToLabelSet(LabelSet labels)
    {
        var set = new ProfileStoreLabelSet();
        foreach (var l in labels)
        {
            set.Labels.Add(new ProfileStoreLabel { Name = l.Name, Value = l.Value });
        }
        return set;
    }

    private static TimeRange OptionalRange(Timestamp? start, Timestamp? end) => new(
        start is null || (start.Seconds == 0 && start.Nanos == 0) ? long.MinValue : TimeRange.ToNanos(start.ToDateTimeOffset()),
        end is null || (end.Seconds == 0 && end.Nanos == 0) ? long.MaxValue : TimeRange.ToNanos(end.ToDateTimeOffset()) + 1);

    private static TimeRange RequiredRange(Timestamp? start, Timestamp? end, string where = "")
    {
        var prefix = where.Length > 0 ? where + "." : "";
        if (start is null || end is null)
        {
            throw Invalid($"{prefix}start and {prefix}end are both required (Unix timestamps)");
        }
        var range = new TimeRange(TimeRange.ToNanos(start.ToDateTimeOffset()), TimeRange.ToNanos(end.ToDateTimeOffset()) + 1);
        if (range.EndNanos <= range.StartNanos)
        {
            throw Invalid($"{prefix}end ({end}) is before {prefix}start ({start})");
        }
        return range;
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    // Warm-up queries (QueryWarmup) are not users' queries: they are left out of the metrics.
    private static async Task<T> Timed<T>(string rpc, ServerCallContext context, Func<Task<T>> body)
    {
        if (context is QueryWarmup.CallContext || QueryWarmup.IsOwnCall(context))
        {
            // Not observed, but the RPC's latency series is created (at zero, as Prometheus advises) and the code
            // that finds it compiled before a user's first query.
            KilnMetrics.QueryDuration.WithLabels(rpc);
            return await body().ConfigureAwait(false);
        }
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.NotFound)
        {
            KilnMetrics.RejectedRequests.WithLabels("bad_query").Inc();
            throw;
        }
        finally
        {
            KilnMetrics.QueryDuration.WithLabels(rpc).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }
}
