using Google.Protobuf.WellKnownTypes;
using Kiln.Api.Query;
using Kiln.Profiles;
using Kiln.Server.Tests;
using Profile = Kiln.Profiles.Pprof.Profile;

namespace Kiln.Agent.Tests.EndToEnd;

/// <summary>What a user reads back: the agent's CPU profiles matching a selector, merged by the server (PPROF report).</summary>
internal static class MergedProfile
{
    /// <summary>Merges every profile matching <paramref name="matchers"/> (e.g. <c>pid="42"</c>) from a minute before
    /// <paramref name="since"/> until a minute from now.</summary>
    public static async Task<Profile> QueryAsync(KilnProcess server, string matchers, DateTimeOffset since)
    {
        using var channel = server.GrpcChannel();
        var client = new QueryService.QueryServiceClient(channel);
        var response = await client.QueryAsync(new QueryRequest
        {
            Mode = QueryRequest.Types.Mode.Merge,
            Merge = new MergeProfile
            {
                Query = $"{ProfiledHostFixture.ProfileType}{{{matchers}}}",
                Start = Timestamp.FromDateTimeOffset(since.AddMinutes(-1)),
                End = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(1)),
            },
            ReportType = QueryRequest.Types.ReportType.Pprof,
        });
        return PprofCodec.Decode(response.Pprof.Span);
    }
}
