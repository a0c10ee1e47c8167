using System.Collections.Concurrent;

namespace Kiln.Profiles;

/// <summary>
/// Reuses <see cref="PprofView"/>s across requests. A new view starts with small tables and grows each by doubling,
/// copying as it goes; a reused one already has room for profiles like the last ones. Keeps at most
/// <paramref name="maxViews"/> views, and none whose tables grew past <paramref name="maxRetainedBytes"/> (one huge
/// profile must not pin its memory for good).
/// </summary>
public sealed class PprofViewPool(int maxViews = 64, long maxRetainedBytes = 1 << 20)
{
    private readonly ConcurrentBag<PprofView> _views = [];

    /// <summary>A view to parse into; give it back with <see cref="Return"/> once nothing reads it any more.</summary>
    public PprofView Rent() => _views.TryTake(out var view) ? view : new PprofView();

    /// <summary>Takes a view back (or disposes it when the pool is full or the view too big).</summary>
    public void Return(PprofView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        view.Clear();
        if (_views.Count < maxViews && view.RetainedBytes <= maxRetainedBytes)
        {
            _views.Add(view);
        }
        else
        {
            view.Dispose();
        }
    }
}
