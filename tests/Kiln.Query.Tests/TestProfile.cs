using Kiln.Profiles.Pprof;

namespace Kiln.Query.Tests;

/// <summary>Small in-test pprof builder: one mapping, one location per function (or per address), one value per sample.</summary>
internal sealed class TestProfile
{
    private readonly Dictionary<string, long> _strings = new() { [""] = 0 };
    private readonly Dictionary<string, ulong> _functionLocations = [];

    public Profile Profile { get; } = new();

    public TestProfile(string type = "samples", string unit = "count", string mappingFile = "/usr/bin/app")
    {
        Profile.StringTable.Add("");
        Profile.SampleType.Add(new Kiln.Profiles.Pprof.ValueType { Type = Str(type), Unit = Str(unit) });
        Profile.Mapping.Add(new Mapping { Id = 1, Filename = Str(mappingFile), BuildId = Str("abc123"), MemoryStart = 0x1000, MemoryLimit = 0x9000 });
    }

    public long Str(string s)
    {
        if (!_strings.TryGetValue(s, out var id))
        {
            id = Profile.StringTable.Count;
            Profile.StringTable.Add(s);
            _strings[s] = id;
        }
        return id;
    }

    /// <summary>Location for <paramref name="name"/>; names starting with "0x" become unsymbolized addresses.</summary>
    public ulong Location(string name, ulong mappingId = 1)
    {
        if (_functionLocations.TryGetValue(name, out var id))
        {
            return id;
        }
        id = (ulong)Profile.Location.Count + 1;
        var location = new Location { Id = id, MappingId = mappingId, Address = 0x1000 + id * 0x10 };
        if (name.StartsWith("0x", StringComparison.Ordinal))
        {
            location.Address = Convert.ToUInt64(name[2..], 16);
        }
        else if (name.Contains('@', StringComparison.Ordinal))
        {
            // "fn@2000": function fn at address 0x2000 (a second location of the same function).
            var parts = name.Split('@');
            location.Address = Convert.ToUInt64(parts[1], 16);
            location.Line.Add(new Line { FunctionId = Function(parts[0]), Line_ = 10 + (long)id });
        }
        else
        {
            location.Line.Add(new Line { FunctionId = Function(name), Line_ = 10 + (long)id });
        }
        Profile.Location.Add(location);
        _functionLocations[name] = id;
        return id;
    }

    public ulong Function(string name)
    {
        foreach (var f in Profile.Function)
        {
            if (Profile.StringTable[(int)f.Name] == name)
            {
                return f.Id;
            }
        }
        var id = (ulong)Profile.Function.Count + 1;
        Profile.Function.Add(new Function { Id = id, Name = Str(name), SystemName = Str("sys_" + name), Filename = Str(name + ".c"), StartLine = 5 });
        return id;
    }

    /// <summary>Adds a sample whose stack is given root first, e.g. "main;a;b".</summary>
    public TestProfile Sample(string rootFirstStack, long value, params (string Key, string Value)[] labels)
    {
        var sample = new Sample();
        var names = rootFirstStack.Split(';');
        for (var i = names.Length - 1; i >= 0; i--)
        {
            sample.LocationId.Add(Location(names[i]));
        }
        sample.Value.Add(value);
        foreach (var (k, v) in labels)
        {
            sample.Label.Add(new Label { Key = Str(k), Str = Str(v) });
        }
        Profile.Sample.Add(sample);
        return this;
    }
}
