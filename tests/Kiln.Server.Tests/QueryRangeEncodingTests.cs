using System.Buffers;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Kiln.Api.Query;
using Kiln.Server.Services;
using Kiln.Storage;
using Xunit;
using ProfileStoreLabel = Kiln.Api.ProfileStore.Label;
using ProfileStoreLabelSet = Kiln.Api.ProfileStore.LabelSet;

namespace Kiln.Server.Tests;

/// <summary>QueryRange's own response writer against Google.Protobuf writing the same response as messages.</summary>
public sealed class QueryRangeEncodingTests
{
    private static readonly Kiln.Api.Query.ValueType SampleType = new() { Type = "samples", Unit = "count" };
    private static readonly Kiln.Api.Query.ValueType PeriodType = new() { Type = "cpu", Unit = "nanoseconds" };

    // Zeros (left out by proto3), negatives (ten-byte varints), times before 1970 and between seconds, big values.
    private static readonly MetricPoint[] TrickyPoints =
    [
        new(1_765_152_000_000_000_000, 42, 10_000_000_000, 1),
        new(0, 0, 0, 0),
        new(-1_500_000_001, -7, 1, -3),
        new(1_765_152_000_123_456_789, long.MaxValue, long.MaxValue, int.MaxValue),
        new(1_000_000_000, long.MinValue, -5, int.MinValue),
        new(999, 300, 0, 2),
    ];

    [Theory]
    [InlineData(0)]
    [InlineData(60)]
    public void Writes_the_bytes_Google_Protobuf_writes_for_the_same_series(int stepSeconds)
    {
        var step = TimeSpan.FromSeconds(stepSeconds);
        var series = new List<(ProfileStoreLabelSet, IReadOnlyList<MetricPoint>)>
        {
            (Labels(("job", "api"), ("instance", "a")), TrickyPoints),
            (Labels(), []),
            (Labels(("node", new string('n', 300))), Enumerable.Range(0, 5000).Select(i => new MetricPoint(i * 60_000_000_000L, i * 1_000_003L, 60_000_000_000, i % 7)).ToArray()),
            // ~2 MB: the encoded response spans the encoder's 1 MiB chunks.
            (Labels(("node", "big")), Enumerable.Range(0, 60_000).Select(i => new MetricPoint(1_765_152_000_000_000_000 + i * 10_000_000_000L, i * 7_919L, 10_000_000_000, 1)).ToArray()),
        };

        var response = new QueryRangeResponse();
        QueryRangeEncoding.Attach(response, series, step, SampleType, PeriodType);
        var written = Serialize(response);

        Assert.Equal(Expected(series, step).ToByteArray(), written);
        Assert.Equal(Expected(series, step), QueryRangeResponse.Parser.ParseFrom(written));
    }

    [Fact]
    public void A_response_without_attached_series_is_written_as_its_messages()
    {
        var response = Expected([(Labels(("job", "db")), TrickyPoints)], TimeSpan.Zero);

        Assert.Equal(response.ToByteArray(), Serialize(response));
    }

    [Fact]
    public void A_response_over_what_a_gRPC_message_holds_is_refused_before_it_is_encoded()
    {
        // 40 M points are up to 2.5 GB encoded: refused on their count, before one is read.
        var e = Assert.Throws<RpcException>(() => QueryRangeEncoding.Attach(new QueryRangeResponse(),
            [(Labels(("job", "api")), new UnreadablePoints(40_000_000))], TimeSpan.Zero, SampleType, PeriodType));

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("select fewer series", e.Status.Detail);
    }

    private sealed class UnreadablePoints(int count) : IReadOnlyList<MetricPoint>
    {
        public int Count => count;

        public MetricPoint this[int index] => throw new InvalidOperationException("a point was read");

        public IEnumerator<MetricPoint> GetEnumerator() => throw new InvalidOperationException("the points were read");

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    // What the handler answers JSON calls with, message by message.
    private static QueryRangeResponse Expected(List<(ProfileStoreLabelSet Labels, IReadOnlyList<MetricPoint> Points)> series, TimeSpan step) =>
        QueryRangeEncoding.Messages(series, step, SampleType, PeriodType);

    private static ProfileStoreLabelSet Labels(params (string Name, string Value)[] labels)
    {
        var set = new ProfileStoreLabelSet();
        set.Labels.AddRange(labels.Select(l => new ProfileStoreLabel { Name = l.Name, Value = l.Value }));
        return set;
    }

    private static byte[] Serialize(QueryRangeResponse response)
    {
        var context = new BufferContext();
        QueryRangeEncoding.Marshaller.ContextualSerializer(response, context);
        Assert.True(context.Completed);
        Assert.Equal(context.PayloadLength, context.Buffer.WrittenCount);
        return context.Buffer.WrittenSpan.ToArray();
    }

    private sealed class BufferContext : SerializationContext
    {
        public ArrayBufferWriter<byte> Buffer { get; } = new();

        public int PayloadLength { get; private set; } = -1;

        public bool Completed { get; private set; }

        public override void SetPayloadLength(int payloadLength) => PayloadLength = payloadLength;

        public override IBufferWriter<byte> GetBufferWriter() => Buffer;

        public override void Complete() => Completed = true;

        public override void Complete(byte[] payload)
        {
            Buffer.Write(payload);
            Completed = true;
        }
    }
}
