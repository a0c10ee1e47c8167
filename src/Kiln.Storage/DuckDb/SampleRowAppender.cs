using DuckDB.NET.Data;
using DuckDB.NET.Native;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Appends rows to <c>samples</c> (series_id INTEGER, ts BIGINT, stack_id INTEGER, labels_id INTEGER, value BIGINT)
/// by writing them straight into a DuckDB data chunk's column vectors and handing DuckDB the full chunk, through its
/// C API. The ADO.NET appender does the same per value with a type dispatch and checks per call, which was 4 – 5 % of
/// the server's CPU during ingest. Rows belong to the connection's current transaction, as with the ADO.NET appender.
/// </summary>
internal sealed unsafe class SampleRowAppender : IDisposable
{
    private static readonly DuckDBType[] s_columns = [DuckDBType.Integer, DuckDBType.BigInt, DuckDBType.Integer, DuckDBType.Integer, DuckDBType.BigInt];

    private readonly DuckDB.NET.Native.DuckDBAppender _appender;
    private readonly DuckDBDataChunk _chunk;
    private readonly int _capacity;
    private int _count;
    private bool _closed;
    private int* _seriesIds;
    private long* _timestamps;
    private int* _stackIds;
    private int* _labelsIds;
    private long* _values;

    public SampleRowAppender(DuckDBConnection connection)
    {
        if (NativeMethods.Appender.DuckDBAppenderCreate(connection.NativeConnection, null, "samples", out _appender) == DuckDBState.Error)
        {
            var message = ErrorOf(_appender);
            _appender.Dispose();
            throw new InvalidOperationException($"cannot append to samples: {message}");
        }
        var types = s_columns.Select(NativeMethods.LogicalType.DuckDBCreateLogicalType).ToArray();
        try
        {
            _chunk = NativeMethods.DataChunks.DuckDBCreateDataChunk(types.Select(t => t.DangerousGetHandle()).ToArray(), (ulong)types.Length);
        }
        finally
        {
            foreach (var t in types)
            {
                t.Dispose();
            }
        }
        _capacity = (int)NativeMethods.Helpers.DuckDBVectorSize();
        MapVectors();
    }

    /// <summary>Adds one row; a full chunk is handed to DuckDB.</summary>
    public void Append(int seriesId, long timestamp, int stackId, int labelsId, long value)
    {
        var i = _count;
        _seriesIds[i] = seriesId;
        _timestamps[i] = timestamp;
        _stackIds[i] = stackId;
        _labelsIds[i] = labelsId;
        _values[i] = value;
        if (++_count == _capacity)
        {
            AppendChunk();
        }
    }

    /// <summary>Hands DuckDB the last rows and flushes the appender into the table (within the transaction).</summary>
    public void Close()
    {
        if (_closed)
        {
            return;
        }
        if (_count > 0)
        {
            AppendChunk();
        }
        _closed = true;
        if (NativeMethods.Appender.DuckDBAppenderClose(_appender) == DuckDBState.Error)
        {
            throw new InvalidOperationException($"cannot append to samples: {ErrorOf(_appender)}");
        }
    }

    public void Dispose()
    {
        _chunk.Dispose();
        // Destroying an appender that was not closed flushes it, which a failed write must not do.
        if (!_closed)
        {
            NativeMethods.Appender.DuckDBAppenderClear(_appender);
        }
        _appender.Dispose();
    }

    private void AppendChunk()
    {
        NativeMethods.DataChunks.DuckDBDataChunkSetSize(_chunk, (ulong)_count);
        if (NativeMethods.Appender.DuckDBAppendDataChunk(_appender, _chunk) == DuckDBState.Error)
        {
            throw new InvalidOperationException($"cannot append to samples: {ErrorOf(_appender)}");
        }
        NativeMethods.DataChunks.DuckDBDataChunkReset(_chunk);
        _count = 0;
        // A reset may give the vectors new buffers.
        MapVectors();
    }

    private void MapVectors()
    {
        _seriesIds = (int*)Column(0);
        _timestamps = (long*)Column(1);
        _stackIds = (int*)Column(2);
        _labelsIds = (int*)Column(3);
        _values = (long*)Column(4);
    }

    private void* Column(int index) => NativeMethods.Vectors.DuckDBVectorGetData(NativeMethods.DataChunks.DuckDBDataChunkGetVector(_chunk, index));

    private static string ErrorOf(DuckDB.NET.Native.DuckDBAppender appender)
    {
        using var error = NativeMethods.Appender.DuckDBAppenderErrorData(appender);
        return error.HasError ? error.Message ?? "unknown error" : "unknown error";
    }
}
