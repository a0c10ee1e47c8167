using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Google.Protobuf;
using Array = System.Array;

namespace Kiln.Query;

/// <summary>
/// An Arrow validity bitmap written by row index: every row starts valid, <see cref="SetNull"/> clears one. Builds
/// to an empty buffer when no row is null, as Arrow's own builders do.
/// </summary>
internal sealed class NullBitmap
{
    private readonly byte[] _bits;

    public NullBitmap(int length)
    {
        _bits = new byte[(length + 7) / 8];
        _bits.AsSpan().Fill(0xFF);
    }

    public int NullCount { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetNull(int row)
    {
        _bits[row >> 3] &= (byte)~(1 << (row & 7));
        NullCount++;
    }

    public ArrowBuffer Build() => NullCount == 0 ? ArrowBuffer.Empty : new ArrowBuffer(_bits);
}

/// <summary>
/// A fixed-width column of <typeparamref name="T"/> written by row index straight into the buffer Arrow will
/// serialize (no per-value builder calls). Null rows keep the value 0.
/// </summary>
internal sealed class FixedColumn<T> where T : unmanaged
{
    private readonly byte[] _bytes;
    private readonly IArrowType _type;

    public FixedColumn(IArrowType type, int length)
    {
        _type = type;
        Length = length;
        _bytes = new byte[length * Unsafe.SizeOf<T>()];
        Validity = new NullBitmap(length);
    }

    public int Length { get; }

    public NullBitmap Validity { get; }

    /// <summary>The values, one per row; write them directly.</summary>
    public Span<T> Values => MemoryMarshal.Cast<byte, T>(_bytes.AsSpan());

    public IArrowArray Build() =>
        ArrowArrayFactory.BuildArray(new ArrayData(_type, Length, Validity.NullCount, 0, [Validity.Build(), new ArrowBuffer(_bytes)]));
}

/// <summary>A boolean column written by row index.</summary>
internal sealed class BoolColumn(int length)
{
    private readonly byte[] _bits = new byte[(length + 7) / 8];

    public NullBitmap Validity { get; } = new(length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetTrue(int row) => _bits[row >> 3] |= (byte)(1 << (row & 7));

    public IArrowArray Build() =>
        new BooleanArray(new ArrayData(BooleanType.Default, length, Validity.NullCount, 0, [Validity.Build(), new ArrowBuffer(_bits)]));
}

/// <summary>
/// Builds a dictionary-encoded string column from pooled string ids, appended row by row. The dictionary holds each
/// distinct string once, in order of first appearance; pool id 0 ("") is written as null. The indices are of the
/// narrowest signed type that numbers the dictionary (Int8, Int16 or Int32), as Parca narrows its own: a flame graph's
/// mapping files fit in one byte and its function names mostly in two, a tenth of a 1 M-row record.
/// </summary>
internal sealed class DictionaryColumn
{
    private readonly StringPool _pool;
    private readonly int[] _remap;
    private readonly bool _utf8;
    // Written as ints, narrowed once the dictionary's size is known (Build).
    private readonly int[] _indices;
    private readonly NullBitmap _validity;
    private readonly List<int> _offsets = [0];
    private byte[] _data = new byte[4096];
    private int _dataLength;
    private int _row;

    public DictionaryColumn(StringPool pool, int length, bool utf8 = false)
    {
        _pool = pool;
        _utf8 = utf8;
        _remap = new int[pool.Count];
        Array.Fill(_remap, -1);
        _indices = new int[length];
        _validity = new NullBitmap(length);
    }

    /// <summary>Appends the string with pool id <paramref name="id"/>; id 0 ("") is written as null.</summary>
    public void Append(int id)
    {
        if (id <= 0)
        {
            AppendNull();
            return;
        }
        ref var index = ref _remap[id];
        if (index < 0)
        {
            index = _offsets.Count - 1;
            AddValue(_pool[id]);
        }
        _indices[_row++] = index;
    }

    public void AppendNull() => _validity.SetNull(_row++);

    private void AddValue(string value)
    {
        var size = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (_dataLength + size > _data.Length)
        {
            Array.Resize(ref _data, Math.Max(_data.Length * 2, _dataLength + size));
        }
        _dataLength += Encoding.UTF8.GetBytes(value, _data.AsSpan(_dataLength));
        _offsets.Add(_dataLength);
    }

