using Apache.Arrow;
using Apache.Arrow.Types;

namespace Kiln.Query.Tests;

public class ArrowColumnsTests
{
    [Theory]
    [InlineData(3, 100_000)]
    // Thousands of fields: more schema metadata than the buffer's estimate leaves room for, so the writer starts over
    // on a stream that grows.
    [InlineData(4_000, 3)]
    public void A_record_batch_round_trips_through_its_IPC_stream(int columns, int rows)
    {
        var schema = new Schema.Builder();
        var arrays = new IArrowArray[columns];
        for (var c = 0; c < columns; c++)
        {
            var column = new FixedColumn<long>(Int64Type.Default, rows);
            for (var r = 0; r < rows; r++)
            {
                column.Values[r] = (long)c * rows + r;
            }
            if (rows > 1)
            {
                column.Validity.SetNull(1);
            }
            arrays[c] = column.Build();
            schema.Field(new Field($"a_rather_long_column_name_{c}", Int64Type.Default, true));
        }
        using var batch = new RecordBatch(schema.Build(), arrays, rows);

        var read = new ArrowRead(ArrowColumns.ToByteString(batch).ToByteArray());

        Assert.Equal(rows, read.Rows);
        Assert.Equal(columns, read.Batch.ColumnCount);
        foreach (var c in new[] { 0, columns - 1 })
        {
            var name = $"a_rather_long_column_name_{c}";
            Assert.Equal((long)c * rows, read.Num(name, 0));
            Assert.Null(read.Num(name, 1));
            Assert.Equal((long)c * rows + rows - 1, read.Num(name, rows - 1));
        }
    }
}
