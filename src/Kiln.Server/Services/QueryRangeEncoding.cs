using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
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
/// calls the handler hands <see cref="Attach"/> the points and returns an empty response; <see cref="Marshaller"/>
/// writes the bytes <c>QueryRangeResponse.WriteTo</c> would write for the full one (a test compares them). JSON
/// (the REST paths) does not use the marshaller: it gets the messages as before.
/// </summary>
internal static class QueryRangeEncoding
{
    private static readonly ConditionalWeakTable<QueryRangeResponse, Pending> s_pending = new();

    /// <summary>QueryRangeResponse's marshaller for the gRPC method, writing an attached response's points itself.</summary>
    public static Marshaller<QueryRangeResponse> Marshaller { get; } = Marshallers.Create<QueryRangeResponse>(
        Serialize, context => QueryRangeResponse.Parser.ParseFrom(context.PayloadAsReadOnlySequence()));

    /// <summary>
    /// The series to write for <paramref name="response"/> (which must stay empty), sized here: a response over 2 GiB,
    /// more than one gRPC message holds, is refused with ResourceExhausted before anything is written.
    /// </summary>
    public static void Attach(QueryRangeResponse response, List<(ProfileStoreLabelSet Labels, IReadOnlyList<MetricPoint> Points)> series,
        TimeSpan step, Kiln.Api.Query.ValueType sampleType, Kiln.Api.Query.ValueType periodType)
    {
        var pending = new Pending(series, step, sampleType.ToByteArray(), periodType.ToByteArray(), new byte[series.Count][], new int[series.Count]);
        long total = 0;
        for (var i = 0; i < series.Count; i++)
        {
            pending.Labelsets[i] = series[i].Labels.ToByteArray();
            pending.Sizes[i] = SeriesSize(pending.Labelsets[i], series[i].Points, pending);
            total += 1 + VarintSize((ulong)pending.Sizes[i]) + pending.Sizes[i];
        }
        if (total > int.MaxValue)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"the QueryRange response would be {total:N0} bytes, more than a gRPC message holds; select fewer series, or give a smaller limit or a coarser step"));
        }
        pending.Total = (int)total;
        s_pending.Add(response, pending);
    }

    /// <summary>The response as messages, for calls the marshaller does not write (REST/JSON, the warm-up's own calls).</summary>
    public static QueryRangeResponse Messages(List<(ProfileStoreLabelSet Labels, IReadOnlyList<MetricPoint> Points)> series, TimeSpan step,
        Kiln.Api.Query.ValueType sampleType, Kiln.Api.Query.ValueType periodType)
    {
        var response = new QueryRangeResponse();
        foreach (var (labels, points) in series)
        {
            var metrics = new MetricsSeries { Labelset = labels, SampleType = sampleType, PeriodType = periodType };
            metrics.Samples.Capacity = points.Count;
            foreach (var p in points)
            {
                var (seconds, nanos) = SplitNanos(p.TimeNanos);
                metrics.Samples.Add(new MetricsSample
                {
                    Timestamp = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = seconds, Nanos = nanos },
                    Value = p.Value,
                    ValuePerSecond = ValuePerSecond(p, step),
                    Duration = p.DurationNanos,
                    Count = p.Count,
                });
            }
            response.Series.Add(metrics);
        }
        return response;
    }

    /// <summary>
    /// <c>value_per_second</c> of a point: its value over the step, or over its own duration when there is no step.
    /// The one formula for both ways of writing a sample, so that they agree to the bit.
    /// </summary>
    public static double ValuePerSecond(in MetricPoint point, TimeSpan step)
    {
        var seconds = step > TimeSpan.Zero ? step.TotalSeconds : point.DurationNanos / 1e9;
        return seconds > 0 ? point.Value / seconds : 0;
    }

    /// <summary>A Unix time in nanoseconds as a Timestamp's seconds and nanos (nanos always 0 – 999,999,999).</summary>
    public static (long Seconds, int Nanos) SplitNanos(long nanos)
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
        if (!s_pending.TryGetValue(response, out var pending))
        {
            context.SetPayloadLength(response.CalculateSize());
            response.WriteTo(context.GetBufferWriter());
            context.Complete();
            return;
        }
        context.SetPayloadLength(pending.Total);
        var writer = new Writer(context.GetBufferWriter());
        for (var i = 0; i < pending.Sizes.Length; i++)
        {
            writer.Tag(1, 2);
            writer.Varint((ulong)pending.Sizes[i]);
            WriteSeries(ref writer, pending.Labelsets[i], pending.Series[i].Points, pending);
        }
        writer.Flush();
        context.Complete();
    }

    // MetricsSeries: labelset 1, samples 2, period_type 3, sample_type 4, in field order as Google.Protobuf writes them.
    private static int SeriesSize(byte[] labelset, IReadOnlyList<MetricPoint> points, Pending pending)
    {
        var size = FieldSize(labelset.Length) + FieldSize(pending.PeriodType.Length) + FieldSize(pending.SampleType.Length);
        foreach (var p in points)
        {
            size += FieldSize(SampleSize(p, pending.Step));
        }
        return size;
    }

    private static void WriteSeries(ref Writer writer, byte[] labelset, IReadOnlyList<MetricPoint> points, Pending pending)
    {
        writer.Tag(1, 2);
        writer.Varint((ulong)labelset.Length);
        writer.Bytes(labelset);
        foreach (var p in points)
        {
            writer.Tag(2, 2);
            writer.Varint((ulong)SampleSize(p, pending.Step));
            WriteSample(ref writer, p, pending.Step);
        }
        writer.Tag(3, 2);
        writer.Varint((ulong)pending.PeriodType.Length);
        writer.Bytes(pending.PeriodType);
        writer.Tag(4, 2);
        writer.Varint((ulong)pending.SampleType.Length);
        writer.Bytes(pending.SampleType);
    }

    // MetricsSample: timestamp 1, value 2, value_per_second 3 (double), duration 4, count 5; proto3 leaves zeros out.
    private static int SampleSize(in MetricPoint p, TimeSpan step)
    {
        var size = FieldSize(TimestampSize(p.TimeNanos));
        size += p.Value != 0 ? 1 + VarintSize((ulong)p.Value) : 0;
        size += ValuePerSecond(p, step) != 0 ? 9 : 0;
        size += p.DurationNanos != 0 ? 1 + VarintSize((ulong)p.DurationNanos) : 0;
        size += p.Count != 0 ? 1 + VarintSize((ulong)(long)p.Count) : 0;
        return size;
    }

    private static void WriteSample(ref Writer writer, in MetricPoint p, TimeSpan step)
    {
        var (seconds, nanos) = SplitNanos(p.TimeNanos);
        writer.Tag(1, 2);
        writer.Varint((ulong)TimestampSize(p.TimeNanos));
        if (seconds != 0)
        {
            writer.Tag(1, 0);
            writer.Varint((ulong)seconds);
        }
        if (nanos != 0)
        {
            writer.Tag(2, 0);
            writer.Varint((ulong)nanos);
        }
        if (p.Value != 0)
        {
            writer.Tag(2, 0);
            writer.Varint((ulong)p.Value);
        }
        var perSecond = ValuePerSecond(p, step);
        if (perSecond != 0)
        {
            writer.Tag(3, 1);
            writer.Double(perSecond);
        }
        if (p.DurationNanos != 0)
        {
            writer.Tag(4, 0);
            writer.Varint((ulong)p.DurationNanos);
        }
        if (p.Count != 0)
        {
            writer.Tag(5, 0);
            writer.Varint((ulong)(long)p.Count);
        }
    }

    private static int TimestampSize(long timeNanos)
    {
        var (seconds, nanos) = SplitNanos(timeNanos);
        return (seconds != 0 ? 1 + VarintSize((ulong)seconds) : 0) + (nanos != 0 ? 1 + VarintSize((ulong)nanos) : 0);
    }

    // A length-delimited field with a one-byte tag: tag, length, content.
    private static int FieldSize(int length) => 1 + VarintSize((ulong)length) + length;

    private static int VarintSize(ulong value) => (70 - BitOperations.LeadingZeroCount(value | 1)) / 7;

    // What Attach sized for the marshaller: each series' label set as bytes and its MetricsSeries' size, and the total.
    private sealed record Pending(List<(ProfileStoreLabelSet Labels, IReadOnlyList<MetricPoint> Points)> Series, TimeSpan Step,
        byte[] SampleType, byte[] PeriodType, byte[][] Labelsets, int[] Sizes)
    {
        public int Total { get; set; }
    }

    /// <summary>Writes into an <see cref="IBufferWriter{T}"/> a chunk at a time.</summary>
    private ref struct Writer(IBufferWriter<byte> output)
    {
        private const int ChunkSize = 64 * 1024;
        private Span<byte> _chunk;
        private int _used;

        public void Tag(int field, int wireType) => Byte((byte)(field << 3 | wireType));

        public void Varint(ulong value)
        {
            Ensure(10);
            while (value >= 0x80)
            {
                _chunk[_used++] = (byte)(value | 0x80);
                value >>= 7;
            }
            _chunk[_used++] = (byte)value;
        }

        public void Double(double value)
        {
            Ensure(8);
            BinaryPrimitives.WriteDoubleLittleEndian(_chunk[_used..], value);
            _used += 8;
        }

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            while (bytes.Length > 0)
            {
                Ensure(1);
                var n = Math.Min(bytes.Length, _chunk.Length - _used);
                bytes[..n].CopyTo(_chunk[_used..]);
                _used += n;
                bytes = bytes[n..];
            }
        }

        public void Flush()
        {
            if (_used > 0)
            {
                output.Advance(_used);
            }
            _chunk = default;
            _used = 0;
        }

        private void Byte(byte value)
        {
            Ensure(1);
            _chunk[_used++] = value;
        }

        private void Ensure(int bytes)
        {
            if (_chunk.Length - _used < bytes)
            {
                Flush();
                _chunk = output.GetSpan(ChunkSize);
            }
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
