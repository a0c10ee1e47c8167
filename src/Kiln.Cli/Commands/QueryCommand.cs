using System.CommandLine;
using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Kiln.Api.Query;
using Kiln.Profiles;
using Kiln.Server;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln query SELECTOR --from --to --mode --output</c>: fetch a merged, single or diff profile.</summary>
internal static class QueryCommand
{
    public static Command Create()
    {
        var selector = new Argument<string>("selector") { Description = "Profile type and matchers, e.g. 'process_cpu:cpu:nanoseconds:cpu:nanoseconds:delta{job=\"api\"}'" };
        var from = new Option<string>("--from") { Description = "Start: RFC 3339, Unix seconds, or relative to now (-1h, now-30m)", DefaultValueFactory = _ => "-1h" };
        var to = new Option<string>("--to") { Description = "End, in the same forms as --from", DefaultValueFactory = _ => "now" };
        var mode = new Option<string>("--mode") { Description = "merge (all profiles in the range), single (the profile at --from), diff (--diff-selector/--diff-from/--diff-to as the base)", DefaultValueFactory = _ => "merge" };
        mode.AcceptOnlyFromAmong("merge", "single", "diff");
        var output = new Option<string>("--output", "-o") { Description = "top, folded, pprof or json", DefaultValueFactory = _ => "top" };
        output.AcceptOnlyFromAmong("top", "folded", "pprof", "json");
        var outFile = new Option<string?>("--out") { Description = "Write to this file instead of standard output" };
        var diffSelector = new Option<string?>("--diff-selector") { Description = "diff mode: selector of the base (default: the same selector)" };
        var diffFrom = new Option<string?>("--diff-from") { Description = "diff mode: start of the base range" };
        var diffTo = new Option<string?>("--diff-to") { Description = "diff mode: end of the base range" };
        var address = new Option<string>("--address") { Description = "Server address", DefaultValueFactory = _ => ServerClient.DefaultAddress };
        var command = new Command("query", "Query profiles from a Kiln (or Parca) server.")
        {
            selector, from, to, mode, output, outFile, diffSelector, diffFrom, diffTo, address,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var addressValue = parse.GetValue(address)!;
            var outputValue = parse.GetValue(output)!;
            QueryRequest request;
            try
            {
                var now = DateTimeOffset.UtcNow;
                var start = ParseTime(parse.GetValue(from)!, now, "--from");
                var end = ParseTime(parse.GetValue(to)!, now, "--to");
                var query = parse.GetValue(selector)!;
                request = new QueryRequest
                {
                    ReportType = outputValue switch
                    {
                        "top" or "json" => QueryRequest.Types.ReportType.Top,
                        _ => QueryRequest.Types.ReportType.Pprof,
                    },
                };
                switch (parse.GetValue(mode))
                {
                    case "single":
                        request.Mode = QueryRequest.Types.Mode.SingleUnspecified;
                        request.Single = new SingleProfile { Query = query, Time = Timestamp.FromDateTimeOffset(start) };
                        break;
                    case "diff":
                        var baseStart = parse.GetValue(diffFrom) is { } df ? ParseTime(df, now, "--diff-from") : start;
                        var baseEnd = parse.GetValue(diffTo) is { } dt ? ParseTime(dt, now, "--diff-to") : end;
                        request.Mode = QueryRequest.Types.Mode.Diff;
                        request.Diff = new DiffProfile
                        {
                            A = new ProfileDiffSelection { Mode = ProfileDiffSelection.Types.Mode.Merge, Merge = Merge(parse.GetValue(diffSelector) ?? query, baseStart, baseEnd) },
                            B = new ProfileDiffSelection { Mode = ProfileDiffSelection.Types.Mode.Merge, Merge = Merge(query, start, end) },
                        };
                        break;
                    default:
                        request.Mode = QueryRequest.Types.Mode.Merge;
                        request.Merge = Merge(query, start, end);
                        break;
                }
            }
            catch (ArgumentException e)
            {
                await Console.Error.WriteLineAsync($"kiln query: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            QueryResponse response;
            try
            {
                using var channel = ServerClient.Open(addressValue);
                response = await new QueryService.QueryServiceClient(channel).QueryAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                await Console.Error.WriteLineAsync($"kiln query: {ServerClient.Describe(e, addressValue)}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (ArgumentException e)
            {
                await Console.Error.WriteLineAsync($"kiln query: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            var target = parse.GetValue(outFile);
            await using var stream = target is null ? Console.OpenStandardOutput() : File.Create(target);
            switch (outputValue)
            {
                case "pprof":
                    await stream.WriteAsync(response.Pprof.Memory, cancellationToken).ConfigureAwait(false);
                    break;
                case "folded":
                    await WriteText(stream, FoldedStacks.ToFolded(PprofCodec.Decode(response.Pprof.Span)), cancellationToken).ConfigureAwait(false);
                    break;
                case "json":
                    await WriteText(stream, JsonFormatter.Default.Format(response) + "\n", cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    await WriteText(stream, FormatTop(response.Top, response.Total), cancellationToken).ConfigureAwait(false);
                    break;
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static MergeProfile Merge(string query, DateTimeOffset start, DateTimeOffset end) =>
        new() { Query = query, Start = Timestamp.FromDateTimeOffset(start), End = Timestamp.FromDateTimeOffset(end) };

    private static async Task WriteText(Stream stream, string text, CancellationToken cancellationToken) =>
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), cancellationToken).ConfigureAwait(false);

    /// <summary>A `go tool pprof -top`-like table: flat, flat%, sum%, cum, cum%, name.</summary>
    internal static string FormatTop(Top top, long total)
    {
        var sb = new System.Text.StringBuilder();
        var denominator = total > 0 ? total : Math.Max(1, top.List.Sum(n => n.Flat));
        sb.AppendLine(CultureInfo.InvariantCulture, $"unit: {top.Unit}, total: {denominator}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"flat",14} {"flat%",7} {"sum%",7} {"cum",14} {"cum%",7}  name");
        double sum = 0;
        foreach (var node in top.List)
        {
            sum += node.Flat;
            var name = node.Meta?.Function?.Name is { Length: > 0 } fn ? fn : $"0x{node.Meta?.Location?.Address ?? 0:x}";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{node.Flat,14} {100.0 * node.Flat / denominator,6:F2}% {100.0 * sum / denominator,6:F2}% {node.Cumulative,14} {100.0 * node.Cumulative / denominator,6:F2}%  {name}");
        }
        return sb.ToString();
    }

    /// <summary>Parses RFC 3339, Unix seconds, "now", or a duration relative to now ("-1h", "now-30m").</summary>
    internal static DateTimeOffset ParseTime(string text, DateTimeOffset now, string flag)
    {
        var t = text.Trim();
        if (t == "now")
        {
            return now;
        }
        var relative = t.StartsWith("now-", StringComparison.Ordinal) ? t[4..] : t.StartsWith('-') ? t[1..] : null;
        if (relative is not null && KilnServerOptions.TryParseDuration(relative, out var ago))
        {
            return now - ago;
        }
        if (long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return DateTimeOffset.FromUnixTimeSeconds(seconds);
        }
        if (DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var absolute))
        {
            return absolute;
        }
        throw new ArgumentException($"{flag} '{text}' is not a time; use RFC 3339 (2026-11-24T10:00:00Z), Unix seconds, 'now', or a relative time like -1h or now-30m");
    }
}
