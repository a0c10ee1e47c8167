using System.Runtime.InteropServices;

namespace Kiln.Query;

/// <summary>
/// Per-function totals shared by TABLE_ARROW, TOP and CALLGRAPH (parca pkg/query/table.go): symbolized frames
/// aggregate by function name, unsymbolized ones by (build id, address). Flat is the value of samples whose leaf
/// is the function; cumulative counts each sample once even when the function recurses. Edges are caller→callee
/// pairs of adjacent frames, also counted once per sample. Stacks are never inverted here.
/// </summary>
internal sealed class FunctionAggregate
{
    private readonly record struct FunctionKey(bool Symbolized, long A, int B);

    public List<int> Frame { get; } = [];        // representative frame per function
    public List<long> Flat { get; } = [];
    public List<long> FlatDiff { get; } = [];
    public List<long> Cumulative { get; } = [];
    public List<long> CumulativeDiff { get; } = [];
    public Dictionary<(int Caller, int Callee), EdgeTotals> Edges { get; } = [];
    public long Total { get; private set; }

    public int Count => Frame.Count;

    public sealed class EdgeTotals
    {
        public long Cumulative;
        public int LastSample = -1;
    }

    /// <summary>Aggregates per function; caller→callee edges only when <paramref name="withEdges"/> (they cost a lookup per frame).</summary>
    public static FunctionAggregate Build(StackSet set, bool withEdges)
    {
        var agg = new FunctionAggregate();
        var functionOfFrame = new int[set.Frames.Count];
        Array.Fill(functionOfFrame, -1);
        var index = new Dictionary<FunctionKey, int>();
        var lastSample = new List<int>();
        var buffer = new int[128];
        var frames = CollectionsMarshal.AsSpan(set.Frames);
        for (var s = 0; s < set.SampleCount; s++)
        {
            if (!set.IsSampleKept(s))
            {
                continue;
            }
            var value = set.Value(s);
            var diff = set.Diff(s);
            agg.Total += value;
            var n = set.CopyFrames(s, ref buffer, rootFirst: false);
            var callee = -1;
            for (var i = 0; i < n; i++)
            {
                var f = buffer[i];
                ref var fn = ref functionOfFrame[f];
                if (fn < 0)
                {
                    ref readonly var frame = ref frames[f];
                    var key = frame.Symbolized
                        ? new FunctionKey(true, frame.Name, 0)
                        : new FunctionKey(false, (long)frame.Address, frame.Mapping >= 0 ? set.Mappings[frame.Mapping].BuildId : 0);
                    ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(index, key, out var exists);
                    if (!exists)
                    {
                        id = agg.Frame.Count;
                        agg.Frame.Add(f);
                        agg.Flat.Add(0);
                        agg.FlatDiff.Add(0);
                        agg.Cumulative.Add(0);
                        agg.CumulativeDiff.Add(0);
                        lastSample.Add(-1);
                    }
                    fn = id;
                }
                if (i == 0)
                {
                    agg.Flat[fn] += value;
                    agg.FlatDiff[fn] += diff;
                }
                if (lastSample[fn] != s)
                {
                    lastSample[fn] = s;
                    agg.Cumulative[fn] += value;
                    agg.CumulativeDiff[fn] += diff;
                }
                if (withEdges && callee >= 0)
                {
                    ref var edge = ref CollectionsMarshal.GetValueRefOrAddDefault(agg.Edges, (fn, callee), out _);
                    edge ??= new EdgeTotals();
                    if (edge.LastSample != s)
                    {
                        edge.LastSample = s;
                        edge.Cumulative += value;
                    }
                }
                callee = fn;
            }
        }
        return agg;
    }

    /// <summary>Function indices ordered by flat descending, then cumulative descending, then name.</summary>
    public int[] OrderByFlat(StackSet set)
    {
        var order = new int[Count];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        Array.Sort(order, (x, y) =>
        {
            var c = Flat[y].CompareTo(Flat[x]);
            if (c == 0)
            {
                c = Cumulative[y].CompareTo(Cumulative[x]);
            }
            if (c == 0)
            {
                c = string.CompareOrdinal(set.Strings[set.Frames[Frame[x]].Name], set.Strings[set.Frames[Frame[y]].Name]);
            }
            return c != 0 ? c : x.CompareTo(y);
        });
        return order;
    }
}
