using System.Diagnostics;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Kiln.Api.ProfileStore;
using Kiln.Server.Ingest;
using Kiln.Storage;

namespace Kiln.Server.Services;

/// <summary>
/// parca.profilestore.v1alpha1.ProfileStoreService: profile ingestion. Bound by its own <see cref="BindService"/>, so
/// that gRPC reads WriteRaw requests with <see cref="PooledWriteRawRequest"/>; REST requests are still transcoded from JSON.
/// </summary>
[BindServiceMethod(typeof(ProfileStoreGrpcService), nameof(BindService))]
internal sealed class ProfileStoreGrpcService(RawProfileIngester ingester, AgentRegistry agents) : ProfileStoreService.ProfileStoreServiceBase
{
    private static readonly Method<WriteRawRequest, WriteRawResponse> WriteRawMethod = new(
        MethodType.Unary, ProfileStoreService.Descriptor.FullName, "WriteRaw", PooledWriteRawRequest.Marshaller,
        Marshallers.Create(response => response.ToByteArray(), WriteRawResponse.Parser.ParseFrom));

    /// <summary>The service's descriptor: JSON transcoding looks it up on the type that declares the bind method.</summary>
    public static ServiceDescriptor Descriptor => ProfileStoreService.Descriptor;

    /// <summary>
    /// What the generated <c>ProfileStoreService.BindService</c> does, with WriteRaw's own request marshaller. The service
    /// parameter must be the generated base type: gRPC binds the methods that override that type's.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, ProfileStoreService.ProfileStoreServiceBase? service) =>
        binder.AddMethod(WriteRawMethod, service is null ? null : new UnaryServerMethod<WriteRawRequest, WriteRawResponse>(service.WriteRaw));

    public override async Task<WriteRawResponse> WriteRaw(WriteRawRequest request, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var agent = AgentId(context);
        try
        {
            await ingester.IngestAsync(request, context.CancellationToken).ConfigureAwait(false);
            agents.Record(agent, Stopwatch.GetElapsedTime(started), null);
            return new WriteRawResponse();
        }
        catch (IngestException e)
        {
            KilnMetrics.RejectedRequests.WithLabels(e.Reason).Inc();
            agents.Record(agent, Stopwatch.GetElapsedTime(started), e.Message);
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (StoreWriteException e)
        {
            KilnMetrics.RejectedRequests.WithLabels("store_error").Inc();
            agents.Record(agent, Stopwatch.GetElapsedTime(started), e.Message);
            throw new RpcException(new Status(StatusCode.Unavailable, $"{e.Message}; nothing of this request was stored, retry it"));
        }
        finally
        {
            // The ingester has let go of the profiles, which may be slices of a pooled buffer.
            PooledWriteRawRequest.Release(request);
        }
    }

    private static string AgentId(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var address = http.Connection.RemoteIpAddress?.ToString() ?? context.Peer;
        var userAgent = http.Request.Headers.UserAgent.ToString();
        return userAgent.Length > 0 ? $"{address} ({userAgent})" : address;
    }
}

/// <summary>parca.profilestore.v1alpha1.AgentsService: who has been pushing.</summary>
internal sealed class AgentsGrpcService(AgentRegistry agents) : AgentsService.AgentsServiceBase
{
    public override Task<AgentsResponse> Agents(AgentsRequest request, ServerCallContext context)
    {
        var response = new AgentsResponse();
        response.Agents.AddRange(agents.All);
        return Task.FromResult(response);
    }
}
