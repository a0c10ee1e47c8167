namespace Kiln.Profiles.Selectors;

/// <summary>
/// A parsed query: a profile type and the label matchers that choose series of it, as in
/// <c>parca_agent:samples:count:cpu:nanoseconds:delta{comm="python3"}</c>.
/// </summary>
public sealed record ProfileSelector(ProfileType Type, IReadOnlyList<LabelMatcher> Matchers)
{
    /// <summary>True when every matcher accepts the series' labels.</summary>
    public bool Matches(LabelSet labels)
    {
        foreach (var m in Matchers)
        {
            if (!m.Matches(labels))
            {
                return false;
            }
        }
        return true;
    }

    public override string ToString() => $"{Type}{{{string.Join(", ", Matchers)}}}";
}
