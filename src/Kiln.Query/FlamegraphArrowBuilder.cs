using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Types;
using Array = System.Array;
using Kiln.Api.Query;

namespace Kiln.Query;

/// <summary>
/// Builds Parca's FLAMEGRAPH_ARROW record (parca pkg/query/flamegraph_arrow.go). Row 0 is the root (cumulative =
/// total, diff = total diff); rows are written depth-first, so a node's subtree is the rows that follow it.
/// Frames merge under the same parent by function name (unsymbolized frames by address), plus the optional
/// group-by fields; when merged frames disagree on address, mapping, line, start line, system name, file name or
/// inlined-ness, that column is null for the node, as Parca does. Children are ordered label rows first (by label
/// values), then symbolized frames by function name (ordinal), then unsymbolized frames by address, so the layout
/// does not depend on sample order and two profiles of the same code line up.
/// </summary>
internal static class FlamegraphArrowBuilder
{
    private const int KindFunction = 1;
    private const int KindAddress = 2;

    // Bits of a node's conflict mask: the merged frames disagree on this column.
    private const int ConflictAddress = 1;
    private const int ConflictMapping = 2;
    private const int ConflictLine = 4;
    private const int ConflictStartLine = 8;
    private const int ConflictSystemName = 16;
    private const int ConflictFileName = 32;
    private const int ConflictInlined = 64;

    // The merge identity of a frame under a given parent, apart from the parent: frames with equal keys merge.
    private readonly record struct FrameKey(int Kind, long A, long B, int C, int D);

    private sealed class GroupBy
    {
        public bool MappingFile;
        public bool Address;
        public bool FileName;
        public List<string> Labels { get; } = [];
    }

    private static GroupBy ParseGroupBy(IReadOnlyList<string> fields)
    {
        var g = new GroupBy();
        foreach (var field in fields)
        {
            switch (field)
            {
                case "function_name":
                    break;
                case "mapping_file":
                    g.MappingFile = true;
                    break;
                case "location_address":
                    g.Address = true;
                    break;
                case "function_file_name":
                    g.FileName = true;
                    break;
                case "timestamp":
                    throw new ArgumentException(
                        "group_by \"timestamp\" is not supported: merged pprof samples carry no per-sample timestamps.");
                default:
                    if (field.StartsWith("labels.", StringComparison.Ordinal) && field.Length > "labels.".Length)
                    {
                        if (!g.Labels.Contains(field))
                        {
                            g.Labels.Add(field);
                        }
                        break;
                    }
                    throw new ArgumentException(
                        $"Invalid group_by field \"{field}\": expected function_name, mapping_file, location_address, function_file_name or labels.<name>.");
            }
        }
        return g;
    }

    /// <summary>
    /// Node storage as parallel arrays of a size known up front; index 0 is the root. <see cref="Group"/> and
    /// <see cref="Diff"/> are only allocated when some node needs them (grouping by labels, a diff).
    /// </summary>
    private sealed class Tree
    {
        public int Count = 1;
        public readonly int[] Parent;
        public readonly int[] Depth;
        public readonly int[] Frame;   // representative frame, or -1 for the root and label rows
        public readonly int[]? Group;  // grouped label set id of the label row this node is under, or 0
        public readonly byte[] Conflicts;
        public readonly long[] Cumulative;
        public readonly long[] Flat;
        public readonly long[]? Diff;

        public Tree(int capacity, bool groups, bool diffs)
        {
            Parent = new int[capacity];
            Depth = new int[capacity];
            Frame = new int[capacity];
            Group = groups ? new int[capacity] : null;
            Conflicts = new byte[capacity];
            Cumulative = new long[capacity];
            Flat = new long[capacity];
            Diff = diffs ? new long[capacity] : null;
            Parent[0] = -1;
            Frame[0] = -1;
        }

        public int GroupOf(int node) => Group is null ? 0 : Group[node];

        public int Add(int parent, int frame, int group)
        {
            var n = Count++;
            Parent[n] = parent;
            Depth[n] = Depth[parent] + 1;
            Frame[n] = frame;
            if (Group is not null)
            {
                Group[n] = group;
            }
            return n;
        }
    }

