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
    public void A_row_outside_the_range_is_an_error()
    {
        var range = new TimeRange(1_765_152_000_000_000_000, 1_765_152_060_000_000_000);
        using var sums = new StepSums(s_series, range, 10_000_000_000);

        Assert.Throws<InvalidOperationException>(() => sums.Add([1], [range.EndNanos], [1], [1], [1]));
        Assert.Throws<InvalidOperationException>(() => sums.Add([1], [range.StartNanos - 1], [1], [1], [1]));
        Assert.Throws<InvalidOperationException>(() => sums.Add([2], [range.StartNanos], [1], [1], [1]));
    }
}
