using Kiln.Profiles.Pprof;

namespace Kiln.Agent.Tests.EndToEnd;

/// <summary>One sample of a decoded profile as function names, leaf first, with the mapping file of each frame.</summary>
internal sealed record NamedStack(IReadOnlyList<string> Functions, IReadOnlyList<string> Files, long Value)
{
    /// <summary>Every sample of <paramref name="profile"/>; a frame without a name shows as <c>0xADDRESS</c>.</summary>
    public static IReadOnlyList<NamedStack> All(Profile profile)
    {
        var functions = profile.Function.ToDictionary(f => f.Id, f => profile.StringTable[(int)f.Name]);
        var mappings = profile.Mapping.ToDictionary(m => m.Id, m => profile.StringTable[(int)m.Filename]);
        var locations = profile.Location.ToDictionary(l => l.Id);
        var stacks = new List<NamedStack>();
        foreach (var sample in profile.Sample)
        {
            var names = new List<string>();
            var files = new List<string>();
            foreach (var id in sample.LocationId)
            {
                var location = locations[id];
                var file = mappings.GetValueOrDefault(location.MappingId, "");
                // Inlined frames come first in a location's lines: list them leaf first too.
                if (location.Line.Count == 0)
                {
                    names.Add($"0x{location.Address:x}");
                    files.Add(file);
                }
                foreach (var line in location.Line)
                {
                    names.Add(functions[line.FunctionId]);
                    files.Add(file);
                }
            }
            stacks.Add(new NamedStack(names, files, sample.Value[0]));
        }
        return stacks;
    }

    /// <summary>True when <paramref name="chain"/> (leaf first) appears as consecutive frames.</summary>
    public bool HasChain(params string[] chain)
    {
        for (var start = 0; start + chain.Length <= Functions.Count; start++)
        {
            var match = true;
            for (var i = 0; i < chain.Length && match; i++)
            {
                match = Functions[start + i] == chain[i];
            }
            if (match)
            {
                return true;
            }
        }
        return false;
    }

    public override string ToString() => $"{Value} {string.Join(";", Functions.Reverse())}";
}
