using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using Grpc.Core;
using Kiln.Api.Query;
using Kiln.Storage;
using ProfileStoreLabelSet = Kiln.Api.ProfileStore.LabelSet;

namespace Kiln.Server.Services;

/// <summary>
/// QueryRange's response written to the gRPC stream straight from the store's points. A day of 1,000 series is
/// ~720,000 points: as <see cref="MetricsSample"/> and <see cref="Google.Protobuf.WellKnownTypes.Timestamp"/> messages
/// they were 1.4 M objects, sized three times over and then written, most of QueryRange's CPU. For gRPC and gRPC-Web
/// calls the handler hands <see cref="Attach"/> the points, which encodes them in one pass, and returns an empty response;
/// <see cref="Marshaller"/> then writes those bytes, the bytes <c>QueryRangeResponse.WriteTo</c> would write for the full
/// one (a test compares them). JSON (the REST paths) does not use the marshaller: it gets <see cref="Messages"/>.
/// </summary>
internal static class QueryRangeEncoding
{
    private static readonly ConditionalWeakTable<QueryRangeResponse, Encoded> s_encoded = new();

    // A MetricsSample's fields take at most 2 + 11 + 6 (timestamp) + 11 (value) + 9 (value_per_second) + 11 (duration)
    // + 11 (count) = 61 bytes: its length is always one byte.
    private const int MaxSampleSize = 61;

    /// <summary>QueryRangeResponse's marshaller for the gRPC method, writing an attached response's bytes itself.</summary>
    public static Marshaller<QueryRangeResponse> Marshaller { get; } = Marshallers.Create<QueryRangeResponse>(
        Serialize, context => QueryRangeResponse.Parser.ParseFrom(context.PayloadAsReadOnlySequence()));

    /// <summary>
    /// Encodes the series for <paramref name="response"/> (which must stay empty) now, in the handler: a response over
    /// 2 GiB, more than one gRPC message holds, is refused with ResourceExhausted before anything is written.
    /// </summary>
    public static void Attach(QueryRangeResponse response, List<(ProfileStoreLabelSet Labels, IReadOnlyList<MetricPoint> Points)> series,
        TimeSpan step, Kiln.Api.Query.ValueType sampleType, Kiln.Api.Query.ValueType periodType)
    {
        var periodField = Field(3, periodType.ToByteArray());
        var sampleField = Field(4, sampleType.ToByteArray());
        var seconds = step > TimeSpan.Zero ? step.TotalSeconds : 0;
        var encoded = new Encoded();
        var scratch = new ArrayBufferWriter<byte>(64 * 1024);
        Span<byte> header = stackalloc byte[11];
        try
        {
            foreach (var (labels, points) in series)
            {
                // A MetricsSeries' fields in the order Google.Protobuf writes them: labelset 1, samples 2, period_type 3, sample_type 4.
                scratch.ResetWrittenCount();
                var labelField = Field(1, labels.ToByteArray());
                var most = labelField.Length + (long)points.Count * (2 + MaxSampleSize) + periodField.Length + sampleField.Length;
                if (most > Array.MaxLength)
                {
                    throw TooBig($"a series of {points.Count:N0} points");
                }
                var span = scratch.GetSpan((int)most);
                labelField.CopyTo(span);
                var at = labelField.Length;
                foreach (var p in points)
                {
                    at = WriteSample(span, at, p, seconds);
                }
                periodField.CopyTo(span[at..]);
                at += periodField.Length;
                sampleField.CopyTo(span[at..]);
                at += sampleField.Length;
                scratch.Advance(at);
                header[0] = 1 << 3 | 2;
                var headerLength = 1 + WriteVarint(header, 1, (ulong)at);
                encoded.Write(header[..headerLength]);
                encoded.Write(scratch.WrittenSpan);
                if (encoded.Length > int.MaxValue)
                {
                    throw TooBig($"{series.Count:N0} series");
                }
            }
            s_encoded.Add(response, encoded);
        }
        catch
        {
            encoded.Dispose();
            throw;
        }
    }

