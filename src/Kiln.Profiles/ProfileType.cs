namespace Kiln.Profiles;

/// <summary>
/// A profile type in Parca's notation <c>name:sample_type:sample_unit:period_type:period_unit[:delta]</c>,
/// e.g. <c>parca_agent:samples:count:cpu:nanoseconds:delta</c>. Delta types cover a duration and sum over time.
/// </summary>
public sealed record ProfileType(string Name, string SampleType, string SampleUnit, string PeriodType, string PeriodUnit, bool Delta)
{
    /// <summary>Parses the colon notation; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static ProfileType Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts.Length is not (5 or 6))
        {
            throw new FormatException(
                $"profile type '{text}' has {parts.Length} part(s); expected name:sample_type:sample_unit:period_type:period_unit[:delta], " +
                "e.g. parca_agent:samples:count:cpu:nanoseconds:delta");
        }
        if (parts.Length == 6 && parts[5] != "delta")
        {
            throw new FormatException($"profile type '{text}' ends in '{parts[5]}'; the only allowed sixth part is 'delta'");
        }
        for (var i = 0; i < 5; i++)
        {
            if (parts[i].Length == 0)
            {
                throw new FormatException($"profile type '{text}' has an empty part {i + 1} ({s_partNames[i]})");
            }
        }
        return new ProfileType(parts[0], parts[1], parts[2], parts[3], parts[4], parts.Length == 6);
    }

    public static bool TryParse(string text, out ProfileType? type)
    {
        try
        {
            type = Parse(text);
            return true;
        }
        catch (FormatException)
        {
            type = null;
            return false;
        }
    }

    private static readonly string[] s_partNames = ["name", "sample_type", "sample_unit", "period_type", "period_unit"];

    /// <summary>The canonical id, the same string <see cref="Parse"/> accepts.</summary>
    public override string ToString() =>
        $"{Name}:{SampleType}:{SampleUnit}:{PeriodType}:{PeriodUnit}{(Delta ? ":delta" : "")}";
}
