using Kiln.Profiles;

namespace Kiln.Agent.Shipping;

/// <summary>One pprof to send: the series' labels (without __name__) and the encoded profile.</summary>
public sealed record ShippedProfile(LabelSet Labels, byte[] Pprof);
