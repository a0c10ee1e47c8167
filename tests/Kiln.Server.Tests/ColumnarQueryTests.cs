using DuckDB.NET.Data;
using DuckDB.NET.Native;
using Kiln.Storage.DuckDb;

namespace Kiln.Server.Tests;

/// <summary>ColumnarQuery hands over DuckDB's result chunks as spans, and refuses a NULL rather than reading it as a value.</summary>
public sealed class ColumnarQueryTests
{
    [Fact]
    public void Reads_every_row_of_every_chunk()
    {
        using var connection = Open();
        long sum = 0, rows = 0;
        ColumnarQuery.Run(connection, "SELECT i::INTEGER, (i * 3)::BIGINT FROM range(5000) t(i)", [DuckDBType.Integer, DuckDBType.BigInt], (in ColumnarQuery.Chunk chunk) =>
        {
            var a = chunk.Int32(0);
            var b = chunk.Int64(1);
            for (var i = 0; i < chunk.Rows; i++)
            {
                sum += a[i] + b[i];
            }
            rows += chunk.Rows;
        });

        Assert.Equal(5000, rows);
        Assert.Equal(4L * (4999 * 5000 / 2), sum);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(2047)]
    [InlineData(2048 + 70)]
    public void A_null_is_an_error_naming_its_row_in_the_chunk(int at)
    {
        using var connection = Open();

        var e = Assert.Throws<InvalidOperationException>(() => ColumnarQuery.Run(connection,
            $"SELECT CASE WHEN i = {at} THEN NULL ELSE i END::BIGINT FROM range(3000) t(i)", [DuckDBType.BigInt], (in ColumnarQuery.Chunk chunk) => chunk.Int64(0)));

        Assert.Contains($"holds NULL at row {at % 2048}", e.Message);
    }

    private static DuckDBConnection Open()
    {
        var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        return connection;
    }
}
