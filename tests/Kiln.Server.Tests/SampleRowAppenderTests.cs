using Google.Protobuf;
using Kiln.Profiles;
using Kiln.Profiles.Pprof;
using Kiln.Profiles.Selectors;
using Kiln.Storage;
using Kiln.Storage.DuckDb;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kiln.Server.Tests;

/// <summary>
/// Sample rows go into DuckDB a data chunk (2,048 rows) at a time (<c>SampleRowAppender</c>): a write of several
/// profiles whose rows fill several chunks and end in a partial one stores every row with its own series, time, stack
/// and value, and they are there after a restart.
/// </summary>
public sealed class SampleRowAppenderTests : IDisposable
{
    private static readonly ProfileType s_type = ProfileType.Parse("test:samples:count:cpu:nanoseconds:delta");
    private static readonly long s_t0 = TimeRange.ToNanos(DateTimeOffset.UtcNow.AddHours(-1));

    private readonly string _dataDirectory = KilnProcess.CreateTempDirectory("kiln-chunks-");

    public void Dispose() => KilnProcess.TryDeleteDirectory(_dataDirectory);

    // Profile p has samples for functions f0 … f(n-1); sample i has value (i + 1) * (p + 1), and every 7th is 0 (not stored).
    private static readonly int[] s_sampleCounts = [2_047, 2_049, 3_000];

    private static long ValueOf(int profile, int sample) => sample % 7 == 3 ? 0 : (sample + 1L) * (profile + 1);

    private static Profile Build(int profile)
    {
        var builder = new ProfileBuilder()
            .AddSampleType("samples", "count")
            .SetPeriod("cpu", "nanoseconds", 10_000_000)
            .SetTime(s_t0 + profile * 10_000_000_000L, 10_000_000_000);
        for (var i = 0; i < s_sampleCounts[profile]; i++)
        {
            builder.AddSample([new FrameSpec($"f{i}", "a.c", i + 1, MappingFile: "/bin/app", BuildId: "abc", Address: 0x1000 + (ulong)i * 16), new FrameSpec("main", "a.c", 1, MappingFile: "/bin/app", BuildId: "abc", Address: 0x10)], [ValueOf(profile, i)]);
        }
        return builder.Build();
    }

    [Fact]
    public async Task Rows_filling_several_chunks_are_all_stored_with_their_own_values_across_a_restart()
    {
        var views = s_sampleCounts.Select((_, p) => { var v = new PprofView(); v.Parse(Build(p).ToByteArray()); return v; }).ToArray();
        try
        {
            await using (var store = DuckDbProfileStore.Open(_dataDirectory, NullLogger.Instance))
            {
                var labels = LabelSet.From([new Kiln.Profiles.Label("instance", "a")]);
                var stats = await store.WriteAsync(views.Select(v => new IngestProfile(s_type, labels, v, 0, v.TimeNanos, v.DurationNanos)).ToArray(), CancellationToken.None);
                var expectedRows = s_sampleCounts.Select((n, p) => Enumerable.Range(0, n).Count(i => ValueOf(p, i) != 0)).Sum();
                Assert.Equal(expectedRows, stats.SampleRows);
                Assert.True(expectedRows > 2 * 2_048, $"the write should fill more than two chunks, but has {expectedRows} rows");
                await AssertStoredAsync(store);
            }
            await using var reopened = DuckDbProfileStore.Open(_dataDirectory, NullLogger.Instance);
            await AssertStoredAsync(reopened);
        }
        finally
        {
            foreach (var v in views)
            {
                v.Dispose();
            }
        }
    }

    private static async Task AssertStoredAsync(IProfileStore store)
    {
        var selector = new ProfileSelector(s_type, []);
        for (var p = 0; p < s_sampleCounts.Length; p++)
        {
            // One profile's time alone: its own stacks and values.
            var at = s_t0 + p * 10_000_000_000L;
            var merged = await store.MergeAsync(selector, new TimeRange(at, at + 1), [], CancellationToken.None);
            Assert.NotNull(merged);
            var folded = FoldedStacks.ToFolded(merged.ToProfile()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .ToDictionary(line => line[..line.LastIndexOf(' ')], line => long.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
            var expected = Enumerable.Range(0, s_sampleCounts[p]).Where(i => ValueOf(p, i) != 0).ToDictionary(i => $"main;f{i}", i => ValueOf(p, i));
            Assert.Equal(expected, folded);
        }
        var points = await store.QueryRangeAsync(selector, TimeRange.All, TimeSpan.Zero, 0, CancellationToken.None);
        var series = Assert.Single(points.Series);
        Assert.Equal(
            s_sampleCounts.Select((n, p) => Enumerable.Range(0, n).Sum(i => ValueOf(p, i))).ToArray(),
            series.Points.Select(point => point.Value).ToArray());
    }
}
