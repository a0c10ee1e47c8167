using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;

namespace Kiln.Bench.Micro;

/// <summary>
/// Hashes what an Arrow IPC record means (schema, every value and null), not its bytes, so that a faster writer that
/// lays buffers out differently (for example, omits an all-valid bitmap) still compares equal.
/// </summary>
internal static class ReportHash
{
    public static IEnumerable<(string Column, string Hash)> Columns(byte[] ipc)
    {
        using var reader = new ArrowStreamReader(new MemoryStream(ipc));
        using var batch = reader.ReadNextRecordBatch() ?? throw new InvalidOperationException("no record batch");
        var result = new List<(string, string)> { ("rows", batch.Length.ToString(CultureInfo.InvariantCulture)) };
        for (var c = 0; c < batch.ColumnCount; c++)
        {
            var field = batch.Schema.GetFieldByIndex(c);
            var sb = new StringBuilder();
            sb.Append(field.Name).Append(' ').Append(TypeName(field.DataType)).Append(field.IsNullable).Append('\n');
            var array = batch.Column(c);
            for (var r = 0; r < batch.Length; r++)
            {
                sb.Append(Value(array, r)).Append('\n');
            }
            result.Add((field.Name, Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16]));
        }
        return result;
    }

    private static string TypeName(IArrowType type) => type switch
    {
        DictionaryType d => $"dict<{TypeName(d.IndexType)},{TypeName(d.ValueType)}>",
        ListType l => $"list<{TypeName(l.ValueDataType)},{l.ValueField.Name},{l.ValueField.IsNullable}>",
        _ => type.Name,
    };

    private static string Value(IArrowArray array, int i)
    {
        if (array.IsNull(i))
        {
            return "null";
        }
        return array switch
        {
            BooleanArray a => a.GetValue(i)!.Value ? "true" : "false",
            UInt8Array a => a.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            UInt16Array a => a.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            UInt32Array a => a.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            UInt64Array a => a.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            Int8Array a => a.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            Int16Array a => a.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            Int32Array a => a.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            Int64Array a => a.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
            StringArray a => "s:" + a.GetString(i),
            BinaryArray a => "b:" + Encoding.UTF8.GetString(a.GetBytes(i)),
            DictionaryArray a => Value(a.Indices, i) + "=" + Value(a.Dictionary, int.Parse(Value(a.Indices, i), CultureInfo.InvariantCulture)),
            ListArray a => "[" + string.Join(",", Enumerable.Range(a.ValueOffsets[i], a.ValueOffsets[i + 1] - a.ValueOffsets[i]).Select(j => Value(a.Values, j))) + "]",
            _ => throw new InvalidOperationException($"unexpected array {array.GetType().Name}"),
        };
    }
}
