using Kiln.Api.Query;

namespace Kiln.Query;

/// <summary>
/// Builds Parca's TOP report: one <see cref="TopNode"/> per function (see <see cref="FunctionAggregate"/>) with flat,
/// cumulative (recursion counted once) and diff (the cumulative diff), sorted by flat descending.
/// </summary>
internal static class TopBuilder
{
    public static Top Build(StackSet set, FunctionAggregate agg)
    {
        var top = new Top { Unit = set.Unit };
        foreach (var fn in agg.OrderByFlat(set))
        {
            var (location, mapping, function, line) = Metadata.For(set, set.Frames[agg.Frame[fn]]);
            top.List.Add(new TopNode
            {
                Meta = new TopNodeMeta { Location = location, Mapping = mapping, Function = function, Line = line },
                Flat = agg.Flat[fn],
                Cumulative = agg.Cumulative[fn],
                Diff = agg.CumulativeDiff[fn],
            });
        }
        top.Reported = top.List.Count;
#pragma warning disable CS0612, CS0618 // Parca still fills the deprecated total; older clients read it.
        top.Total = top.List.Count;
#pragma warning restore CS0612, CS0618
        return top;
    }
}
