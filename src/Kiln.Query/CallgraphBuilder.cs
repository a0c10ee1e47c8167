using System.Globalization;
using Kiln.Api.Query;

namespace Kiln.Query;

/// <summary>
/// Builds Parca's CALLGRAPH report: one node per function (id = its index as a decimal string, flat and
/// cumulative as in TOP) and one edge per caller→callee pair with the value of the samples that contain the
/// call (once per sample). There is no synthetic root node; the deprecated Callgraph.cumulative holds the total.
/// </summary>
internal static class CallgraphBuilder
{
    public static Callgraph Build(StackSet set, FunctionAggregate agg)
    {
        var graph = new Callgraph();
        var order = agg.OrderByFlat(set);
        var ids = new string[agg.Count];
        foreach (var fn in order)
        {
            ids[fn] = fn.ToString(CultureInfo.InvariantCulture);
            var (location, mapping, function, line) = Metadata.For(set, set.Frames[agg.Frame[fn]]);
            graph.Nodes.Add(new CallgraphNode
            {
                Id = ids[fn],
                Meta = new CallgraphNodeMeta { Location = location, Mapping = mapping, Function = function, Line = line },
                Flat = agg.Flat[fn],
                Cumulative = agg.Cumulative[fn],
            });
        }
        var edges = new List<((int Caller, int Callee) Key, long Cumulative)>(agg.Edges.Count);
        foreach (var (key, totals) in agg.Edges)
        {
            edges.Add((key, totals.Cumulative));
        }
        edges.Sort((x, y) => y.Cumulative != x.Cumulative
            ? y.Cumulative.CompareTo(x.Cumulative)
            : x.Key.CompareTo(y.Key));
        foreach (var ((caller, callee), cumulative) in edges)
        {
            graph.Edges.Add(new CallgraphEdge
            {
                Id = ids[caller] + "->" + ids[callee],
                Source = ids[caller],
                Target = ids[callee],
                Cumulative = cumulative,
            });
        }
#pragma warning disable CS0612, CS0618 // Parca reports the total through the deprecated field.
        graph.Cumulative = agg.Total;
#pragma warning restore CS0612, CS0618
        return graph;
    }
}