    public DictionaryArray Build()
    {
        var entries = _offsets.Count - 1;
        var offsets = new byte[_offsets.Count * sizeof(int)];
        CollectionsMarshal.AsSpan(_offsets).CopyTo(MemoryMarshal.Cast<byte, int>(offsets.AsSpan()));
        IArrowType valueType = _utf8 ? StringType.Default : BinaryType.Default;
        var data = new ArrayData(valueType, entries, 0, 0,
            [ArrowBuffer.Empty, new ArrowBuffer(offsets), new ArrowBuffer(_data.AsMemory(0, _dataLength))]);
        var indices = entries switch
        {
            <= sbyte.MaxValue + 1 => Narrowed<sbyte>(Int8Type.Default),
            <= short.MaxValue + 1 => Narrowed<short>(Int16Type.Default),
            _ => Narrowed<int>(Int32Type.Default),
        };
        return new DictionaryArray(new DictionaryType(indices.Data.DataType, valueType, false), indices, ArrowArrayFactory.BuildArray(data));
    }

    /// <summary>The indices as <typeparamref name="T"/>, which holds every one of them; null rows keep their validity.</summary>
    private IArrowArray Narrowed<T>(IArrowType type) where T : unmanaged, IBinaryInteger<T>
    {
        var wide = _indices;
        var bytes = new byte[wide.Length * Unsafe.SizeOf<T>()];
        var narrow = MemoryMarshal.Cast<byte, T>(bytes.AsSpan());
        for (var i = 0; i < wide.Length; i++)
        {
            narrow[i] = T.CreateTruncating(wide[i]);
        }
        return ArrowArrayFactory.BuildArray(new ArrayData(type, wide.Length, _validity.NullCount, 0,
            [_validity.Build(), new ArrowBuffer(bytes)]));
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

    /// <summary>
    /// Like <see cref="Unsigned(ReadOnlySpan{long}, long?)"/> for the values <c>source[rows[0]], source[rows[1]], …</c>,
    /// gathered straight into the column.
    /// </summary>
    public static IArrowArray Unsigned<TSource>(ReadOnlySpan<TSource> source, ReadOnlySpan<int> rows)
        where TSource : unmanaged, IBinaryInteger<TSource>
    {
        long max = 0;
        foreach (var row in rows)
        {
            max = Math.Max(max, long.CreateTruncating(source[row]));
        }
        return UnsignedTypeFor(max).TypeId switch
        {
            ArrowTypeId.UInt8 => Gather<TSource, byte>(source, rows, UInt8Type.Default, clampAtZero: true),
            ArrowTypeId.UInt16 => Gather<TSource, ushort>(source, rows, UInt16Type.Default, clampAtZero: true),
            ArrowTypeId.UInt32 => Gather<TSource, uint>(source, rows, UInt32Type.Default, clampAtZero: true),
            _ => Gather<TSource, ulong>(source, rows, UInt64Type.Default, clampAtZero: true),
        };
    }

    /// <summary>Like <see cref="Signed(ReadOnlySpan{long})"/> for the values <c>source[rows[0]], source[rows[1]], …</c>.</summary>
    public static IArrowArray Signed(ReadOnlySpan<long> source, ReadOnlySpan<int> rows)
    {
        long min = 0, max = 0;
        foreach (var row in rows)
        {
            min = Math.Min(min, source[row]);
            max = Math.Max(max, source[row]);
        }
        if (min >= sbyte.MinValue && max <= sbyte.MaxValue)
        {
            return Gather<long, sbyte>(source, rows, Int8Type.Default, clampAtZero: false);
        }
        if (min >= short.MinValue && max <= short.MaxValue)
        {
            return Gather<long, short>(source, rows, Int16Type.Default, clampAtZero: false);
        }
        if (min >= int.MinValue && max <= int.MaxValue)
        {
            return Gather<long, int>(source, rows, Int32Type.Default, clampAtZero: false);
        }
        return Gather<long, long>(source, rows, Int64Type.Default, clampAtZero: false);
    }

    /// <summary>A column of <paramref name="length"/> zeros of a one-byte integer type.</summary>
    public static IArrowArray Zeros(IArrowType type, int length) => new FixedColumn<byte>(type, length).Build();

    private static IArrowArray Gather<TSource, T>(ReadOnlySpan<TSource> source, ReadOnlySpan<int> rows, IArrowType type, bool clampAtZero)
        where TSource : unmanaged, IBinaryInteger<TSource>
        where T : unmanaged, IBinaryInteger<T>
    {
        var column = new FixedColumn<T>(type, rows.Length);
        var target = column.Values;
        for (var i = 0; i < rows.Length; i++)
        {
            var value = long.CreateTruncating(source[rows[i]]);
            target[i] = T.CreateTruncating(clampAtZero ? Math.Max(value, 0) : value);
        }
        return column.Build();
    }

    public static IArrowType UnsignedTypeFor(long max) => max switch
    {
        <= byte.MaxValue => UInt8Type.Default,
        <= ushort.MaxValue => UInt16Type.Default,
        <= uint.MaxValue => UInt32Type.Default,
        _ => UInt64Type.Default,
    };

    public static IArrowArray UnsignedOfWidth(ReadOnlySpan<long> values, IArrowType type) => type.TypeId switch
    {
        ArrowTypeId.UInt8 => Narrow<byte>(values, type, clampAtZero: true),
        ArrowTypeId.UInt16 => Narrow<ushort>(values, type, clampAtZero: true),
        ArrowTypeId.UInt32 => Narrow<uint>(values, type, clampAtZero: true),
        _ => Narrow<ulong>(values, UInt64Type.Default, clampAtZero: true),
    };

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
            return Narrow<sbyte>(values, Int8Type.Default, clampAtZero: false);
        }
        if (min >= short.MinValue && max <= short.MaxValue)
        {
            return Narrow<short>(values, Int16Type.Default, clampAtZero: false);
        }
        if (min >= int.MinValue && max <= int.MaxValue)
        {
            return Narrow<int>(values, Int32Type.Default, clampAtZero: false);
        }
        return Narrow<long>(values, Int64Type.Default, clampAtZero: false);
    }

