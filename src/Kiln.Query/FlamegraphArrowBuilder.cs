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
/// total, diff = total diff); rows are written breadth-first, so a node's children are contiguous rows.
/// Frames merge under the same parent by function name (unsymbolized frames by address), plus the optional
/// group-by fields; when merged frames disagree on address, mapping, line, start line, system name, file name or
/// inlined-ness, that column is null for the node, as Parca does. Children are ordered label rows first (by label
/// values), then symbolized frames by function name (ordinal), then unsymbolized frames by address, so the layout
/// does not depend on sample order and two profiles of the same code line up.
/// </summary>
internal static class FlamegraphArrowBuilder
{
    private const int KindLabels = 0;
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

    /// <summary>Node storage as parallel arrays; index 0 is the root.</summary>
    /// <summary>Node storage as parallel arrays; index 0 is the root.</summary>
    private sealed class Tree
    {
        public int Count = 1;
        public int[] Parent;
        public int[] Depth;
        public int[] Frame;   // representative frame, or -1 for the root and label rows
        public int[] Group;   // grouped label set id of the label row this node is under, or 0
        public byte[] Conflicts;
        public long[] Cumulative;
        public long[] Flat;
        public long[] Diff;

        public Tree(int capacity)
        {
            capacity = Math.Max(capacity, 1024);
            Parent = new int[capacity];
            Depth = new int[capacity];
            Frame = new int[capacity];
            Group = new int[capacity];
            Conflicts = new byte[capacity];
            Cumulative = new long[capacity];
            Flat = new long[capacity];
            Diff = new long[capacity];
            Parent[0] = -1;
            Frame[0] = -1;
        }

        public int Add(int parent, int frame, int group)
        {
            if (Count == Parent.Length)
            {
                var size = Count * 2;
                Array.Resize(ref Parent, size);
                Array.Resize(ref Depth, size);
                Array.Resize(ref Frame, size);
                Array.Resize(ref Group, size);
                Array.Resize(ref Conflicts, size);
                Array.Resize(ref Cumulative, size);
                Array.Resize(ref Flat, size);
                Array.Resize(ref Diff, size);
            }
            var n = Count++;
            Parent[n] = parent;
            Depth[n] = Depth[parent] + 1;
            Frame[n] = frame;
            Group[n] = group;
            return n;
        }
    }

    /// <summary>
    /// Finds the child of a node by merge key: open addressing with linear probing over one array of (key, node)
    /// slots, where the key packs (parent, merge key id) into 64 bits. Node 0 (the root) is never a child, so a slot
    /// holding node 0 is empty. Kept at most half full.
    /// </summary>
    private sealed class ChildIndex
    {
        private struct Slot
        {
            public ulong Key;
            public int Node;
        }

        private Slot[] _slots;
        private int _shift;
        private int _count;