    private static RpcException TooBig(string what) => new(new Status(StatusCode.ResourceExhausted,
        $"the QueryRange response for {what} would be more than a gRPC message holds (2 GiB); select fewer series, or give a smaller limit or a coarser step"));

    /// <summary>The response as messages, for calls the marshaller does not write (REST/JSON, the warm-up's own calls).</summary>
    public static QueryRangeResponse Messages(List<(ProfileStoreLabelSet Labels, IReadOnlyList<MetricPoint> Points)> series, TimeSpan step,
        Kiln.Api.Query.ValueType sampleType, Kiln.Api.Query.ValueType periodType)
    {
        var seconds = step > TimeSpan.Zero ? step.TotalSeconds : 0;
        var response = new QueryRangeResponse();
        foreach (var (labels, points) in series)
        {
            var metrics = new MetricsSeries { Labelset = labels, SampleType = sampleType, PeriodType = periodType };
            metrics.Samples.Capacity = points.Count;
            foreach (var p in points)
            {
                var (wholeSeconds, nanos) = SplitNanos(p.TimeNanos);
                metrics.Samples.Add(new MetricsSample
                {
                    Timestamp = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = wholeSeconds, Nanos = nanos },
                    Value = p.Value,
                    ValuePerSecond = ValuePerSecond(p, seconds),
                    Duration = p.DurationNanos,
                    Count = p.Count,
                });
            }
            response.Series.Add(metrics);
        }
        return response;
    }

    /// <summary>
    /// <c>value_per_second</c> of a point: its value over the step's <paramref name="stepSeconds"/>, or with no step
    /// (0) over its own duration. The one formula for both ways of writing a sample, so that they agree to the bit.
    /// </summary>
    private static double ValuePerSecond(in MetricPoint point, double stepSeconds)
    {
        var seconds = stepSeconds > 0 ? stepSeconds : point.DurationNanos / 1e9;
        return seconds > 0 ? point.Value / seconds : 0;
    }

    /// <summary>A Unix time in nanoseconds as a Timestamp's seconds and nanos (nanos always 0 – 999,999,999).</summary>
    private static (long Seconds, int Nanos) SplitNanos(long nanos)
    {
        var seconds = Math.DivRem(nanos, 1_000_000_000L, out var rest);
        if (rest < 0)
        {
            seconds--;
            rest += 1_000_000_000L;
        }
        return (seconds, (int)rest);
    }

    private static void Serialize(QueryRangeResponse response, SerializationContext context)
    {
        if (!s_encoded.TryGetValue(response, out var encoded))
        {
            context.SetPayloadLength(response.CalculateSize());
            response.WriteTo(context.GetBufferWriter());
            context.Complete();
            return;
        }
        context.SetPayloadLength((int)encoded.Length);
        encoded.CopyTo(context.GetBufferWriter());
        context.Complete();
        s_encoded.Remove(response);
        encoded.Dispose();
    }

    // A MetricsSample as field 2 of its series: tag, one byte of length, then timestamp 1, value 2, value_per_second 3
    // (double), duration 4, count 5, leaving zeros out as proto3 does.
    private static int WriteSample(Span<byte> span, int at, in MetricPoint p, double stepSeconds)
    {
        span[at] = 2 << 3 | 2;
        var start = at + 2;
        var i = start;
        // The timestamp is always set (Google.Protobuf writes a set one of zero as an empty message).
        var (seconds, nanos) = SplitNanos(p.TimeNanos);
        span[i] = 1 << 3 | 2;
        var timestamp = i + 2;
        var j = timestamp;
        if (seconds != 0)
        {
            span[j++] = 1 << 3;
            j += WriteVarint(span, j, (ulong)seconds);
        }
        if (nanos != 0)
        {
            span[j++] = 2 << 3;
            j += WriteVarint(span, j, (ulong)nanos);
        }
        span[i + 1] = (byte)(j - timestamp);
        i = j;
        if (p.Value != 0)
        {
            span[i++] = 2 << 3;
            i += WriteVarint(span, i, (ulong)p.Value);
        }
        var perSecond = ValuePerSecond(p, stepSeconds);
        if (perSecond != 0)
        {
            span[i++] = 3 << 3 | 1;
            BinaryPrimitives.WriteDoubleLittleEndian(span[i..], perSecond);
            i += 8;
        }
        if (p.DurationNanos != 0)
        {
            span[i++] = 4 << 3;
            i += WriteVarint(span, i, (ulong)p.DurationNanos);
        }
        if (p.Count != 0)
        {
            span[i++] = 5 << 3;
            i += WriteVarint(span, i, (ulong)(long)p.Count);
        }
        span[at + 1] = (byte)(i - start);
        return i;
    }

    private static int WriteVarint(Span<byte> span, int at, ulong value)
    {
        var i = at;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[i++] = (byte)value;
        return i - at;
    }

    // A length-delimited field: tag, length, content (sub-messages far shorter than 2 GiB).
    private static byte[] Field(int number, byte[] content)
    {
        var field = new byte[1 + 5 + content.Length];
        field[0] = (byte)(number << 3 | 2);
        var length = 1 + WriteVarint(field, 1, (ulong)content.Length);
        content.CopyTo(field, length);
        return field[..(length + content.Length)];
    }

    /// <summary>An encoded response in pooled chunks of 1 MiB, handed back when written.</summary>
    private sealed class Encoded : IDisposable
    {
        private const int ChunkSize = 1 << 20;
        private readonly List<byte[]> _chunks = [];
        private int _used = ChunkSize;

        public long Length { get; private set; }

        public void Write(ReadOnlySpan<byte> bytes)
        {
            Length += bytes.Length;
            while (bytes.Length > 0)
            {
                if (_used == ChunkSize)
                {
                    _chunks.Add(ArrayPool<byte>.Shared.Rent(ChunkSize));
                    _used = 0;
                }
                var n = Math.Min(bytes.Length, ChunkSize - _used);
                bytes[..n].CopyTo(_chunks[^1].AsSpan(_used));
                _used += n;
                bytes = bytes[n..];
            }
        }

        public void CopyTo(IBufferWriter<byte> output)
        {
            for (var i = 0; i < _chunks.Count; i++)
            {
                output.Write(_chunks[i].AsSpan(0, i < _chunks.Count - 1 ? ChunkSize : _used));
            }
        }

        public void Dispose()
        {
            foreach (var chunk in _chunks)
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
            _chunks.Clear();
        }
    }
}

