using Google.Protobuf;
using Kiln.Profiles;
using Kiln.Profiles.Pprof;
using Kiln.Profiles.Selectors;
using Kiln.Storage;
using Kiln.Storage.DuckDb;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kiln.Server.Tests;

/// <summary>
/// Merges read rolled-up buckets instead of raw samples, and give what the raw samples give: for ranges that cut
/// buckets, after a late write into a rolled bucket, after retention cut a bucket, with labels kept, after a restart.
/// Every check compares a store that rolls up with one that never does, fed the same writes.
/// </summary>
public sealed class RollupTests : IDisposable
{
    private const long Minute = 60_000_000_000;
    private const long Hour = 60 * Minute;
    private static readonly ProfileType s_type = ProfileType.Parse("test:samples:count:cpu:nanoseconds:delta");

    // Six hours ago, on the hour, plus 13 minutes: the data starts inside a bucket.
    private static readonly long s_hour0 = DuckDbProfileStore.BucketOf(TimeRange.ToNanos(DateTimeOffset.UtcNow.AddHours(-6)), Hour);
    private static readonly long s_start = s_hour0 + 13 * Minute;

    private readonly string _rolledDirectory = KilnProcess.CreateTempDirectory("kiln-rollup-");
    private readonly string _rawDirectory = KilnProcess.CreateTempDirectory("kiln-raw-");

    public void Dispose()
    {
        KilnProcess.TryDeleteDirectory(_rolledDirectory);
        KilnProcess.TryDeleteDirectory(_rawDirectory);
    }

    private static Profile Build(long time, int k) => new ProfileBuilder()
        .AddSampleType("samples", "count")
        .SetPeriod("cpu", "nanoseconds", 10_000_000)
        .SetTime(time, 10_000_000_000)
        .AddSample([new FrameSpec("leaf", "a.c", 3, MappingFile: "/bin/app", BuildId: "abc", Address: 0x1000), new FrameSpec("main", "a.c", 1, MappingFile: "/bin/app", BuildId: "abc", Address: 0x2000)], [1 + k], [("thread", k % 2 == 0 ? "even" : "odd")])
        .AddSample([new FrameSpec($"f{k % 5}", "b.c", 9, MappingFile: "/bin/app", BuildId: "abc", Address: 0x3000 + (ulong)(k % 5) * 16), new FrameSpec("main", "a.c", 1, MappingFile: "/bin/app", BuildId: "abc", Address: 0x2000)], [100 + k])
        .Build();

    private static async Task WriteAsync(IProfileStore store, long time, int k)
    {
        using var view = new PprofView();
        view.Parse(Build(time, k).ToByteArray());
        var labels = LabelSet.From([new Kiln.Profiles.Label("instance", k % 3 == 0 ? "a" : "b")]);
        await store.WriteAsync([new IngestProfile(s_type, labels, view, 0, view.TimeNanos, view.DurationNanos)], CancellationToken.None);
    }

