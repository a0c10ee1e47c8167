using System.IO.Compression;
using Google.Protobuf;
using Kiln.Profiles;
using Kiln.Profiles.Pprof;
using ValueType = Kiln.Profiles.Pprof.ValueType;

namespace Kiln.Server.Tests;

/// <summary>
/// Builds small pprof profiles with known stacks and values for the API tests. Each function gets one location
/// (one address, one mapping); stacks are given root first, as people read them, and stored leaf first as pprof wants.
/// </summary>
public sealed class PprofBuilder
{
    private readonly Profile _profile = new();
    private readonly Dictionary<string, long> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _mappings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _locations = new(StringComparer.Ordinal);

    public PprofBuilder((string Type, string Unit)[] sampleTypes, (string Type, string Unit) periodType, long period, DateTimeOffset time, TimeSpan duration)
    {
        Str("");
        foreach (var (type, unit) in sampleTypes)
        {
            _profile.SampleType.Add(new ValueType { Type = Str(type), Unit = Str(unit) });
        }
        _profile.PeriodType = new ValueType { Type = Str(periodType.Type), Unit = Str(periodType.Unit) };
        _profile.Period = period;
        _profile.TimeNanos = (time - DateTimeOffset.UnixEpoch).Ticks * 100;
        _profile.DurationNanos = duration.Ticks * 100;
    }

    /// <summary>Adds one sample: <paramref name="values"/> (one per sample type) on the stack <paramref name="rootFirst"/>.</summary>
    public PprofBuilder Sample(long[] values, params string[] rootFirst)
    {
        var sample = new Sample();
        for (var i = rootFirst.Length - 1; i >= 0; i--)
        {
            sample.LocationId.Add(Location(rootFirst[i]));
        }
        sample.Value.Add(values);
        _profile.Sample.Add(sample);
        return this;
    }

    public Profile Build() => _profile;

    public byte[] Gzip() => PprofCodec.Encode(_profile, gzip: true);

    public byte[] Raw() => _profile.ToByteArray();

    /// <summary>Which binary a function lives in: gzip in libz, everything else in the app.</summary>
    public static string MappingFileOf(string function) => function == "gzip" ? "/lib/x86_64-linux-gnu/libz.so.1" : "/usr/bin/app";

    private ulong Location(string function)
    {
        if (_locations.TryGetValue(function, out var id))
        {
            return id;
        }
        var file = MappingFileOf(function);
        if (!_mappings.TryGetValue(file, out var mappingId))
        {
            mappingId = (ulong)_profile.Mapping.Count + 1;
            var start = file.StartsWith("/lib", StringComparison.Ordinal) ? 0x7f00_0000_0000UL : 0x40_0000UL;
            _profile.Mapping.Add(new Mapping
            {
                Id = mappingId,
                MemoryStart = start,
                MemoryLimit = start + 0x10_0000,
                Filename = Str(file),
                BuildId = Str(file.StartsWith("/lib", StringComparison.Ordinal) ? "libzbuildid" : "appbuildid"),
                HasFunctions = true,
            });
            _mappings[file] = mappingId;
        }
        var functionId = (ulong)_profile.Function.Count + 1;
        _profile.Function.Add(new Function { Id = functionId, Name = Str(function), SystemName = Str(function), Filename = Str($"/src/{function}.c"), StartLine = 10 });
        id = (ulong)_profile.Location.Count + 1;
        var mapping = _profile.Mapping[(int)mappingId - 1];
        _profile.Location.Add(new Location
        {
            Id = id,
            MappingId = mappingId,
            Address = mapping.MemoryStart + 0x1000 * id,
            Line = { new Line { FunctionId = functionId, Line_ = 12 } },
        });
        _locations[function] = id;
        return id;
    }

    private long Str(string s)
    {
        if (!_strings.TryGetValue(s, out var index))
        {
            index = _profile.StringTable.Count;
            _profile.StringTable.Add(s);
            _strings[s] = index;
        }
        return index;
    }
}

/// <summary>Reads pprof bytes independently of the server's codec: gzip or raw protobuf.</summary>
public static class PprofRead
{
    public static Profile Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
        {
            using var input = new GZipStream(new MemoryStream(bytes.ToArray()), CompressionMode.Decompress);
            using var raw = new MemoryStream();
            input.CopyTo(raw);
            return Profile.Parser.ParseFrom(raw.ToArray());
        }
        return Profile.Parser.ParseFrom(bytes);
    }

    /// <summary>Sum of value[<paramref name="index"/>] per leaf function name (pprof's "flat").</summary>
    public static Dictionary<string, long> FlatByFunction(Profile profile, int index = 0)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var sample in profile.Sample)
        {
            var name = FunctionName(profile, sample.LocationId[0]);
            result[name] = result.GetValueOrDefault(name) + sample.Value[index];
        }
        return result;
    }

    /// <summary>Each sample's stack as "root;...;leaf" with its value, summed over equal stacks.</summary>
    public static Dictionary<string, long> Stacks(Profile profile, int index = 0)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var sample in profile.Sample)
        {
            var stack = string.Join(';', sample.LocationId.Reverse().Select(id => FunctionName(profile, id)));
            result[stack] = result.GetValueOrDefault(stack) + sample.Value[index];
        }
        return result;
    }

    public static string FunctionName(Profile profile, ulong locationId)
    {
        var location = profile.Location.First(l => l.Id == locationId);
        var functionId = location.Line[0].FunctionId;
        var function = profile.Function.First(f => f.Id == functionId);
        return profile.StringTable[(int)function.Name];
    }
}
