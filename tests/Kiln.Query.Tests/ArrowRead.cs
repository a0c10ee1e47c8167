using System.Text;
using Apache.Arrow;
using Apache.Arrow.Ipc;

namespace Kiln.Query.Tests;

/// <summary>Reads a report's Arrow IPC stream back, asserting it holds exactly one record batch.</summary>
internal sealed class ArrowRead
{
    public RecordBatch Batch { get; }

    public ArrowRead(byte[] bytes)
    {
        using var reader = new ArrowStreamReader(new MemoryStream(bytes));
        Batch = reader.ReadNextRecordBatch() ?? throw new InvalidOperationException("no record batch");
        Assert.Null(reader.ReadNextRecordBatch());
    }

    public int Rows => Batch.Length;

    public IArrowArray Column(string name) => Batch.Column(name);

    public string? Str(string column, int row)
    {
        var d = (DictionaryArray)Batch.Column(column);
        if (d.IsNull(row))
        {
            return null;
        }
        var index = d.Indices switch
        {
            Int8Array i => i.GetValue(row)!.Value,
            Int16Array i => i.GetValue(row)!.Value,
            Int32Array i => i.GetValue(row)!.Value,
            _ => throw new InvalidOperationException($"{column}: unexpected index type {d.Indices.Data.DataType}"),
        };
        return d.Dictionary switch
        {
            StringArray s => s.GetString(index),
            BinaryArray b => Encoding.UTF8.GetString(b.GetBytes(index)),
            _ => throw new InvalidOperationException("unexpected dictionary value type"),
        };
    }

    public long? Num(string column, int row) => Batch.Column(column) switch
    {
        UInt8Array x => x.GetValue(row),
        UInt16Array x => x.GetValue(row),
        UInt32Array x => x.GetValue(row),
        UInt64Array x => (long?)x.GetValue(row),
        Int8Array x => x.GetValue(row),
        Int16Array x => x.GetValue(row),
        Int32Array x => x.GetValue(row),
        Int64Array x => x.GetValue(row),
        _ => throw new InvalidOperationException($"{column} is not numeric"),
    };

    public bool? Bool(string column, int row) => ((BooleanArray)Batch.Column(column)).GetValue(row);

    public long[] List(string column, int row)
    {
        var list = (ListArray)Batch.Column(column);
        if (list.IsNull(row))
        {
            return [];
        }
        var start = list.ValueOffsets[row];
        var end = list.ValueOffsets[row + 1];
        var result = new long[end - start];
        for (var i = start; i < end; i++)
        {
            result[i - start] = list.Values switch
            {
                UInt32Array u => u.GetValue(i)!.Value,
                Int64Array l => l.GetValue(i)!.Value,
                _ => throw new InvalidOperationException("unexpected list value type"),
            };
        }
        return result;
    }

    /// <summary>Row index of the node with this function name (first match).</summary>
    public int RowOf(string functionName)
    {
        for (var r = 0; r < Rows; r++)
        {
            if (Str("function_name", r) == functionName)
            {
                return r;
            }
        }
        throw new InvalidOperationException($"no row named {functionName}");
    }
}
