using System.Collections.Concurrent;
using Google.Protobuf.WellKnownTypes;
using Kiln.Api.ProfileStore;

namespace Kiln.Server.Services;

/// <summary>Remembers, per pushing client, its last push and last error, for AgentsService.</summary>
internal sealed class AgentRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Agent> _agents = new(StringComparer.Ordinal);

    public void Record(string id, TimeSpan duration, string? error)
    {
        var agent = new Agent
        {
            Id = id,
            LastError = error ?? "",
            LastPush = Timestamp.FromDateTimeOffset(time.GetUtcNow()),
            LastPushDuration = Duration.FromTimeSpan(duration),
        };
        _agents[id] = agent;
    }

    public IEnumerable<Agent> All => _agents.Values.OrderBy(a => a.Id, StringComparer.Ordinal);
}
