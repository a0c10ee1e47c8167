using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Kiln.Api.ProfileStore;

namespace Kiln.Server.Tests;

/// <summary>
/// The synthetic data set the API tests push and then query. Every profile has two stacks,
/// main;serve;parse and main;serve;gzip, with the values below, so every merge, bucket and diff has a
/// value that can be computed by hand.
/// <code>
///   series                            t(s)  parse  gzip  total
///   S1 {instance=a, job=api}             0     10     1     11
///   S1                                  10     18     4     22
///   S1                                  20     30     6     36
///   S2 {instance=b, job=api}            10    100    10    110
///   S2                                  30    200    20    220
///   S3 {instance=c, job=db, zone=eu}    20   1000   100   1100
/// </code>
/// Each is a 10 s profile of type samples/count + cpu/nanoseconds (cpu = count × 10 ms), so it becomes two
/// profile types. One more, a memory in-use profile (not delta) of S1's labels at t=5 s, holds 4096 bytes in parse.
/// </summary>
public static class SyntheticData
{
    public const string Count = "synthetic:samples:count:cpu:nanoseconds:delta";
    public const string Cpu = "synthetic:cpu:nanoseconds:cpu:nanoseconds:delta";
    public const string Memory = "memory:inuse_space:bytes:space:bytes";

    public const long CpuPerSample = 10_000_000;
    public static readonly TimeSpan Duration = TimeSpan.FromSeconds(10);

    public static readonly string[] ParseStack = ["main", "serve", "parse"];
    public static readonly string[] GzipStack = ["main", "serve", "gzip"];

    public sealed record Point(string Instance, int Seconds, long Parse, long Gzip)
    {
        public long Total => Parse + Gzip;
    }

    public static readonly Point[] Points =
    [
        new("a", 0, 10, 1),
        new("a", 10, 18, 4),
        new("a", 20, 30, 6),
        new("b", 10, 100, 10),
        new("b", 30, 200, 20),
        new("c", 20, 1000, 100),
    ];

    public static (string Name, string Value)[] LabelsOf(string instance) => instance switch
    {
        "a" => [("instance", "a"), ("job", "api")],
        "b" => [("instance", "b"), ("job", "api")],
        _ => [("instance", "c"), ("job", "db"), ("zone", "eu")],
    };

    /// <summary>A whole minute about an hour ago: inside the default 15 d retention, and whole seconds for QueryRange.</summary>
    public static DateTimeOffset NewEpoch()
    {
        var now = DateTimeOffset.UtcNow.AddHours(-1);
        return new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
    }

    public static byte[] CpuProfile(DateTimeOffset time, long parse, long gzip) =>
        new PprofBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"), CpuPerSample, time, Duration)
            .Sample([parse, parse * CpuPerSample], ParseStack)
            .Sample([gzip, gzip * CpuPerSample], GzipStack)
            .Gzip();

    public static byte[] MemoryProfile(DateTimeOffset time) =>
        new PprofBuilder([("inuse_space", "bytes")], ("space", "bytes"), 512 * 1024, time, TimeSpan.Zero)
            .Sample([4096], ParseStack)
            .Gzip();

    /// <summary>One WriteRaw request holding one profile.</summary>
    public static WriteRawRequest Request(string name, (string Name, string Value)[] labels, byte[] rawProfile)
    {
        var series = new RawProfileSeries { Labels = new LabelSet() };
        series.Labels.Labels.Add(new Label { Name = "__name__", Value = name });
        foreach (var (k, v) in labels)
        {
            series.Labels.Labels.Add(new Label { Name = k, Value = v });
        }
        series.Samples.Add(new RawSample { RawProfile = ByteString.CopyFrom(rawProfile) });
        var request = new WriteRawRequest();
        request.Series.Add(series);
        return request;
    }

    /// <summary>Pushes the whole data set, one WriteRaw per profile, each acknowledged before the next.</summary>
    public static async Task PushAllAsync(ProfileStoreService.ProfileStoreServiceClient client, DateTimeOffset t0)
    {
        foreach (var p in Points)
        {
            await client.WriteRawAsync(Request("synthetic", LabelsOf(p.Instance), CpuProfile(t0.AddSeconds(p.Seconds), p.Parse, p.Gzip)));
        }
        await client.WriteRawAsync(Request("memory", LabelsOf("a"), MemoryProfile(t0.AddSeconds(5))));
    }

    public static Timestamp At(DateTimeOffset t0, int seconds) => Timestamp.FromDateTimeOffset(t0.AddSeconds(seconds));
}
