namespace Kiln.Symbolization;

/// <summary>Binary search over ascending addresses (symbol starts, perf-map starts).</summary>
internal static class SortedAddresses
{
    /// <summary>Index of the last address at or before <paramref name="address"/>, or -1 when all lie after it. Allocation-free.</summary>
    public static int LastAtOrBefore(ReadOnlySpan<ulong> sorted, ulong address)
    {
        int lo = 0, hi = sorted.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (sorted[mid] <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return found;
    }
}
