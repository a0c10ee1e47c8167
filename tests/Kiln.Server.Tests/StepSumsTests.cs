using Kiln.Profiles;
using Kiln.Storage;
using Kiln.Storage.DuckDb;

namespace Kiln.Server.Tests;

/// <summary>StepSums puts each row in the step that holds it, also a row on a step's first or last nanosecond.</summary>
public sealed class StepSumsTests
{
    private static readonly SeriesEntry[] s_series = [new(1, ProfileType.Parse("test:samples:count:cpu:nanoseconds:delta"), LabelSet.From(("instance", "a")))];

    [Theory]
    [InlineData(1L)]
    [InlineData(7L)]
    [InlineData(999_999_999L)]
    [InlineData(60_000_000_000L)]
    [InlineData(120_000_000_000L)]
    [InlineData(86_400_000_000_000L)]
    public void A_row_on_either_edge_of_a_step_lands_in_it(long stepNanos)
    {
        // A range that starts inside a step, as a query's does, at today's magnitude of Unix nanoseconds.
        const long start = 1_765_152_000_123_456_789;
        var first = TimeRange.FloorDiv(start, stepNanos) * stepNanos;
        var range = new TimeRange(start, first + 40 * stepNanos);
        var times = new List<long>();
        for (var k = 1; k < 40; k += 3)
        {
            times.Add(first + k * stepNanos);
            times.Add(first + (k + 1) * stepNanos - 1);
        }
        using var sums = new StepSums(s_series, range, stepNanos, countedStepNanos: stepNanos);
        sums.Add([.. times.Select(_ => 1)], [.. times], [.. times.Select((_, i) => (long)i + 1)], [.. times.Select(_ => 1L)], [.. times.Select(_ => 1)]);

        var points = Assert.Single(sums.ToPoints()).Points;

        var expected = times.Select((t, i) => (Step: TimeRange.FloorDiv(t, stepNanos) * stepNanos, Value: (long)i + 1))
            .GroupBy(x => x.Step).Select(g => (g.Key, g.Sum(x => x.Value))).ToArray();
        Assert.Equal(expected, points.Select(p => (p.TimeNanos, p.Value)).ToArray());
        Assert.Equal(expected.Length, sums.MostPoints());
    }

    [Fact]
    public void Points_are_counted_at_a_finer_step_than_the_sums_once_per_step()
    {
        const long minute = 60_000_000_000;
        var start = 1_765_152_000_000_000_000 / (10 * minute) * (10 * minute);
        var range = new TimeRange(start, start + 300 * minute);   // 300 counted steps: five words of bits
        SeriesEntry[] series = [s_series[0], new(2, s_series[0].Type, LabelSet.From(("instance", "b")))];
        using var sums = new StepSums(series, range, 10 * minute, countedStepNanos: minute);
        // Series 1: two rows in its first minute, then minutes 1, 65, 299 and 299 again: 4 distinct minutes, in 3 steps
        // of 10 minutes. Series 2: minutes 64 and 128, the first and last bits of words 1 and 2.
        long[] minutes = [0, 0, 1, 65, 299, 299, 64, 128];
        long[] offsets = [0, 10, 0, 0, 5, 59, 0, 0];
        int[] ids = [1, 1, 1, 1, 1, 1, 2, 2];
        sums.Add(ids, [.. minutes.Select((m, i) => start + m * minute + offsets[i] * 1_000_000_000)], [.. ids.Select(_ => 1L)], [.. ids.Select(_ => 1L)], [.. ids.Select(_ => 1)]);

        Assert.Equal(4, sums.MostPoints());
        var points = sums.ToPoints();
        Assert.Equal([3, 2], points.Select(p => p.Points.Count).ToArray());
        Assert.Equal([3L, 1, 2], points[0].Points.Select(p => p.Value).ToArray());
    }

    [Fact]
    public void A_row_outside_the_range_is_an_error()
    {
        var range = new TimeRange(1_765_152_000_000_000_000, 1_765_152_060_000_000_000);
        using var sums = new StepSums(s_series, range, 10_000_000_000);

        Assert.Throws<InvalidOperationException>(() => sums.Add([1], [range.EndNanos], [1], [1], [1]));
        Assert.Throws<InvalidOperationException>(() => sums.Add([1], [range.StartNanos - 1], [1], [1], [1]));
        Assert.Throws<InvalidOperationException>(() => sums.Add([2], [range.StartNanos], [1], [1], [1]));
    }
}
