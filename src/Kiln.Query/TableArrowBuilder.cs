using Apache.Arrow;
using Apache.Arrow.Types;
using Array = System.Array;
using Kiln.Api.Query;

namespace Kiln.Query;

/// <summary>
/// Builds Parca's TABLE_ARROW record (parca pkg/query/table.go): one row per function with the columns
/// mapping_file, mapping_build_id, function_name, function_system_name, function_file_name (dictionary, Int32
/// indices, Utf8 values as Parca's table uses strings), location_address (UInt64), location_line and
/// function_startline (Int64, null when unknown), cumulative, cumulative_diff, flat, flat_diff (Int64) and
/// callers / callees (List&lt;Int64&gt; of row indices, null when empty). Rows are sorted by flat descending.
/// </summary>
internal static class TableArrowBuilder
{
    public static TableArrow Build(StackSet set, FunctionAggregate agg)
    {
        var order = agg.OrderByFlat(set);
        var rowOf = new int[order.Length];
        for (var r = 0; r < order.Length; r++)
        {
            rowOf[order[r]] = r;
        }
        var callers = new List<long>?[order.Length];
        var callees = new List<long>?[order.Length];
        foreach (var ((caller, callee), _) in agg.Edges)
        {
            if (caller == callee)
            {
                continue;
            }
            (callers[rowOf[callee]] ??= []).Add(rowOf[caller]);
            (callees[rowOf[caller]] ??= []).Add(rowOf[callee]);
        }

        var mappingFile = new DictionaryColumn(set.Strings, order.Length, utf8: true);
        var mappingBuildId = new DictionaryColumn(set.Strings, order.Length, utf8: true);
        var address = new UInt64Array.Builder();
        var line = new Int64Array.Builder();
        var startLine = new Int64Array.Builder();
        var functionName = new DictionaryColumn(set.Strings, order.Length, utf8: true);
        var systemName = new DictionaryColumn(set.Strings, order.Length, utf8: true);
        var fileName = new DictionaryColumn(set.Strings, order.Length, utf8: true);
        var cumulative = new Int64Array.Builder();
        var cumulativeDiff = new Int64Array.Builder();
        var flat = new Int64Array.Builder();
        var flatDiff = new Int64Array.Builder();
        var callersBuilder = new ListArray.Builder(Int64Type.Default);
        var calleesBuilder = new ListArray.Builder(Int64Type.Default);

        for (var r = 0; r < order.Length; r++)
        {
            var fn = order[r];
            var frame = set.Frames[agg.Frame[fn]];
            if (frame.Mapping >= 0)
            {
                mappingFile.Append(set.Mappings[frame.Mapping].File);
                mappingBuildId.Append(set.Mappings[frame.Mapping].BuildId);
            }
            else
            {
                mappingFile.AppendNull();
                mappingBuildId.AppendNull();
            }
            address.Append(frame.Address);
            if (frame.Symbolized)
            {
                line.Append(frame.Line);
                startLine.Append(frame.StartLine);
                functionName.Append(frame.Name);
                systemName.Append(frame.SystemName);
                fileName.Append(frame.FileName);
            }
            else
            {
                line.AppendNull();
                startLine.AppendNull();
                functionName.AppendNull();
                systemName.AppendNull();
                fileName.AppendNull();
            }
            cumulative.Append(agg.Cumulative[fn]);
            cumulativeDiff.Append(agg.CumulativeDiff[fn]);
            flat.Append(agg.Flat[fn]);
            flatDiff.Append(agg.FlatDiff[fn]);
            AppendList(callersBuilder, callers[r]);
            AppendList(calleesBuilder, callees[r]);
        }

        var columns = new (string Name, IArrowArray Array, bool Nullable)[]
        {
            ("mapping_file", mappingFile.Build(), true),
            ("mapping_build_id", mappingBuildId.Build(), true),
            ("location_address", address.Build(), false),
            ("location_line", line.Build(), true),
            ("function_startline", startLine.Build(), true),
            ("function_name", functionName.Build(), true),
            ("function_system_name", systemName.Build(), true),
            ("function_file_name", fileName.Build(), true),
            ("cumulative", cumulative.Build(), false),
            ("cumulative_diff", cumulativeDiff.Build(), true),
            ("flat", flat.Build(), false),
            ("flat_diff", flatDiff.Build(), false),
            ("callers", callersBuilder.Build(), true),
            ("callees", calleesBuilder.Build(), true),
        };
        var schema = new Schema.Builder();
        var arrays = new IArrowArray[columns.Length];
        for (var i = 0; i < columns.Length; i++)
        {
            schema.Field(new Field(columns[i].Name, columns[i].Array.Data.DataType, columns[i].Nullable));
            arrays[i] = columns[i].Array;
        }
        using var batch = new RecordBatch(schema.Build(), arrays, order.Length);
        return new TableArrow
        {
            Record = ArrowColumns.ToByteString(batch),
            Unit = set.Unit,
        };
    }

    private static void AppendList(ListArray.Builder builder, List<long>? values)
    {
        if (values is null)
        {
            builder.AppendNull();
            return;
        }
        values.Sort();
        builder.Append();
        var valueBuilder = (Int64Array.Builder)builder.ValueBuilder;
        foreach (var v in values)
        {
            valueBuilder.Append(v);
        }
    }
}