    public static FlamegraphArrow Build(StackSet set, ReportOptions options, out long total)
    {
        var groupBy = ParseGroupBy(options.GroupBy);
        var groupedSets = GroupedLabelSets(set, groupBy);
        // Every frame's merge identity, and that identity's place among siblings, resolved once per frame.
        var keyOfFrame = MergeKeys(set, groupBy, out var keyCount);
        var groupRank = GroupRanks(set, groupBy, groupedSets, out var groupCount);
        var keyRank = KeyRanks(set, keyOfFrame, keyCount);
        // Each frame's rank among siblings, looked up once per frame rather than once per step of every path; label
        // rows take the first groupCount ranks.
        var rankOfFrame = new int[keyOfFrame.Length];
        for (var f = 0; f < rankOfFrame.Length; f++)
        {
            rankOfFrame[f] = groupCount + keyRank[keyOfFrame[f]];
        }

        // Each kept sample becomes its path from the root as a sequence of sibling ranks (the label row first when
        // grouping by labels), with the frame at each step beside it. Sorting the paths lexicographically puts the
        // samples that share a prefix next to each other, so one pass over the sorted paths creates the nodes in
        // depth-first order with every node's children in sibling order, without looking anything up.
        var paths = new Paths(set.SampleCount, set.FrameCountUpperBound() + set.SampleCount);
        var buffer = new int[128];
        long rootDiff = 0;
        var diffs = false;
        total = 0;
        for (var s = 0; s < set.SampleCount; s++)
        {
            if (!set.IsSampleKept(s))
            {
                continue;
            }
            total += set.Value(s);
            rootDiff += set.Diff(s);
            diffs |= set.Diff(s) != 0;
            var group = groupedSets.Length > 0 ? groupedSets[set.LabelSet(s)] : 0;
            var n = set.CopyFrames(s, ref buffer, rootFirst: !options.InvertCallStack);
            paths.Add(s, group, group > 0 ? groupRank[group] : -1, buffer.AsSpan(0, n), rankOfFrame);
        }
        paths.Sort();

        var tree = new Tree(paths.NodeCount() + 1, groupedSets.Length > 0, diffs);
        AddPaths(tree, paths, set);
        SumUp(tree);
        tree.Cumulative[0] = total;
        if (tree.Diff is not null)
        {
            tree.Diff[0] = rootDiff;
        }

        var fraction = options.NodeTrimThreshold is > 0 ? options.NodeTrimThreshold.Value / 100.0 : 0.0;
        var layout = Trim(tree, fraction);
        var record = Write(set, tree, groupBy, layout);
        return new FlamegraphArrow
        {
            Record = record,
            Unit = set.Unit,
            // Parca reports the number of levels including the root (max depth + 1).
            Height = layout.Height + 1,
            Trimmed = layout.Trimmed,
        };
    }

    /// <summary>
    /// Creates the nodes of the sorted paths: each path shares the nodes of its common rank prefix with the path before
    /// and adds the rest. Where a shared node's frame differs from its representative, the columns they disagree on are
    /// marked; a step whose frame is the one the path before had there was already compared, so only the steps after the
    /// two paths' common frames are looked at. A path's value and diff go to its last node only, and <see cref="SumUp"/>
    /// adds them up the tree once, instead of once per step of every path.
    /// </summary>
    private static void AddPaths(Tree tree, Paths paths, StackSet set)
    {
        var frames = CollectionsMarshal.AsSpan(set.Frames);
        var nodeFrame = tree.Frame;
        var conflicts = tree.Conflicts;
        var pathNodes = new int[128];
        ReadOnlySpan<int> previousRanks = default, previousFrames = default;
        for (var i = 0; i < paths.Count; i++)
        {
            var p = paths.Order[i];
            var ranks = paths.Ranks(p);
            var pathFrames = paths.Frames(p);
            var shared = ranks.CommonPrefixLength(previousRanks);
            var compared = Math.Min(shared, pathFrames.CommonPrefixLength(previousFrames));
            if (pathNodes.Length < ranks.Length)
            {
                Array.Resize(ref pathNodes, ranks.Length * 2);
            }
            for (var d = compared; d < shared; d++)
            {
                var node = pathNodes[d];
                var representative = nodeFrame[node];
                if (representative != pathFrames[d])
                {
                    conflicts[node] |= Compare(set, frames[representative], frames[pathFrames[d]]);
                }
            }
            for (var d = shared; d < ranks.Length; d++)
            {
                pathNodes[d] = tree.Add(d == 0 ? 0 : pathNodes[d - 1], pathFrames[d], paths.Group[p]);
            }
            if (ranks.Length > 0)
            {
                var last = pathNodes[ranks.Length - 1];
                var sample = paths.Sample[p];
                var value = set.Value(sample);
                tree.Cumulative[last] += value;
                if (tree.Diff is not null)
                {
                    tree.Diff[last] += set.Diff(sample);
                }
                // A path of only a label row has no frame to be flat in.
                if (ranks.Length > (paths.Group[p] > 0 ? 1 : 0))
                {
                    tree.Flat[last] += value;
                }
            }
            previousRanks = ranks;
            previousFrames = pathFrames;
        }
    }

