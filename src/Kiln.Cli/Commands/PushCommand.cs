using System.CommandLine;
using Google.Protobuf;
using Grpc.Core;
using Kiln.Api.ProfileStore;
using Kiln.Profiles;
using Label = Kiln.Api.ProfileStore.Label;
using LabelSet = Kiln.Api.ProfileStore.LabelSet;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln push FILE… --label k=v</c>: send pprof files to the server through WriteRaw.</summary>
internal static class PushCommand
{
    public static Command Create()
    {
        var files = new Argument<string[]>("files") { Description = "pprof files (gzip-compressed or raw)", Arity = ArgumentArity.OneOrMore };
        var labels = new Option<string[]>("--label", "-l") { Description = "A series label NAME=VALUE (repeatable)", AllowMultipleArgumentsPerToken = false };
        var name = new Option<string?>("--name") { Description = "Profile name (__name__); by default derived from the file's sample types (process_cpu, memory, goroutine, mutex, block)" };
        var address = new Option<string>("--address") { Description = "Server address", DefaultValueFactory = _ => ServerClient.DefaultAddress };
        var command = new Command("push", "Send pprof files to a Kiln (or Parca) server.") { files, labels, name, address };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var addressValue = parse.GetValue(address)!;
            var request = new WriteRawRequest();
            try
            {
                var seriesLabels = ParseLabels(parse.GetValue(labels) ?? []);
                foreach (var file in parse.GetValue(files)!)
                {
                    var bytes = await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
                    Kiln.Profiles.Pprof.Profile profile;
                    try
                    {
                        profile = PprofCodec.Decode(bytes);
                    }
                    catch (PprofFormatException e)
                    {
                        throw new ArgumentException($"{file}: {e.Message}");
                    }
                    var series = new RawProfileSeries { Labels = new LabelSet() };
                    series.Labels.Labels.Add(new Label { Name = Kiln.Profiles.LabelSet.MetricName, Value = parse.GetValue(name) ?? DeriveName(profile) });
                    foreach (var (k, v) in seriesLabels)
                    {
                        series.Labels.Labels.Add(new Label { Name = k, Value = v });
                    }
                    series.Samples.Add(new RawSample { RawProfile = ByteString.CopyFrom(bytes) });
                    request.Series.Add(series);
                }
            }
            catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"kiln push: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }
            try
            {
                using var channel = ServerClient.Open(addressValue);
                var client = new ProfileStoreService.ProfileStoreServiceClient(channel);
                await client.WriteRawAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                await Console.Error.WriteLineAsync($"kiln push: {ServerClient.Describe(e, addressValue)}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (ArgumentException e)
            {
                await Console.Error.WriteLineAsync($"kiln push: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }
            await Console.Out.WriteLineAsync($"pushed {request.Series.Count} profile(s) to {addressValue}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static List<(string Name, string Value)> ParseLabels(string[] labels)
    {
        var result = new List<(string, string)>();
        foreach (var l in labels)
        {
            var eq = l.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ArgumentException($"--label '{l}' is not NAME=VALUE");
            }
            result.Add((l[..eq], l[(eq + 1)..]));
        }
        return result;
    }

    /// <summary>Parca's names for the kinds of profile Go and other runtimes produce, from the sample types.</summary>
    internal static string DeriveName(Kiln.Profiles.Pprof.Profile profile)
    {
        var types = profile.SampleType.Select(t => profile.StringTable[(int)t.Type]).ToHashSet(StringComparer.Ordinal);
        if (types.Contains("cpu"))
        {
            return "process_cpu";
        }
        if (types.Overlaps(["inuse_space", "alloc_space", "inuse_objects", "alloc_objects"]))
        {
            return "memory";
        }
        if (types.Contains("goroutine"))
        {
            return "goroutine";
        }
        if (types.Contains("contentions") || types.Contains("delay"))
        {
            var period = profile.PeriodType is null ? "" : profile.StringTable[(int)profile.PeriodType.Type];
            return period == "contentions" ? "mutex" : "block";
        }
        return "profile";
    }
}
