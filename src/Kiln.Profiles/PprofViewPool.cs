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
    private readonly ConcurrentQueue<PprofView> _views = new();
    private int _count;

    /// <summary>A view to parse into; give it back with <see cref="Return"/> once nothing reads it any more.</summary>
    public PprofView Rent()
    {
        if (_views.TryDequeue(out var view))
        {
            Interlocked.Decrement(ref _count);
            return view;
        }
        return new PprofView();
    }

    /// <summary>Takes a view back (or disposes it when the pool is full or the view too big).</summary>
    public void Return(PprofView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        view.Clear();
        if (view.RetainedBytes > maxRetainedBytes)
        {
            view.Dispose();
        }
        else if (Interlocked.Increment(ref _count) > maxViews)
        {
            Interlocked.Decrement(ref _count);
            view.Dispose();
        }
        else
        {
            _views.Enqueue(view);
        }
    }
}