    /// <summary>Adds every node's cumulative value and diff into its parent's, children before parents (reverse depth-first order).</summary>
    private static void SumUp(Tree tree)
    {
        var parent = tree.Parent;
        var cumulative = tree.Cumulative;
        var diff = tree.Diff;
        for (var n = tree.Count - 1; n > 0; n--)
        {
            cumulative[parent[n]] += cumulative[n];
            if (diff is not null)
            {
                diff[parent[n]] += diff[n];
            }
        }
    }

    /// <summary>
    /// The kept samples' paths from the root: per path the sibling rank of each step (<see cref="Ranks"/>) and the
    /// frame taken (-1 for a label row), stored back to back in two arrays.
    /// </summary>
    private sealed class Paths(int capacity, int steps)
    {
        private readonly int[] _ranks = new int[steps];
        private readonly int[] _frames = new int[steps];
        private int _length;

        public int Count;
        public int[] Start = new int[capacity + 1];
        public int[] Sample = new int[capacity];
        public int[] Group = new int[capacity];
        public int[] Order = [];

        public ReadOnlySpan<int> Ranks(int p) => _ranks.AsSpan(Start[p], Start[p + 1] - Start[p]);

        public ReadOnlySpan<int> Frames(int p) => _frames.AsSpan(Start[p], Start[p + 1] - Start[p]);

        public void Add(int sample, int group, int groupRank, ReadOnlySpan<int> frames, int[] rankOfFrame)
        {
            var at = _length;
            if (group > 0)
            {
                // Label rows sort before every frame under the root.
                _ranks[at] = groupRank;
                _frames[at] = -1;
                at++;
            }
            foreach (var f in frames)
            {
                _ranks[at] = rankOfFrame[f];
                _frames[at] = f;
                at++;
            }
            _length = at;
            Sample[Count] = sample;
            Group[Count] = group;
            Count++;
            Start[Count] = _length;
        }

        public void Sort()
        {
            Order = new int[Count];
            for (var i = 0; i < Count; i++)
            {
                Order[i] = i;
            }
            // A struct comparer: the sort is compiled for it and inlines the comparison (a delegate is one call per compare).
            Order.AsSpan().Sort(new PathOrder(this));
        }

        /// <summary>Paths by their ranks, lexicographically: a prefix sorts before its extensions; equal paths are adjacent in any order and merge.</summary>
        private readonly struct PathOrder(Paths paths) : IComparer<int>
        {
            public int Compare(int a, int b)
            {
                var x = paths.Ranks(a);
                var y = paths.Ranks(b);
                var common = x.CommonPrefixLength(y);
                return common == x.Length || common == y.Length ? x.Length.CompareTo(y.Length) : x[common].CompareTo(y[common]);
            }
        }

        /// <summary>The number of nodes the sorted paths create: each path adds the steps it does not share with the one before.</summary>
        public int NodeCount()
        {
            var nodes = 0;
            for (var i = 0; i < Count; i++)
            {
                var ranks = Ranks(Order[i]);
                nodes += ranks.Length - (i == 0 ? 0 : ranks.CommonPrefixLength(Ranks(Order[i - 1])));
            }
            return nodes;
        }
    }