    // A profile every 7 minutes for 2 h 20 min into both stores, then the first rolled up.
    private static async Task WriteAndRollUpAsync(IProfileStore rolled, IProfileStore raw)
    {
        for (var k = 0; k < 20; k++)
        {
            await WriteAsync(rolled, s_start + k * 7 * Minute, k);
            await WriteAsync(raw, s_start + k * 7 * Minute, k);
        }
        Assert.True(await rolled.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None) > 0);
    }

    // SQL on the rolled store's database behind the store's back (the process shares one database between connections).
    private int ExecuteBehindTheStore(string sql)
    {
        using var connection = new DuckDB.NET.Data.DuckDBConnection($"Data Source={Path.Combine(_rolledDirectory, DuckDbProfileStore.FileName)}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteNonQuery();
    }

    private static async Task<string> MergedAsync(IProfileStore store, TimeRange range, IReadOnlyCollection<string>? keep = null)
    {
        var merged = await store.MergeAsync(new ProfileSelector(s_type, []), range, keep ?? [], CancellationToken.None);
        if (merged is null)
        {
            return "";
        }
        var profile = merged.ToProfile();
        var lines = profile.Sample.Select(s =>
            string.Join(';', s.LocationId.Select(id => profile.StringTable[(int)profile.Function[(int)profile.Location[(int)id - 1].Line[0].FunctionId - 1].Name]))
            + " " + string.Join(',', s.Label.Select(l => $"{profile.StringTable[(int)l.Key]}={profile.StringTable[(int)l.Str]}"))
            + " " + s.Value[0]);
        return string.Join('\n', lines.Order(StringComparer.Ordinal));
    }

    private static readonly TimeRange[] s_ranges =
    [
        TimeRange.All,
        new(s_hour0 + Hour, s_hour0 + 2 * Hour),                           // one whole hour
        new(s_hour0 + 37 * Minute, s_hour0 + 2 * Hour + 11 * Minute),      // cuts a 10-minute bucket at both ends
        new(s_hour0 + Hour + 10 * Minute, s_hour0 + Hour + 20 * Minute),   // one 10-minute bucket
        new(s_hour0 + 50 * Minute, s_hour0 + 3 * Hour + 30 * Minute),      // hours and 10-minute buckets and edges
        new(s_start + 14 * Minute, s_start + 14 * Minute + 1),             // one profile, as SINGLE asks
    ];

    private static async Task AssertSameAsync(IProfileStore rolled, IProfileStore raw, string when)
    {
        foreach (var range in s_ranges)
        {
            Assert.True(await MergedAsync(raw, range) == await MergedAsync(rolled, range), $"{when}: merge over [{range.StartNanos}, {range.EndNanos}) differs");
        }
        Assert.Equal(await MergedAsync(raw, TimeRange.All, ["instance", "thread"]), await MergedAsync(rolled, TimeRange.All, ["instance", "thread"]));
        // QueryRange reads per-minute profile sums for steps of whole minutes, and profiles for the rest.
        foreach (var range in s_ranges.Skip(1))
        {
            foreach (var step in new[] { 60L, 300, 600, 3600, 90 })
            {
                Assert.True(await PointsAsync(raw, range, step) == await PointsAsync(rolled, range, step),
                    $"{when}: QueryRange over [{range.StartNanos}, {range.EndNanos}) at a {step} s step differs");
            }
            // A 1 ms step has too many (series, step) cells to sum in arrays, so DuckDB groups: its points are the
            // profiles' (one per profile without a step) summed per millisecond.
            var perProfile = await raw.QueryRangeAsync(new ProfileSelector(s_type, []), range, TimeSpan.Zero, 0, CancellationToken.None);
            var perMillisecond = string.Join('\n', perProfile.Series.OrderBy(s => s.Series.Labels.ToString(), StringComparer.Ordinal)
                .Select(s => s.Series.Labels + ": " + string.Join(' ', s.Points
                    .GroupBy(p => p.TimeNanos - p.TimeNanos % 1_000_000)
                    .Select(g => new MetricPoint(g.Key, g.Sum(p => p.Value), g.Sum(p => p.DurationNanos), g.Sum(p => p.Count))))));
            Assert.Equal(perMillisecond, await PointsAsync(rolled, range, TimeSpan.FromMilliseconds(1)));
            await AssertLimitedAsync(rolled, range, when);
            await AssertLimitedAsync(raw, range, when);
        }
    }

    // With a point limit, QueryRange gives each series at most that many points: the points at the step asked for
    // (none: one per profile) when no series has more, else those at RangeSteps.Coarser's step. Points are counted while
    // summing by the coarser step: at 60 s from per-minute sums, at 90 s and 1 ms from profiles; 1 µs steps are too many
    // to count that way, and DuckDB counts them first.
    private static async Task AssertLimitedAsync(IProfileStore store, TimeRange range, string when)
    {
        foreach (var step in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(1), TimeSpan.FromMicroseconds(1) })
        {
            var unlimited = await store.QueryRangeAsync(new ProfileSelector(s_type, []), range, step, 0, CancellationToken.None);
            Assert.Equal(step, unlimited.Step);
            foreach (var limit in new[] { 1, 3, 100 })
            {
                var limited = await store.QueryRangeAsync(new ProfileSelector(s_type, []), range, step, limit, CancellationToken.None);
                var expectedStep = unlimited.Series.Any(s => s.Points.Count > limit) ? RangeSteps.Coarser(range, limit, step) : step;
                Assert.True(expectedStep == limited.Step, $"{when}: step {step} limit {limit} over [{range.StartNanos}, {range.EndNanos}) used {limited.Step}, not {expectedStep}");
                Assert.All(limited.Series, s => Assert.InRange(s.Points.Count, 1, limit));
                Assert.Equal(await PointsAsync(store, range, expectedStep), Text(limited.Series));
            }
        }
    }

    private static Task<string> PointsAsync(IProfileStore store, TimeRange range, long stepSeconds) =>
        PointsAsync(store, range, TimeSpan.FromSeconds(stepSeconds));

    private static async Task<string> PointsAsync(IProfileStore store, TimeRange range, TimeSpan step)
    {
        var series = await store.QueryRangeAsync(new ProfileSelector(s_type, []), range, step, 0, CancellationToken.None);
        return Text(series.Series);
    }

    private static string Text(IReadOnlyList<SeriesPoints> series) =>
        string.Join('\n', series.OrderBy(s => s.Series.Labels.ToString(), StringComparer.Ordinal).Select(s => s.Series.Labels + ": " + string.Join(' ', s.Points)));

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Rolled_up_merges_equal_raw_merges(int queryShares)
    {
        // With shares, each merge and QueryRange reads its range on several connections at once, in transactions of their own.
        await using var rolled = DuckDbProfileStore.Open(_rolledDirectory, NullLogger.Instance, workerThreads: 1, queryShares);
        await using var raw = DuckDbProfileStore.Open(_rawDirectory, NullLogger.Instance, workerThreads: 1, queryShares: 1);
        // A profile every 7 minutes for 4 hours.
        for (var k = 0; k < 35; k++)
        {
            await WriteAsync(rolled, s_start + k * 7 * Minute, k);
            await WriteAsync(raw, s_start + k * 7 * Minute, k);
        }
        // Buckets written to after the given time are left alone (a backfill still going on).
        Assert.Equal(0, await rolled.RollUpAsync(TimeRange.FromNanos(s_hour0 + 3 * Hour), CancellationToken.None));
        Assert.True(await rolled.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None) > 0);
        await AssertSameAsync(rolled, raw, "after the roll-up");
        Assert.Equal(0, await rolled.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None));

        // A late profile in a rolled hour and 10-minute bucket counts once, before and after the next roll-up.
        await WriteAsync(rolled, s_hour0 + Hour + 15 * Minute + 1, 99);
        await WriteAsync(raw, s_hour0 + Hour + 15 * Minute + 1, 99);
        await AssertSameAsync(rolled, raw, "after a late write");
        Assert.Equal(2, await rolled.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None));
        await AssertSameAsync(rolled, raw, "after rolling the late write up");

        // Retention cutting an hour and a 10-minute bucket: what is left is read raw, then rolled up again.
        var cutoff = TimeRange.FromNanos(s_hour0 + Hour + 25 * Minute);
        await rolled.DeleteBeforeAsync(cutoff, CancellationToken.None);
        await raw.DeleteBeforeAsync(cutoff, CancellationToken.None);
        await AssertSameAsync(rolled, raw, "after retention");
        Assert.True(await rolled.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None) > 0);
        await AssertSameAsync(rolled, raw, "after rolling up what retention left");
    }

    [Fact]
    public async Task A_range_is_shared_out_once_over_connections_in_even_parts()
    {
        await using var store = DuckDbProfileStore.Open(_rolledDirectory, NullLogger.Instance);
        for (var k = 0; k < 35; k++)
        {
            await WriteAsync(store, s_start + k * 7 * Minute, k);
        }
        await store.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        using var connection = new DuckDB.NET.Data.DuckDBConnection($"Data Source={Path.Combine(_rolledDirectory, DuckDbProfileStore.FileName)}");
        connection.Open();
        var (dataStart, dataEnd) = (s_start, s_start + 34 * 7 * Minute + 1);
        foreach (var range in s_ranges)
        {
            foreach (var count in new[] { 2, 3 })
            {
                var shares = DuckDbProfileStore.ShareRange(connection, range, DuckDbProfileStore.RollupWidths, dataStart, dataEnd, count);
                var pieces = shares.SelectMany(s => s).OrderBy(r => r.StartNanos).ToList();
                // Once: the pieces are disjoint and leave no gap.
                Assert.Equal(range.StartNanos, pieces[0].StartNanos);
                Assert.Equal(range.EndNanos, pieces[^1].EndNanos);
                for (var i = 1; i < pieces.Count; i++)
                {
                    Assert.Equal(pieces[i - 1].EndNanos, pieces[i].StartNanos);
                }
                Assert.All(shares, share => Assert.NotEmpty(share));
                var withData = Math.Min(range.EndNanos, dataEnd) - Math.Max(range.StartNanos, dataStart);
                Assert.InRange(shares.Length, 1, withData >= count * Minute ? count : 1);
            }
        }
        // Everything lies in five rolled hours: three shares get one or two each.
        var all = DuckDbProfileStore.ShareRange(connection, TimeRange.All, DuckDbProfileStore.RollupWidths, dataStart, dataEnd, 3);
        Assert.Equal(3, all.Length);
        Assert.All(all, share => Assert.Contains(share, r => r.EndNanos - r.StartNanos >= Hour));
        // 0:50-3:30: two rolled hours, fewer than the shares, go one by one; the 10-minute bucket before them to the
        // third share, and the three after them one to each.
        var mixed = DuckDbProfileStore.ShareRange(connection, s_ranges[4], DuckDbProfileStore.RollupWidths, dataStart, dataEnd, 3);
        Assert.Equal(3, mixed.Length);
    }

    [Fact]
    public async Task QueryRange_at_whole_minute_steps_reads_the_per_minute_sums_of_rolled_buckets()
    {
        await using var store = DuckDbProfileStore.Open(_rolledDirectory, NullLogger.Instance);
        for (var k = 0; k < 35; k++)
        {
            await WriteAsync(store, s_start + k * 7 * Minute, k);
        }
        Assert.True(await store.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None) > 0);
        var range = new TimeRange(s_hour0 + Hour, s_hour0 + 2 * Hour);
        var points = await PointsAsync(store, range, 300);
        Assert.NotEqual("", points);

        // Delete the hour's profiles behind the store's back: only the roll-ups can still answer, and they do at a
        // 5-minute step; a 90 s step reads profiles and finds none.
        Assert.True(ExecuteBehindTheStore($"DELETE FROM profiles WHERE ts >= {range.StartNanos} AND ts < {range.EndNanos}") > 0);
        Assert.Equal(points, await PointsAsync(store, range, 300));
        Assert.Equal("", await PointsAsync(store, range, 90));
    }

    [Fact]
    public async Task A_store_rolled_up_before_per_minute_sums_existed_gets_them_at_start()
    {
        await using var raw = DuckDbProfileStore.Open(_rawDirectory, NullLogger.Instance);
        await using (var rolled = DuckDbProfileStore.Open(_rolledDirectory, NullLogger.Instance))
        {
            await WriteAndRollUpAsync(rolled, raw);
            // What a store written by an earlier version holds: rolled buckets, no per-minute sums.
            Assert.True(ExecuteBehindTheStore("DELETE FROM profile_rollups") > 0);
        }
        await using var reopened = DuckDbProfileStore.Open(_rolledDirectory, NullLogger.Instance);
        await AssertSameAsync(reopened, raw, "after the start that summed the minutes");
    }

    [Fact]
    public async Task Roll_ups_survive_a_restart_and_late_writes_after_it()
    {
        await using var raw = DuckDbProfileStore.Open(_rawDirectory, NullLogger.Instance);
        await using (var rolled = DuckDbProfileStore.Open(_rolledDirectory, NullLogger.Instance))
        {
            await WriteAndRollUpAsync(rolled, raw);
        }
        await using (var reopened = DuckDbProfileStore.Open(_rolledDirectory, NullLogger.Instance))
        {
            await AssertSameAsync(reopened, raw, "after a restart");
            Assert.Equal(0, await reopened.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None));
            await WriteAsync(reopened, s_hour0 + 2 * Hour + 5 * Minute, 42);
            await WriteAsync(raw, s_hour0 + 2 * Hour + 5 * Minute, 42);
            await AssertSameAsync(reopened, raw, "after a late write following a restart");
            Assert.Equal(2, await reopened.RollUpAsync(DateTimeOffset.UtcNow, CancellationToken.None));
            await AssertSameAsync(reopened, raw, "after rolling it up");
        }
    }
}
