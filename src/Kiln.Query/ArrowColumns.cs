using System.Text;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Array = System.Array;

namespace Kiln.Query;

/// <summary>Builds a dictionary-encoded string column (Int32 indices) from pooled string ids.</summary>
internal sealed class DictionaryColumn
{
    private readonly StringPool _pool;
    private readonly int[] _remap;
    private readonly bool _utf8;
    private readonly BinaryArray.Builder _binary = new();
    private readonly StringArray.Builder _strings = new();
    private readonly Int32Array.Builder _indices = new();
    private int _distinct;

    public DictionaryColumn(StringPool pool, bool utf8 = false)
    {
        _pool = pool;
        _utf8 = utf8;
        _remap = new int[pool.Count];
        Array.Fill(_remap, -1);
    }

    public DictionaryType Type => new(Int32Type.Default, _utf8 ? StringType.Default : BinaryType.Default, false);

    /// <summary>Appends the string with pool id <paramref name="id"/>; id 0 ("") is written as null.</summary>
    public void Append(int id)
    {
        if (id <= 0)
        {
            _indices.AppendNull();
            return;
        }
        ref var index = ref _remap[id];
        if (index < 0)
        {
            index = _distinct++;
            if (_utf8)
            {
                _strings.Append(_pool[id]);
            }
            else
            {
                _binary.Append(Encoding.UTF8.GetBytes(_pool[id]).AsSpan());
            }
        }
        _indices.Append(index);
    }

    public void AppendNull() => _indices.AppendNull();

    public DictionaryArray Build()
    {
        IArrowArray values = _utf8 ? _strings.Build() : _binary.Build();
        return new DictionaryArray(Type, _indices.Build(), values);
    }
}

internal static class ArrowColumns
{
    /// <summary>
    /// An unsigned column of the smallest width (8/16/32/64 bits) that holds the largest value, as Parca narrows
    /// cumulative, flat and depth. Negative values cannot be represented and are written as 0.
    /// </summary>
    public static IArrowArray Unsigned(ReadOnlySpan<long> values, long? maxOverride = null)
    {
        long max = 0;
        foreach (var v in values)
        {
            max = Math.Max(max, v);
        }
        return UnsignedOfWidth(values, UnsignedTypeFor(maxOverride ?? max));
    }

    public static IArrowType UnsignedTypeFor(long max) => max switch
    {
        <= byte.MaxValue => UInt8Type.Default,
        <= ushort.MaxValue => UInt16Type.Default,
        <= uint.MaxValue => UInt32Type.Default,
        _ => UInt64Type.Default,
    };

    public static IArrowArray UnsignedOfWidth(ReadOnlySpan<long> values, IArrowType type)
    {
        switch (type.TypeId)
        {
            case ArrowTypeId.UInt8:
            {
                var b = new UInt8Array.Builder().Reserve(values.Length);
                foreach (var v in values)
                {
                    b.Append((byte)Math.Max(v, 0));
                }
                return b.Build();
            }
            case ArrowTypeId.UInt16:
            {
                var b = new UInt16Array.Builder().Reserve(values.Length);
                foreach (var v in values)
                {
                    b.Append((ushort)Math.Max(v, 0));
                }
                return b.Build();
            }
            case ArrowTypeId.UInt32:
            {
                var b = new UInt32Array.Builder().Reserve(values.Length);
                foreach (var v in values)
                {
                    b.Append((uint)Math.Max(v, 0));
                }
                return b.Build();
            }
            default:
            {
                var b = new UInt64Array.Builder().Reserve(values.Length);
                foreach (var v in values)
                {
                    b.Append((ulong)Math.Max(v, 0));
                }
                return b.Build();
            }
        }
    }

    /// <summary>A signed column of the smallest width that holds both the smallest and the largest value.</summary>
    public static IArrowArray Signed(ReadOnlySpan<long> values)
    {
        long min = 0, max = 0;
        foreach (var v in values)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        if (min >= sbyte.MinValue && max <= sbyte.MaxValue)
        {
            var b = new Int8Array.Builder().Reserve(values.Length);
            foreach (var v in values)
            {
                b.Append((sbyte)v);
            }
            return b.Build();
        }
        if (min >= short.MinValue && max <= short.MaxValue)
        {
            var b = new Int16Array.Builder().Reserve(values.Length);
            foreach (var v in values)
            {
                b.Append((short)v);
            }
            return b.Build();
        }
        if (min >= int.MinValue && max <= int.MaxValue)
        {
            var b = new Int32Array.Builder().Reserve(values.Length);
            foreach (var v in values)
            {
                b.Append((int)v);
            }
            return b.Build();
        }
        var b64 = new Int64Array.Builder().Reserve(values.Length);
        foreach (var v in values)
        {
            b64.Append(v);
        }
        return b64.Build();
    }

    /// <summary>Serializes one record batch as an Arrow IPC stream (schema, dictionaries, batch, end marker).</summary>
    public static byte[] ToIpcStream(RecordBatch batch)
    {
        using var stream = new MemoryStream();
        using (var writer = new ArrowStreamWriter(stream, batch.Schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }
        return stream.ToArray();
    }
}