    /// <summary>
    /// The place of every merge identity among siblings: label rows come before frames (see the callers), then
    /// symbolized frames by function name (ordinal), then unsymbolized frames by address; identities with the same name
    /// or address (apart only by a group-by field) in order of first appearance among the frames.
    /// </summary>
    private static int[] KeyRanks(StackSet set, int[] keyOfFrame, int keyCount)
    {
        var frameRank = FrameRanks(set);
        var order = new ulong[keyCount];
        var seen = new bool[keyCount];
        for (var f = 0; f < keyOfFrame.Length; f++)
        {
            var key = keyOfFrame[f];
            if (!seen[key])
            {
                seen[key] = true;
                order[key] = ((ulong)(uint)frameRank[f] << 32) | (uint)key;
            }
        }
        Array.Sort(order);
        var rank = new int[keyCount];
        for (var i = 0; i < order.Length; i++)
        {
            rank[(int)(uint)order[i]] = i;
        }
        return rank;
    }

    /// <summary>
    /// Gives every frame the id of its merge identity: frames merge under the same parent by function name
    /// (unsymbolized ones by address) plus the group-by fields. Ids are dense from 0; <paramref name="keyCount"/> of them.
    /// </summary>
    private static int[] MergeKeys(StackSet set, GroupBy groupBy, out int keyCount)
    {
        var frames = CollectionsMarshal.AsSpan(set.Frames);
        var keyOfFrame = new int[frames.Length];
        var ids = new Dictionary<FrameKey, int>();
        for (var f = 0; f < frames.Length; f++)
        {
            ref readonly var frame = ref frames[f];
            var key = frame.Symbolized
                ? new FrameKey(KindFunction, frame.Name,
                    groupBy.Address ? (long)frame.Address : 0,
                    groupBy.MappingFile ? MappingFile(set, frame) : 0,
                    groupBy.FileName ? frame.FileName : 0)
                : new FrameKey(KindAddress, (long)frame.Address, 0,
                    groupBy.MappingFile ? MappingFile(set, frame) : 0, 0);
            ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(ids, key, out var exists);
            if (!exists)
            {
                id = ids.Count - 1;
            }
            keyOfFrame[f] = id;
        }
        keyCount = ids.Count;
        return keyOfFrame;
    }

    private static int MappingFile(StackSet set, in FrameInfo frame) =>
        frame.Mapping >= 0 ? set.Mappings[frame.Mapping].File : 0;

    private static byte Compare(StackSet set, in FrameInfo a, in FrameInfo b)
    {
        var c = 0;
        if (a.Address != b.Address)
        {
            c |= ConflictAddress;
        }
        if (a.Mapping != b.Mapping
            && (a.Mapping < 0 || b.Mapping < 0
                || set.Mappings[a.Mapping].File != set.Mappings[b.Mapping].File
                || set.Mappings[a.Mapping].BuildId != set.Mappings[b.Mapping].BuildId))
        {
            c |= ConflictMapping;
        }
        if (a.Line != b.Line)
        {
            c |= ConflictLine;
        }
        if (a.StartLine != b.StartLine)
        {
            c |= ConflictStartLine;
        }
        if (a.SystemName != b.SystemName)
        {
            c |= ConflictSystemName;
        }
        if (a.FileName != b.FileName)
        {
            c |= ConflictFileName;
        }
        if (a.Inlined != b.Inlined)
        {
            c |= ConflictInlined;
        }
        return (byte)c;
    }

    /// <summary>
    /// Maps every label set to the id of its restriction to the grouped label names (0 when it has none of them),
    /// which is the identity of the label row its samples go under.
    /// </summary>
    private static int[] GroupedLabelSets(StackSet set, GroupBy groupBy)
    {
        if (groupBy.Labels.Count == 0)
        {
            return [];
        }
        var keys = GroupLabelKeys(set, groupBy);
        var count = set.LabelSets.Count;
        var result = new int[count];
        var buffer = new List<(int Key, int Value)>();
        for (var i = 1; i < count; i++)
        {
            buffer.Clear();
            foreach (var pair in set.LabelSets[i])
            {
                if (Array.IndexOf(keys, pair.Key) >= 0)
                {
                    buffer.Add(pair);
                }
            }
            result[i] = set.InternLabelSet(CollectionsMarshal.AsSpan(buffer));
        }
        return result;
    }

