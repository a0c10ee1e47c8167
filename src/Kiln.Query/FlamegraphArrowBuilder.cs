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

    private readonly record struct NodeKey(int Parent, int Kind, long A, long B, int C, int D);

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
    private sealed class Tree
    {
        public int Count = 1;
        public int[] Parent = new int[1024];
        public int[] Depth = new int[1024];
        public int[] Frame = new int[1024];   // representative frame, or -1 for the root and label rows
        public int[] Group = new int[1024];   // grouped label set id of the label row this node is under, or 0
        public byte[] Conflicts = new byte[1024];
        public long[] Cumulative = new long[1024];
        public long[] Flat = new long[1024];
        public long[] Diff = new long[1024];

        public Tree()
        {
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

    public static FlamegraphArrow Build(StackSet set, ReportOptions options, out long total)
    {
        var groupBy = ParseGroupBy(options.GroupBy);
        var tree = new Tree();
        var index = new Dictionary<NodeKey, int>(Math.Max(16, set.Frames.Count));
        var frames = CollectionsMarshal.AsSpan(set.Frames);
        var groupedSets = GroupedLabelSets(set, groupBy);
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
                parent = GetOrAdd(tree, index, new NodeKey(0, KindLabels, group, 0, 0, 0), 0, -1, group);
                tree.Cumulative[parent] += value;
                tree.Diff[parent] += diff;
            }

            var n = set.CopyFrames(s, ref path, rootFirst: !options.InvertCallStack);
            for (var i = 0; i < n; i++)
            {
                var f = path[i];
                ref readonly var frame = ref frames[f];
                var key = frame.Symbolized
                    ? new NodeKey(parent, KindFunction, frame.Name,
                        groupBy.Address ? (long)frame.Address : 0,
                        groupBy.MappingFile ? MappingFile(set, frame) : 0,
                        groupBy.FileName ? frame.FileName : 0)
                    : new NodeKey(parent, KindAddress, (long)frame.Address, 0,
                        groupBy.MappingFile ? MappingFile(set, frame) : 0, 0);
                var node = GetOrAdd(tree, index, key, parent, f, group);
                if (tree.Frame[node] != f)
                {
                    tree.Conflicts[node] |= Compare(set, frames[tree.Frame[node]], frame);
                }
                tree.Cumulative[node] += value;
                tree.Diff[node] += diff;
                if (i == n - 1)
                {
                    tree.Flat[node] += value;
                }
                parent = node;
            }
        }
        tree.Cumulative[0] = total;
        tree.Diff[0] = rootDiff;

        var (childStart, children) = SortedChildren(set, tree, groupedSets.Length > 0 ? GroupLabelKeys(set, groupBy) : null);
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
            Record = Google.Protobuf.ByteString.CopyFrom(record),
            Unit = set.Unit,
            // Parca reports the number of levels including the root (max depth + 1).
            Height = height + 1,
            Trimmed = trimmed,
        };
    }

    private static int GetOrAdd(Tree tree, Dictionary<NodeKey, int> index, NodeKey key, int parent, int frame, int group)
    {
        ref var node = ref CollectionsMarshal.GetValueRefOrAddDefault(index, key, out var exists);
        if (!exists)
        {
            node = tree.Add(parent, frame, group);
        }
        return node;
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

    private static (int[] Start, int[] Children) SortedChildren(StackSet set, Tree tree, int[]? labelKeys)
    {
        var start = new int[tree.Count + 1];
        for (var n = 1; n < tree.Count; n++)
        {
            start[tree.Parent[n] + 1]++;
        }
        for (var n = 0; n < tree.Count; n++)
        {
            start[n + 1] += start[n];
        }
        var children = new int[Math.Max(0, tree.Count - 1)];
        var fill = start.AsSpan(0, tree.Count).ToArray();
        for (var n = 1; n < tree.Count; n++)
        {
            children[fill[tree.Parent[n]]++] = n;
        }
        var comparer = new ChildComparer(set, tree, labelKeys ?? []);
        for (var n = 0; n < tree.Count; n++)
        {
            var length = start[n + 1] - start[n];
            if (length > 1)
            {
                Array.Sort(children, start[n], length, comparer);
            }
        }
        return (start, children);
    }

    private sealed class ChildComparer(StackSet set, Tree tree, int[] labelKeys) : IComparer<int>
    {
        public int Compare(int x, int y)
        {
            int fx = tree.Frame[x], fy = tree.Frame[y];
            if (fx < 0 || fy < 0)
            {
                if (fx >= 0)
                {
                    return 1;
                }
                if (fy >= 0)
                {
                    return -1;
                }
                return CompareLabels(tree.Group[x], tree.Group[y]);
            }
            var a = set.Frames[fx];
            var b = set.Frames[fy];
            if (a.Symbolized != b.Symbolized)
            {
                return a.Symbolized ? -1 : 1;
            }
            var c = a.Symbolized ? string.CompareOrdinal(set.Strings[a.Name], set.Strings[b.Name]) : a.Address.CompareTo(b.Address);
            return c != 0 ? c : x.CompareTo(y);
        }

        private int CompareLabels(int x, int y)
        {
            var a = set.LabelSets[x];
            var b = set.LabelSets[y];
            foreach (var key in labelKeys)
            {
                var c = string.CompareOrdinal(ValueOf(a, key), ValueOf(b, key));
                if (c != 0)
                {
                    return c;
                }
            }
            return x.CompareTo(y);
        }

        private string ValueOf((int Key, int Value)[] pairs, int key)
        {
            foreach (var (k, v) in pairs)
            {
                if (k == key)
                {
                    return set.Strings[v];
                }
            }
            return "";
        }
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

    private static byte[] Write(StackSet set, Tree tree, GroupBy groupBy, int[] rows, int[] rowParent, long[] valueOffset,
        int[] rowChildStart, int[] rowChildCount)
    {
        var count = rows.Length;
        var labelsOnly = new BooleanArray.Builder().Reserve(count);
        var address = new UInt64Array.Builder().Reserve(count);
        var mappingFile = new DictionaryColumn(set.Strings);
        var mappingBuildId = new DictionaryColumn(set.Strings);
        var line = new Int64Array.Builder().Reserve(count);
        var inlined = new BooleanArray.Builder().Reserve(count);
        var startLine = new Int64Array.Builder().Reserve(count);
        var functionName = new DictionaryColumn(set.Strings);
        var systemName = new DictionaryColumn(set.Strings);
        var fileName = new DictionaryColumn(set.Strings);
        var childrenBuilder = new ListArray.Builder(UInt32Type.Default);
        var childValues = (UInt32Array.Builder)childrenBuilder.ValueBuilder;
        var parent = new Int32Array.Builder().Reserve(count);
        var timestamp = new Int64Array.Builder().Reserve(count);
        var cumulative = new long[count];
        var flat = new long[count];
        var diff = new long[count];
        var depth = new long[count];
        var labelKeys = GroupLabelKeys(set, groupBy);
        var labelColumns = new DictionaryColumn[labelKeys.Length];
        for (var i = 0; i < labelColumns.Length; i++)
        {
            labelColumns[i] = new DictionaryColumn(set.Strings);
        }

        for (var r = 0; r < count; r++)
        {
            var node = rows[r];
            var f = tree.Frame[node];
            var conflicts = tree.Conflicts[node];
            cumulative[r] = tree.Cumulative[node];
            flat[r] = tree.Flat[node];
            diff[r] = tree.Diff[node];
            depth[r] = tree.Depth[node];
            parent.Append(rowParent[r]);
            timestamp.Append(0);
            if (rowChildCount[r] == 0)
            {
                childrenBuilder.AppendNull();
            }
            else
            {
                childrenBuilder.Append();
                for (var c = 0; c < rowChildCount[r]; c++)
                {
                    childValues.Append((uint)(rowChildStart[r] + c));
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
                    labelsOnly.AppendNull();
                    inlined.Append(false);
                }
                else
                {
                    labelsOnly.Append(true);
                    inlined.AppendNull();
                }
                address.AppendNull();
                mappingFile.AppendNull();
                mappingBuildId.AppendNull();
                line.AppendNull();
                startLine.AppendNull();
                functionName.AppendNull();
                systemName.AppendNull();
                fileName.AppendNull();
                continue;
            }

            var frame = set.Frames[f];
            labelsOnly.Append(false);
            if ((conflicts & ConflictAddress) != 0)
            {
                address.AppendNull();
            }
            else
            {
                address.Append(frame.Address);
            }
            if ((conflicts & ConflictMapping) != 0 || frame.Mapping < 0)
            {
                mappingFile.AppendNull();
                mappingBuildId.AppendNull();
            }
            else
            {
                var mapping = set.Mappings[frame.Mapping];
                mappingFile.Append(mapping.File);
                mappingBuildId.Append(mapping.BuildId);
            }
            if ((conflicts & ConflictInlined) != 0)
            {
                inlined.AppendNull();
            }
            else
            {
                inlined.Append(frame.Inlined);
            }
            if (!frame.Symbolized)
            {
                line.AppendNull();
                startLine.AppendNull();
                functionName.AppendNull();
                systemName.AppendNull();
                fileName.AppendNull();
                continue;
            }
            AppendOrNull(line, frame.Line, (conflicts & ConflictLine) != 0);
            AppendOrNull(startLine, frame.StartLine, (conflicts & ConflictStartLine) != 0);
            functionName.Append(frame.Name);
            if ((conflicts & ConflictSystemName) != 0)
            {
                systemName.AppendNull();
            }
            else
            {
                systemName.Append(frame.SystemName);
            }
            if ((conflicts & ConflictFileName) != 0)
            {
                fileName.AppendNull();
            }
            else
            {
                fileName.Append(frame.FileName);
            }
        }

        var cumulativeArray = ArrowColumns.Unsigned(cumulative);
        var columns = new List<(string Name, IArrowArray Array, bool Nullable)>
        {
            ("labels_only", labelsOnly.Build(), true),
            ("location_address", address.Build(), true),
            ("mapping_file", mappingFile.Build(), true),
            ("mapping_build_id", mappingBuildId.Build(), true),
            ("location_line", line.Build(), true),
            ("inlined", inlined.Build(), true),
            ("function_startline", startLine.Build(), true),
            ("function_name", functionName.Build(), true),
            ("function_system_name", systemName.Build(), true),
            ("function_file_name", fileName.Build(), true),
            ("children", childrenBuilder.Build(), true),
            ("parent", parent.Build(), false),
            ("cumulative", cumulativeArray, false),
            ("flat", ArrowColumns.Unsigned(flat), false),
            ("diff", ArrowColumns.Signed(diff), false),
            ("timestamp", timestamp.Build(), false),
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
        return ArrowColumns.ToIpcStream(batch);
    }

    private static void AppendOrNull(Int64Array.Builder builder, long value, bool isNull)
    {
        if (isNull)
        {
            builder.AppendNull();
        }
        else
        {
            builder.Append(value);
        }
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