    private static IArrowArray Narrow<T>(ReadOnlySpan<long> values, IArrowType type, bool clampAtZero)
        where T : unmanaged, IBinaryInteger<T>
    {
        var column = new FixedColumn<T>(type, values.Length);
        var target = column.Values;
        for (var i = 0; i < values.Length; i++)
        {
            target[i] = T.CreateTruncating(clampAtZero ? Math.Max(values[i], 0) : values[i]);
        }
        return column.Build();
    }

    /// <summary>
    /// Serializes one record batch as an Arrow IPC stream (schema, dictionaries, batch, end marker) into a buffer
    /// sized up front and not zeroed first (every byte up to the end is written; zeroing 55 MB cost ~4 ms), and wraps
    /// that buffer without copying it again.
    /// </summary>
    public static ByteString ToByteString(RecordBatch batch)
    {
        // The buffers, 8-byte aligned, and room for the messages' metadata.
        long size = 64 * 1024;
        for (var i = 0; i < batch.ColumnCount; i++)
        {
            size += BufferBytes(batch.Column(i).Data);
        }
        var buffer = GC.AllocateUninitializedArray<byte>((int)Math.Min(size, Array.MaxLength));
        try
        {
            using var stream = new MemoryStream(buffer, 0, buffer.Length, writable: true, publiclyVisible: true);
            Write(stream, batch);
            // The buffer is not used again after this, so the ByteString may own it.
            return UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, (int)stream.Position));
        }
        catch (NotSupportedException)
        {
            // More metadata than the estimate allows for: a stream that grows.
            using var stream = new MemoryStream(buffer.Length * 2);
            Write(stream, batch);
            return UnsafeByteOperations.UnsafeWrap(stream.GetBuffer().AsMemory(0, (int)stream.Length));
        }

        static void Write(Stream stream, RecordBatch batch)
        {
            using var writer = new ArrowStreamWriter(stream, batch.Schema, leaveOpen: true);
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }
    }

    private static long BufferBytes(ArrayData data)
    {
        long size = 0;
        foreach (var buffer in data.Buffers)
        {
            size += buffer.Length + 8;
        }
        foreach (var child in data.Children ?? [])
        {
            size += BufferBytes(child);
        }
        return size + (data.Dictionary is { } dictionary ? BufferBytes(dictionary) : 0);
    }
}
