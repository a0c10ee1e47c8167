namespace Kiln.Storage;

/// <summary>How QueryRange picks a step for a point limit, the same in the server and in every store.</summary>
public static class RangeSteps
{
    /// <summary>
    /// The finest step above <paramref name="atLeast"/> at which <paramref name="range"/> has at most
    /// <paramref name="limit"/> steps: whole seconds, and whole minutes from a minute up (the store keeps per-minute sums).
    /// </summary>
    public static TimeSpan Coarser(TimeRange range, int limit, TimeSpan atLeast)
    {
        var spanSeconds = (range.EndNanos - range.StartNanos) / 1e9;
        var seconds = Math.Max(Math.Max(1, (long)Math.Ceiling(spanSeconds / Math.Max(1, limit))), (long)Math.Floor(atLeast.TotalSeconds) + 1);
        var unit = seconds >= 60 ? 60 : 1;
        seconds = (seconds + unit - 1) / unit * unit;
        // Steps are aligned to multiples of themselves, so a range can touch one more than span / step of them; a coarser
        // step fixes that (doubling, after a few tries, ends with the whole range in one or two steps).
        for (var tries = 0; range.Steps(seconds * 1_000_000_000L) > Math.Max(1, limit); tries++)
        {
            seconds = tries < 4 ? seconds + unit : seconds * 2;
        }
        return TimeSpan.FromSeconds(seconds);
    }
}