/// <summary>
/// Binds QueryService as its generated code does, except that QueryRange's responses go through
/// <see cref="QueryRangeEncoding.Marshaller"/>. Named by <see cref="QueryGrpcService"/>'s <c>BindServiceMethod</c>
/// attribute, which gRPC and JSON transcoding look up; the latter also reads <see cref="Descriptor"/>.
/// </summary>
internal static class QueryServiceBinding
{
    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => QueryService.Descriptor;

    // The second parameter is the generated base type: gRPC finds a service's methods by the virtual methods of that type.
    public static void BindService(ServiceBinderBase binder, QueryService.QueryServiceBase service) => QueryService.BindService(new Binder(binder), service);

    private sealed class Binder(ServiceBinderBase inner) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
            where TRequest : class
            where TResponse : class
        {
            if (method is Method<QueryRangeRequest, QueryRangeResponse> range)
            {
                var encoded = new Method<QueryRangeRequest, QueryRangeResponse>(range.Type, range.ServiceName, range.Name, range.RequestMarshaller, QueryRangeEncoding.Marshaller);
                inner.AddMethod(encoded, (UnaryServerMethod<QueryRangeRequest, QueryRangeResponse>?)(object?)handler);
                return;
            }
            inner.AddMethod(method, handler);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
            where TRequest : class
            where TResponse : class => inner.AddMethod(method, handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
            where TRequest : class
            where TResponse : class => inner.AddMethod(method, handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
            where TRequest : class
            where TResponse : class => inner.AddMethod(method, handler);
    }
}