    private static int[] GroupLabelKeys(StackSet set, GroupBy groupBy)
    {
        var keys = new int[groupBy.Labels.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = set.Strings.Intern(groupBy.Labels[i]["labels.".Length..]);
        }
        return keys;
    }


    /// <summary>Rank of each frame among siblings: symbolized frames by name (ordinal), then unsymbolized by address.</summary>
    private static int[] FrameRanks(StackSet set)
    {
        var frames = CollectionsMarshal.AsSpan(set.Frames);
        var nameRank = new int[set.Strings.Count];
        Array.Fill(nameRank, -1);
        var names = new List<int>();
        var addresses = new List<ulong>();
        foreach (ref readonly var frame in frames)
        {
            if (!frame.Symbolized)
            {
                addresses.Add(frame.Address);
            }
            else if (nameRank[frame.Name] < 0)
            {
                nameRank[frame.Name] = 0;
                names.Add(frame.Name);
            }
        }
        var nameStrings = new string[names.Count];
        var nameIds = names.ToArray();
        for (var i = 0; i < nameIds.Length; i++)
        {
            nameStrings[i] = set.Strings[nameIds[i]];
        }
        Array.Sort(nameStrings, nameIds, StringComparer.Ordinal);
        for (var i = 0; i < nameIds.Length; i++)
        {
            nameRank[nameIds[i]] = i;
        }
        var sortedAddresses = CollectionsMarshal.AsSpan(addresses);
        sortedAddresses.Sort();

        var rank = new int[frames.Length];
        for (var f = 0; f < frames.Length; f++)
        {
            ref readonly var frame = ref frames[f];
            // Equal addresses share the rank of their first occurrence in the sorted list.
            rank[f] = frame.Symbolized
                ? nameRank[frame.Name]
                : nameIds.Length + LowerBound(sortedAddresses, frame.Address);
        }
        return rank;
    }

