using System.Buffers;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using Grpc.Core;
using Kiln.Api.ProfileStore;
using Kiln.Profiles;
using LabelSet = Kiln.Api.ProfileStore.LabelSet;

namespace Kiln.Server.Ingest;

/// <summary>
/// Reads gRPC WriteRaw requests so that every <c>raw_profile</c> is a slice of one pooled copy of the request. The
/// generated parser allocates a new array per profile instead: about 1.3 MB of short-lived arrays per request of ten
/// agent profiles, whose zeroing and freshly faulted pages cost ~5 % of the server's ingest CPU. Labels and executable
/// info are small and go through their generated parsers. <see cref="Release"/> hands the copy back to the pool once
/// the request is done with; a request that is never released leaves its copy to the GC, nothing worse.
/// </summary>
internal static class PooledWriteRawRequest
{
    private static readonly ConditionalWeakTable<WriteRawRequest, byte[]> Buffers = [];

    public static Marshaller<WriteRawRequest> Marshaller { get; } =
        Marshallers.Create((request, context) => context.Complete(request.ToByteArray()), Read);

    /// <summary>Reads the request from gRPC's buffers; malformed protobuf is an <see cref="RpcException"/> with InvalidArgument.</summary>
    public static WriteRawRequest Read(DeserializationContext context)
    {
        var payload = context.PayloadAsReadOnlySequence();
        var length = (int)payload.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        payload.CopyTo(buffer);
        try
        {
            var request = Parse(buffer, length);
            Buffers.Add(request, buffer);
            return request;
        }
        catch (Exception e) when (e is MalformedProtobufException or InvalidProtocolBufferException)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            KilnMetrics.RejectedRequests.WithLabels("malformed_request").Inc();
            var where = e is MalformedProtobufException m ? $" at byte {m.Offset} of {length}" : "";
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"the request is not a valid parca.profilestore.v1alpha1.WriteRawRequest: {e.Message}{where}"));
        }
    }

    /// <summary>Returns the pooled copy behind <paramref name="request"/>'s profiles; they must not be read afterwards.</summary>
    public static void Release(WriteRawRequest request)
    {
        if (Buffers.TryGetValue(request, out var buffer) && Buffers.Remove(request))
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Parses a serialized WriteRawRequest whose profiles stay slices of <paramref name="buffer"/>.</summary>
    internal static WriteRawRequest Parse(byte[] buffer, int length)
    {
        var request = new WriteRawRequest();
        var reader = new ProtobufReader(buffer, 0, length);
        while (!reader.End)
        {
            var (field, wire) = reader.Tag();
            switch (field)
            {
                // Field 1, the deprecated tenant, is skipped: Kiln has no tenants.
                case 2: request.Series.Add(ParseSeries(buffer, reader.Message(wire))); break;
                case 3: request.Normalized = reader.Varint(wire) != 0; break;
                default: reader.Skip(wire); break;
            }
        }
        return request;
    }

    private static RawProfileSeries ParseSeries(byte[] buffer, ProtobufReader reader)
    {
        var series = new RawProfileSeries();
        while (!reader.End)
        {
            var (field, wire) = reader.Tag();
            switch (field)
            {
                case 1:
                    var (offset, length) = reader.Bytes(wire);
                    (series.Labels ??= new LabelSet()).MergeFrom(buffer, offset, length);
                    break;
                case 2: series.Samples.Add(ParseSample(buffer, reader.Message(wire))); break;
                default: reader.Skip(wire); break;
            }
        }
        return series;
    }

    private static RawSample ParseSample(byte[] buffer, ProtobufReader reader)
    {
        var sample = new RawSample();
        while (!reader.End)
        {
            var (field, wire) = reader.Tag();
            switch (field)
            {
                case 1:
                    var (offset, length) = reader.Bytes(wire);
                    sample.RawProfile = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(offset, length));
                    break;
                case 2:
                    var (infoOffset, infoLength) = reader.Bytes(wire);
                    var info = new ExecutableInfo();
                    info.MergeFrom(buffer, infoOffset, infoLength);
                    sample.ExecutableInfo.Add(info);
                    break;
                default: reader.Skip(wire); break;
            }
        }
        return sample;
    }
}
