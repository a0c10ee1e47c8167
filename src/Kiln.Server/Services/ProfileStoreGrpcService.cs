using System.Diagnostics;
using Grpc.Core;
using Kiln.Api.ProfileStore;
using Kiln.Server.Ingest;
using Kiln.Storage;

namespace Kiln.Server.Services;

/// <summary>parca.profilestore.v1alpha1.ProfileStoreService: profile ingestion.</summary>
internal sealed class ProfileStoreGrpcService(RawProfileIngester ingester, AgentRegistry agents) : ProfileStoreService.ProfileStoreServiceBase
{
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
