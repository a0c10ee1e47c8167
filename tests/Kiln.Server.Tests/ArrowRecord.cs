using System.Text;
using Apache.Arrow;
using Apache.Arrow.Ipc;

namespace Kiln.Server.Tests;

/// <summary>Reads a report's Arrow IPC stream the way Grafana does (a stream reader), asserting it holds one record batch.</summary>
public sealed class ArrowRecord
{
    public ArrowRecord(byte[] ipcStream)
    {
        using var reader = new ArrowStreamReader(new MemoryStream(ipcStream));
        Batch = reader.ReadNextRecordBatch() ?? throw new InvalidOperationException("the Arrow stream holds no record batch");
        Assert.Null(reader.ReadNextRecordBatch());
    }

    public RecordBatch Batch { get; }

    public int Rows => Batch.Length;

    public Field Field(string name) => Batch.Schema.GetFieldByName(name) ?? throw new InvalidOperationException($"no column {name}; columns: {string.Join(", ", Batch.Schema.FieldsList.Select(f => f.Name))}");

    public IArrowArray Column(string name)
    {
        Field(name);
        return Batch.Column(name);
    }

    /// <summary>A dictionary-encoded string column's value (Utf8 or Binary dictionary), null when the row is null.</summary>
    public string? Str(string column, int row)
    {
        var d = (DictionaryArray)Column(column);
        if (d.IsNull(row))
        {
            return null;
        }
        var index = d.Indices switch
        {
            Int32Array i => i.GetValue(row)!.Value,
            UInt32Array i => (int)i.GetValue(row)!.Value,
            Int16Array i => i.GetValue(row)!.Value,
            Int8Array i => i.GetValue(row)!.Value,
            _ => throw new InvalidOperationException($"{column}: unexpected index type {d.Indices.Data.DataType}"),
        };
        return d.Dictionary switch
        {
            StringArray s => s.GetString(index),
            BinaryArray b => Encoding.UTF8.GetString(b.GetBytes(index)),
            _ => throw new InvalidOperationException($"{column}: unexpected dictionary type {d.Dictionary.Data.DataType}"),
        };
    }

    /// <summary>Any integer column's value as a long (null when the row is null).</summary>
    public long? Num(string column, int row) => Column(column) switch
    {
        UInt8Array x => x.GetValue(row),
        UInt16Array x => x.GetValue(row),
        UInt32Array x => x.GetValue(row),
        UInt64Array x => (long?)x.GetValue(row),
        Int8Array x => x.GetValue(row),
        Int16Array x => x.GetValue(row),
        Int32Array x => x.GetValue(row),
        Int64Array x => x.GetValue(row),
        var other => throw new InvalidOperationException($"{column} is {other.Data.DataType}, not an integer"),
    };

    /// <summary>A list-of-integers column's value (empty when the row is null).</summary>
    public long[] List(string column, int row)
    {
        var list = (ListArray)Column(column);
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
                var other => throw new InvalidOperationException($"{column}: unexpected list value type {other.Data.DataType}"),
            };
        }
        return result;
    }

    /// <summary>Rows whose function_name is <paramref name="functionName"/>.</summary>
    public int[] RowsOf(string functionName, string column = "function_name") =>
        Enumerable.Range(0, Rows).Where(r => Str(column, r) == functionName).ToArray();
}