    private static int LowerBound(ReadOnlySpan<ulong> sorted, ulong value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] < value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }

    /// <summary>Rank of each grouped label set (the label rows) by the grouped labels' values, then by id.</summary>
    private static int[] GroupRanks(StackSet set, GroupBy groupBy, int[] groupedSets, out int groupCount)
    {
        groupCount = 0;
        if (groupedSets.Length == 0)
        {
            return [];
        }
        var labelKeys = GroupLabelKeys(set, groupBy);
        var groups = new SortedSet<int>();
        foreach (var g in groupedSets)
        {
            if (g > 0)
            {
                groups.Add(g);
            }
        }
        var order = groups.ToArray();
        Array.Sort(order, (x, y) => CompareLabels(set, labelKeys, x, y));
        var rank = new int[set.LabelSets.Count];
        for (var i = 0; i < order.Length; i++)
        {
            rank[order[i]] = i;
        }
        groupCount = order.Length;
        return rank;
    }

    private static int CompareLabels(StackSet set, int[] labelKeys, int x, int y)
    {
        var a = set.LabelSets[x];
        var b = set.LabelSets[y];
        foreach (var key in labelKeys)
        {
            var c = string.CompareOrdinal(set.Strings[LabelValue(a, key)], set.Strings[LabelValue(b, key)]);
            if (c != 0)
            {
                return c;
            }
        }
        return x.CompareTo(y);
    }

    /// <summary>
    /// The kept nodes as output rows: <see cref="Nodes"/>[row] is the tree node of each row, in the tree's (pre-)order,
    /// so a row's subtree is the rows after it up to its next sibling; the children column's offsets and values
    /// (row indices, in sibling order) are filled here, ready to be Arrow buffers.
    /// </summary>
    private sealed class Layout(int count)
    {
        public int Count => Nodes.Length;
        public readonly int[] Nodes = new int[count];
        public readonly FixedColumn<int> Parent = new(Int32Type.Default, count);
        public readonly long[] ValueOffset = new long[count];
        public readonly byte[] ChildOffsets = new byte[(count + 1) * sizeof(int)];
        public readonly FixedColumn<uint> ChildValues = new(UInt32Type.Default, Math.Max(count - 1, 0));
        public long Trimmed;
        public int Height;
    }

    /// <summary>
    /// Keeps a node only when its parent is kept and its cumulative value is greater than <paramref name="fraction"/>
    /// of its parent's (parca flamegraph_arrow.go trim); the cumulative values of the children dropped under kept
    /// parents are summed into <see cref="Layout.Trimmed"/>. The rows keep the tree's order, depth-first with children in
    /// sibling order: every read of the tree's columns while writing is then sequential (breadth-first rows, as before,
    /// read each node column at random; the bench's 1-hour flame graph took 156 – 181 ms instead of 134 – 145 without
    /// tiering). Clients follow the children column; Parca's own rows come in order of first appearance.
    /// </summary>
    private static Layout Trim(Tree tree, double fraction)
    {
        var count = tree.Count;
        var kept = fraction > 0 ? Walk(tree, fraction, null) : count;
        var layout = new Layout(kept);
        Walk(tree, fraction, layout);

        // Children in row order are in sibling order: each parent's next free slot starts at its offset.
        var childOffsets = MemoryMarshal.Cast<byte, int>(layout.ChildOffsets.AsSpan());
        for (var r = 0; r < kept; r++)
        {
            childOffsets[r + 1] += childOffsets[r];
        }
        var next = childOffsets[..kept].ToArray();
        var childValues = layout.ChildValues.Values;
        var rowParent = layout.Parent.Values;
        for (var r = 1; r < kept; r++)
        {
            childValues[next[rowParent[r]]++] = (uint)r;
        }
        return layout;
    }

    /// <summary>
    /// One pass over the tree in its depth-first order, which keeps the nodes that <see cref="Trim"/> keeps and returns
    /// how many; with <paramref name="layout"/>, also fills its rows, parents, value offsets, height, trimmed value and
    /// each row's number of children (in <see cref="Layout.ChildOffsets"/>, one entry on). A node's parent is the last
    /// node seen one level up, so the pass keeps, per depth, that node's row (-1: dropped) and value, and where its next
    /// child starts: it reads the tree's columns in order and nothing else at random.
    /// </summary>
    private static int Walk(Tree tree, double fraction, Layout? layout)
    {
        var count = tree.Count;
        var rowAt = new int[64];
        var valueAt = new long[64];
        var offsetAt = new long[65];
        var nodes = layout is null ? default : layout.Nodes.AsSpan();
        var rowParent = layout is null ? default : layout.Parent.Values;
        var valueOffset = layout is null ? default : layout.ValueOffset.AsSpan();
        var childCounts = layout is null ? default : MemoryMarshal.Cast<byte, int>(layout.ChildOffsets.AsSpan());
        long trimmed = 0;
        var height = 0;
        var kept = 1;
        rowAt[0] = 0;
        valueAt[0] = tree.Cumulative[0];
        if (layout is not null)
        {
            rowParent[0] = -1;
        }
        for (var n = 1; n < count; n++)
        {
            var depth = tree.Depth[n];
            if (depth + 1 >= offsetAt.Length)
            {
                Array.Resize(ref rowAt, depth * 2);
                Array.Resize(ref valueAt, depth * 2);
                Array.Resize(ref offsetAt, depth * 2 + 1);
            }
            var parent = rowAt[depth - 1];
            var value = tree.Cumulative[n];
            if (parent < 0 || (fraction > 0 && value <= (long)(valueAt[depth - 1] * fraction)))
            {
                if (parent >= 0)
                {
                    trimmed += value;
                }
                rowAt[depth] = -1;
                continue;
            }
            var row = kept++;
            rowAt[depth] = row;
            valueAt[depth] = value;
            height = Math.Max(height, depth);
            if (layout is null)
            {
                continue;
            }
            nodes[row] = n;
            rowParent[row] = parent;
            childCounts[parent + 1]++;
            // Siblings lie side by side from their parent's left edge, which the parent set when it was seen.
            var offset = offsetAt[depth];
            valueOffset[row] = offset;
            offsetAt[depth] = offset + value;
            offsetAt[depth + 1] = offset;
        }
        if (layout is not null)
        {
            layout.Trimmed = trimmed;
            layout.Height = height;
        }
        return kept;
    }

    /// <summary>
    /// Writes the kept rows as one Arrow record, filling each column's buffer directly by row index (the children
    /// column's buffers come from <see cref="Trim"/>). The string columns (dictionaries, filled in row order) and the
    /// others are filled at once on two threads: each pass mostly waits for the frames' memory.
    /// </summary>
    private static Google.Protobuf.ByteString Write(StackSet set, Tree tree, GroupBy groupBy, Layout layout)
    {
        var count = layout.Count;
        var rows = layout.Nodes;
        var labelsOnly = new BoolColumn(count);
        var inlined = new BoolColumn(count);
        var addressColumn = new FixedColumn<ulong>(UInt64Type.Default, count);
        var lineColumn = new FixedColumn<long>(Int64Type.Default, count);
        var startLineColumn = new FixedColumn<long>(Int64Type.Default, count);
        var timestampColumn = new FixedColumn<long>(Int64Type.Default, count);
        var mappingFile = new DictionaryColumn(set.Strings, count);
        var mappingBuildId = new DictionaryColumn(set.Strings, count);
        var functionName = new DictionaryColumn(set.Strings, count);
        var systemName = new DictionaryColumn(set.Strings, count);
        var fileName = new DictionaryColumn(set.Strings, count);
        var childValidity = new NullBitmap(count);
        var labelKeys = GroupLabelKeys(set, groupBy);
        var labelColumns = new DictionaryColumn[labelKeys.Length];
        for (var i = 0; i < labelColumns.Length; i++)
        {
            labelColumns[i] = new DictionaryColumn(set.Strings, count);
        }
        IArrowArray? cumulativeArray = null, flatArray = null, diffArray = null, depthArray = null;

        Parallel.Invoke(WriteStrings, WriteOthers);

        void WriteStrings()
        {
            var frames = CollectionsMarshal.AsSpan(set.Frames);
            var mappings = CollectionsMarshal.AsSpan(set.Mappings);
            for (var r = 0; r < count; r++)
            {
                var node = rows[r];
                var f = tree.Frame[node];
                var group = tree.GroupOf(node);
                for (var i = 0; i < labelColumns.Length; i++)
                {
                    labelColumns[i].Append(group > 0 ? LabelValue(set.LabelSets[group], labelKeys[i]) : 0);
                }
                if (f < 0)
                {
                    // The root and the label rows carry no frame metadata.
                    mappingFile.AppendNull();
                    mappingBuildId.AppendNull();
                    functionName.AppendNull();
                    systemName.AppendNull();
                    fileName.AppendNull();
                    continue;
                }
                ref readonly var frame = ref frames[f];
                var conflicts = tree.Conflicts[node];
                if ((conflicts & ConflictMapping) != 0 || frame.Mapping < 0)
                {
                    mappingFile.AppendNull();
                    mappingBuildId.AppendNull();
                }
                else
                {
                    ref readonly var mapping = ref mappings[frame.Mapping];
                    mappingFile.Append(mapping.File);
                    mappingBuildId.Append(mapping.BuildId);
                }
                if (!frame.Symbolized)
                {
                    functionName.AppendNull();
                    systemName.AppendNull();
                    fileName.AppendNull();
                    continue;
                }
                functionName.Append(frame.Name);
                systemName.Append((conflicts & ConflictSystemName) != 0 ? 0 : frame.SystemName);
                fileName.Append((conflicts & ConflictFileName) != 0 ? 0 : frame.FileName);
            }
        }

        void WriteOthers()
        {
            var frames = CollectionsMarshal.AsSpan(set.Frames);
            var address = addressColumn.Values;
            var line = lineColumn.Values;
            var startLine = startLineColumn.Values;
            var childOffsets = MemoryMarshal.Cast<byte, int>(layout.ChildOffsets.AsSpan());
            for (var r = 0; r < count; r++)
            {
                var node = rows[r];
                var f = tree.Frame[node];
                if (childOffsets[r + 1] == childOffsets[r])
                {
                    childValidity.SetNull(r);
                }
                if (f < 0)
                {
                    if (node == 0)
                    {
                        labelsOnly.Validity.SetNull(r);
                    }
                    else
                    {
                        labelsOnly.SetTrue(r);
                        inlined.Validity.SetNull(r);
                    }
                    addressColumn.Validity.SetNull(r);
                    lineColumn.Validity.SetNull(r);
                    startLineColumn.Validity.SetNull(r);
                    continue;
                }
                ref readonly var frame = ref frames[f];
                var conflicts = tree.Conflicts[node];
                if ((conflicts & ConflictAddress) != 0)
                {
                    addressColumn.Validity.SetNull(r);
                }
                else
                {
                    address[r] = frame.Address;
                }
                if ((conflicts & ConflictInlined) != 0)
                {
                    inlined.Validity.SetNull(r);
                }
                else if (frame.Inlined)
                {
                    inlined.SetTrue(r);
                }
                if (!frame.Symbolized)
                {
                    lineColumn.Validity.SetNull(r);
                    startLineColumn.Validity.SetNull(r);
                    continue;
                }
                if ((conflicts & ConflictLine) != 0)
                {
                    lineColumn.Validity.SetNull(r);
                }
                else
                {
                    line[r] = frame.Line;
                }
                if ((conflicts & ConflictStartLine) != 0)
                {
                    startLineColumn.Validity.SetNull(r);
                }
                else
                {
                    startLine[r] = frame.StartLine;
                }
            }
            // The string columns are the longer pass: the numeric columns are filled on this side.
            cumulativeArray = ArrowColumns.Unsigned(tree.Cumulative, rows);
            flatArray = ArrowColumns.Unsigned(tree.Flat, rows);
            diffArray = tree.Diff is null ? ArrowColumns.Zeros(Int8Type.Default, count) : ArrowColumns.Signed(tree.Diff, rows);
            depthArray = ArrowColumns.Unsigned(tree.Depth, rows);
        }

        var childrenType = new ListType(UInt32Type.Default);
        var childrenArray = new ListArray(childrenType, count, new ArrowBuffer(layout.ChildOffsets), layout.ChildValues.Build(),
            childValidity.Build(), childValidity.NullCount);
        var columns = new List<(string Name, IArrowArray Array, bool Nullable)>
        {
            ("labels_only", labelsOnly.Build(), true),
            ("location_address", addressColumn.Build(), true),
            ("mapping_file", mappingFile.Build(), true),
            ("mapping_build_id", mappingBuildId.Build(), true),
            ("location_line", lineColumn.Build(), true),
            ("inlined", inlined.Build(), true),
            ("function_startline", startLineColumn.Build(), true),
            ("function_name", functionName.Build(), true),
            ("function_system_name", systemName.Build(), true),
            ("function_file_name", fileName.Build(), true),
            ("children", childrenArray, true),
            ("parent", layout.Parent.Build(), false),
            ("cumulative", cumulativeArray!, false),
            ("flat", flatArray!, false),
            ("diff", diffArray!, false),
            ("timestamp", timestampColumn.Build(), false),
            ("depth", depthArray!, false),
            // Parca gives value_offset the cumulative column's width: offsets never exceed the root's total.
            ("value_offset", ArrowColumns.UnsignedOfWidth(layout.ValueOffset, cumulativeArray!.Data.DataType), false),
        };
        for (var i = 0; i < labelColumns.Length; i++)
        {
            columns.Add((groupBy.Labels[i], labelColumns[i].Build(), true));
        }

        var schema = new Schema.Builder();
        var arrays = new IArrowArray[columns.Count];
        for (var i = 0; i < columns.Count; i++)
        {
            var (name, array, nullable) = columns[i];
            schema.Field(new Field(name, array.Data.DataType, nullable));
            arrays[i] = array;
        }
        using var batch = new RecordBatch(schema.Build(), arrays, count);
        return ArrowColumns.ToByteString(batch);
    }

    private static int LabelValue((int Key, int Value)[] pairs, int key)
    {
        foreach (var (k, v) in pairs)
        {
            if (k == key)
            {
                return v;
            }
        }
        return 0;
    }
}