        public ChildIndex(int expected)
        {
            var bits = Math.Max(10, BitOperations.Log2((uint)Math.Max(expected, 1) - 1) + 2);
            _slots = new Slot[1 << bits];
            _shift = 64 - bits;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private int Home(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

        public int GetOrAdd(Tree tree, int parent, int key, int frame, int group)
        {
            var k = ((ulong)(uint)parent << 32) | (uint)key;
            var slots = _slots;
            var mask = slots.Length - 1;
            var i = Home(k);
            while (true)
            {
                ref var slot = ref slots[i];
                if (slot.Node == 0)
                {
                    var node = tree.Add(parent, frame, group);
                    slot.Key = k;
                    slot.Node = node;
                    if (++_count * 2 > slots.Length)
                    {
                        Grow();
                    }
                    return node;
                }
                if (slot.Key == k)
                {
                    return slot.Node;
                }
                i = (i + 1) & mask;
            }
        }

        private void Grow()
        {
            var old = _slots;
            _slots = new Slot[old.Length * 2];
            _shift--;
            var mask = _slots.Length - 1;
            foreach (var slot in old)
            {
                if (slot.Node == 0)
                {
                    continue;
                }
                var i = Home(slot.Key);
                while (_slots[i].Node != 0)
                {
                    i = (i + 1) & mask;
                }
                _slots[i] = slot;
            }
        }
    }

    public static FlamegraphArrow Build(StackSet set, ReportOptions options, out long total)
    {
        var groupBy = ParseGroupBy(options.GroupBy);
        var frames = CollectionsMarshal.AsSpan(set.Frames);
        var groupedSets = GroupedLabelSets(set, groupBy);
        // Resolve each frame's merge identity once, so the per-frame work below is two array reads and a probe.
        var keyOfFrame = MergeKeys(set, groupBy, out var labelKeyBase);
        var tree = new Tree(set.SampleCount * 8);
        var index = new ChildIndex(set.SampleCount * 8);
        var path = new int[128];
        long rootDiff = 0;
        total = 0;

        for (var s = 0; s < set.SampleCount; s++)
        {
            if (!set.IsSampleKept(s))
            {
                continue;
            }
            var value = set.Value(s);
            var diff = set.Diff(s);
            total += value;
            rootDiff += diff;

            var parent = 0;
            var group = groupedSets.Length > 0 ? groupedSets[set.LabelSet(s)] : 0;
            if (group > 0)
            {
                parent = index.GetOrAdd(tree, 0, labelKeyBase + group, -1, group);
                tree.Cumulative[parent] += value;
                tree.Diff[parent] += diff;
            }

            var n = set.CopyFrames(s, ref path, rootFirst: !options.InvertCallStack);
            for (var i = 0; i < n; i++)
            {
                var f = path[i];
                var node = index.GetOrAdd(tree, parent, keyOfFrame[f], f, group);
                var representative = tree.Frame[node];
                if (representative != f)
                {
                    tree.Conflicts[node] |= Compare(set, frames[representative], frames[f]);
                }
                tree.Cumulative[node] += value;
                tree.Diff[node] += diff;
                parent = node;
            }
            if (n > 0)
            {
                tree.Flat[parent] += value;
            }
        }
        tree.Cumulative[0] = total;
        tree.Diff[0] = rootDiff;

        var (childStart, children) = SortedChildren(set, tree, groupBy, groupedSets);
        var fraction = options.NodeTrimThreshold is > 0 ? options.NodeTrimThreshold.Value / 100.0 : 0.0;
        var rows = Trim(tree, childStart, children, fraction, out var trimmed, out var rowParent, out var valueOffset,
            out var rowChildStart, out var rowChildCount);

        var record = Write(set, tree, groupBy, rows, rowParent, valueOffset, rowChildStart, rowChildCount);
        var height = 0;
        foreach (var node in rows)
        {
            height = Math.Max(height, tree.Depth[node]);
        }
        return new FlamegraphArrow
        {
            Record = record,
            Unit = set.Unit,
            // Parca reports the number of levels including the root (max depth + 1).
            Height = height + 1,
            Trimmed = trimmed,
        };
    }

    /// <summary>
    /// Gives every frame the id of its merge identity: frames merge under the same parent by function name
    /// (unsymbolized ones by address) plus the group-by fields. Label rows use ids from
    /// <paramref name="labelKeyBase"/> + grouped label set id, which no frame uses.
    /// </summary>
    private static int[] MergeKeys(StackSet set, GroupBy groupBy, out int labelKeyBase)
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
        labelKeyBase = ids.Count;
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


    /// <summary>
    /// Children of every node as ranges of one array (CSR), each range sorted: label rows first (by label values),
    /// then symbolized frames by function name (ordinal), then unsymbolized frames by address; equal names or
    /// addresses keep creation order. Names are ranked once, so sorting siblings compares integers.
    /// </summary>
    private static (int[] Start, int[] Children) SortedChildren(StackSet set, Tree tree, GroupBy groupBy, int[] groupedSets)
    {
        var start = new int[tree.Count + 1];
        for (var n = 1; n < tree.Count; n++)
        {
            start[tree.Parent[n] + 1]++;
        }
        var widest = 0;
        for (var n = 0; n < tree.Count; n++)
        {
            widest = Math.Max(widest, start[n + 1]);
            start[n + 1] += start[n];
        }
        var children = new int[Math.Max(0, tree.Count - 1)];
        var fill = start.AsSpan(0, tree.Count).ToArray();
        for (var n = 1; n < tree.Count; n++)
        {
            children[fill[tree.Parent[n]]++] = n;
        }

        var groupRank = GroupRanks(set, groupBy, groupedSets, out var groupCount);
        var frameRank = FrameRanks(set);
        var keys = new ulong[widest];
        for (var n = 0; n < tree.Count; n++)
        {
            var length = start[n + 1] - start[n];
            if (length < 2)
            {
                continue;
            }
            var range = children.AsSpan(start[n], length);
            for (var i = 0; i < length; i++)
            {
                var child = range[i];
                var f = tree.Frame[child];
                var rank = f < 0 ? groupRank[tree.Group[child]] : groupCount + frameRank[f];
                keys[i] = ((ulong)(uint)rank << 32) | (uint)child;
            }
            var sorted = keys.AsSpan(0, length);
            sorted.Sort();
            for (var i = 0; i < length; i++)
            {
                range[i] = (int)(uint)sorted[i];
            }
        }
        return (start, children);
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
    /// Breadth-first walk from the root that keeps a child only when its cumulative value is greater than
    /// <paramref name="fraction"/> of its parent's (parca flamegraph_arrow.go trim); the cumulative values of dropped
    /// children are summed into <paramref name="trimmed"/>. Returns the kept nodes in output row order.
    /// </summary>
    private static int[] Trim(Tree tree, int[] childStart, int[] children, double fraction, out long trimmed,
        out int[] rowParent, out long[] valueOffset, out int[] rowChildStart, out int[] rowChildCount)
    {
        var order = new int[tree.Count];
        rowParent = new int[tree.Count];
        valueOffset = new long[tree.Count];
        rowChildStart = new int[tree.Count];
        rowChildCount = new int[tree.Count];
        trimmed = 0;
        order[0] = 0;
        rowParent[0] = -1;
        int head = 0, tail = 1;
        while (head < tail)
        {
            var row = head++;
            var node = order[row];
            var threshold = fraction > 0 ? (long)(tree.Cumulative[node] * fraction) : long.MinValue;
            var offset = valueOffset[row];
            rowChildStart[row] = tail;
            for (var i = childStart[node]; i < childStart[node + 1]; i++)
            {
                var child = children[i];
                if (fraction > 0 && tree.Cumulative[child] <= threshold)
                {
                    trimmed += tree.Cumulative[child];
                    continue;
                }
                order[tail] = child;
                rowParent[tail] = row;
                valueOffset[tail] = offset;
                offset += tree.Cumulative[child];
                tail++;
            }
            rowChildCount[row] = tail - rowChildStart[row];
        }
        Array.Resize(ref order, tail);
        return order;
    }


    /// <summary>
    /// Writes the kept rows as one Arrow record, filling each column's buffer directly by row index. The children
    /// of row r are rows <c>rowChildStart[r] ..+ rowChildCount[r]</c>, so the List values are written as ranges.
    /// </summary>
    private static Google.Protobuf.ByteString Write(StackSet set, Tree tree, GroupBy groupBy, int[] rows, int[] rowParent,
        long[] valueOffset, int[] rowChildStart, int[] rowChildCount)
    {
        var count = rows.Length;
        var frames = CollectionsMarshal.AsSpan(set.Frames);
        var mappings = CollectionsMarshal.AsSpan(set.Mappings);
        var labelsOnly = new BoolColumn(count);
        var inlined = new BoolColumn(count);
        var addressColumn = new FixedColumn<ulong>(UInt64Type.Default, count);
        var lineColumn = new FixedColumn<long>(Int64Type.Default, count);
        var startLineColumn = new FixedColumn<long>(Int64Type.Default, count);
        var parentColumn = new FixedColumn<int>(Int32Type.Default, count);
        var timestampColumn = new FixedColumn<long>(Int64Type.Default, count);
        var address = addressColumn.Values;
        var line = lineColumn.Values;
        var startLine = startLineColumn.Values;
        var parent = parentColumn.Values;
        var mappingFile = new DictionaryColumn(set.Strings, count);
        var mappingBuildId = new DictionaryColumn(set.Strings, count);
        var functionName = new DictionaryColumn(set.Strings, count);
        var systemName = new DictionaryColumn(set.Strings, count);
        var fileName = new DictionaryColumn(set.Strings, count);
        var childOffsetBytes = new byte[(count + 1) * sizeof(int)];
        var childOffsets = MemoryMarshal.Cast<byte, int>(childOffsetBytes.AsSpan());
        var childValidity = new NullBitmap(count);
        var cumulative = new long[count];
        var flat = new long[count];
        var diff = new long[count];
        var depth = new long[count];
        var labelKeys = GroupLabelKeys(set, groupBy);
        var labelColumns = new DictionaryColumn[labelKeys.Length];
        for (var i = 0; i < labelColumns.Length; i++)
        {
            labelColumns[i] = new DictionaryColumn(set.Strings, count);
        }

        var childCount = 0;
        for (var r = 0; r < count; r++)
        {
            childCount += rowChildCount[r];
        }
        var childValueColumn = new FixedColumn<uint>(UInt32Type.Default, childCount);
        var childValues = childValueColumn.Values;

        var childEnd = 0;
        for (var r = 0; r < count; r++)
        {
            var node = rows[r];
            var f = tree.Frame[node];
            var conflicts = tree.Conflicts[node];
            cumulative[r] = tree.Cumulative[node];
            flat[r] = tree.Flat[node];
            diff[r] = tree.Diff[node];
            depth[r] = tree.Depth[node];
            parent[r] = rowParent[r];
            childOffsets[r] = childEnd;
            if (rowChildCount[r] == 0)
            {
                childValidity.SetNull(r);
            }
            else
            {
                for (var c = 0; c < rowChildCount[r]; c++)
                {
                    childValues[childEnd++] = (uint)(rowChildStart[r] + c);
                }
            }
            var group = tree.Group[node];
            for (var i = 0; i < labelColumns.Length; i++)
            {
                labelColumns[i].Append(group > 0 ? LabelValue(set.LabelSets[group], labelKeys[i]) : 0);
            }

            if (f < 0)
            {
                // The root and the label rows carry no frame metadata.
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
                mappingFile.AppendNull();
                mappingBuildId.AppendNull();
                lineColumn.Validity.SetNull(r);
                startLineColumn.Validity.SetNull(r);
                functionName.AppendNull();
                systemName.AppendNull();
                fileName.AppendNull();
                continue;
            }

            ref readonly var frame = ref frames[f];
            if ((conflicts & ConflictAddress) != 0)
            {
                addressColumn.Validity.SetNull(r);
            }
            else
            {
                address[r] = frame.Address;
            }
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
                functionName.AppendNull();
                systemName.AppendNull();
                fileName.AppendNull();
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
            functionName.Append(frame.Name);
            systemName.Append((conflicts & ConflictSystemName) != 0 ? 0 : frame.SystemName);
            fileName.Append((conflicts & ConflictFileName) != 0 ? 0 : frame.FileName);
        }
        childOffsets[count] = childEnd;

        var childrenType = new ListType(UInt32Type.Default);
        var childrenArray = new ListArray(childrenType, count, new ArrowBuffer(childOffsetBytes), childValueColumn.Build(),
            childValidity.Build(), childValidity.NullCount);
        var cumulativeArray = ArrowColumns.Unsigned(cumulative);
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
            ("parent", parentColumn.Build(), false),
            ("cumulative", cumulativeArray, false),
            ("flat", ArrowColumns.Unsigned(flat), false),
            ("diff", ArrowColumns.Signed(diff), false),
            ("timestamp", timestampColumn.Build(), false),
            ("depth", ArrowColumns.Unsigned(depth), false),
            // Parca gives value_offset the cumulative column's width: offsets never exceed the root's total.
            ("value_offset", ArrowColumns.UnsignedOfWidth(valueOffset.AsSpan(0, count), cumulativeArray.Data.DataType), false),
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
