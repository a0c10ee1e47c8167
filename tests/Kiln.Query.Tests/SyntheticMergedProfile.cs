using Kiln.Profiles.Pprof;

namespace Kiln.Query.Testing;

/// <summary>
/// Builds a merged pprof profile shaped like what a MERGE over many agents returns (bench/Kiln.Bench/Corpus.cs):
/// several services, each with its own binary and a vocabulary of Go-like function names, and a pool of stacks of
/// depth 20–60 that share root-side prefixes as real call trees do, every stack a distinct sample with a Zipf-ish
/// value. Deterministic for a given seed. Shared by the unit tests and bench/Kiln.Bench.Micro.
/// </summary>
internal static class SyntheticMergedProfile
{
    private static readonly string[] s_packages = ["net/http", "runtime", "encoding/json", "database/sql", "github.com/acme/api/internal/handler", "github.com/acme/api/internal/store", "google.golang.org/grpc", "crypto/tls", "compress/gzip", "sync"];
    private static readonly string[] s_verbs = ["Serve", "Handle", "Decode", "Encode", "Read", "Write", "Lock", "Query", "Marshal", "Unmarshal", "Flush", "Compress", "scan", "alloc", "mallocgc", "findRunnable"];
    private static readonly string[] s_nouns = ["HTTP", "Conn", "Request", "Response", "Rows", "Frame", "Buffer", "State", "Value", "Header", "Stream", "Block"];

    /// <summary>
    /// <paramref name="services"/> × <paramref name="stacksPerService"/> distinct stacks over
    /// <paramref name="services"/> × <paramref name="functionsPerService"/> functions. The defaults (20 × 3000 stacks,
    /// 30,000 functions) match a one-minute MERGE of the whole bench corpus: ~60k stacks, a tree of ~1M nodes.
    /// </summary>
    public static Profile Build(int services = 20, int stacksPerService = 3000, int functionsPerService = 1500, int seed = 42)
    {
        var random = new Random(seed);
        var profile = new Profile();
        var strings = new Dictionary<string, long>(StringComparer.Ordinal);
        long Str(string s)
        {
            if (!strings.TryGetValue(s, out var id))
            {
                id = profile.StringTable.Count;
                profile.StringTable.Add(s);
                strings[s] = id;
            }
            return id;
        }
        Str("");
        profile.SampleType.Add(new Kiln.Profiles.Pprof.ValueType { Type = Str("samples"), Unit = Str("count") });
        profile.PeriodType = new Kiln.Profiles.Pprof.ValueType { Type = Str("cpu"), Unit = Str("nanoseconds") };
        profile.Period = 1_000_000_000 / 19;
        profile.DurationNanos = 60_000_000_000;

        ulong nextLocation = 1;
        for (var s = 0; s < services; s++)
        {
            var mappingId = (ulong)s + 1;
            profile.Mapping.Add(new Mapping
            {
                Id = mappingId, MemoryStart = 0x400000, MemoryLimit = 0x4000000, Filename = Str($"/usr/bin/svc{s}"),
                BuildId = Str($"{s:x8}deadbeef{s:x8}"), HasFunctions = true,
            });
            var firstLocation = nextLocation;
            for (var f = 1; f <= functionsPerService; f++)
            {
                var id = nextLocation++;
                var name = $"{s_packages[random.Next(s_packages.Length)]}.(*{s_nouns[random.Next(s_nouns.Length)]}).{s_verbs[random.Next(s_verbs.Length)]}{f}";
                var nameIndex = Str(name);
                profile.Function.Add(new Function
                {
                    Id = id, Name = nameIndex, SystemName = nameIndex, Filename = Str($"svc{s}/{s_packages[f % s_packages.Length]}/file{f % 97}.go"), StartLine = f % 400 + 1,
                });
                var location = new Location { Id = id, MappingId = mappingId, Address = 0x401000 + (ulong)f * 64 };
                location.Line.Add(new Line { FunctionId = id, Line_ = f % 500 + 1 });
                profile.Location.Add(location);
            }

            // Stacks share prefixes: each copies a random earlier stack's root-side frames (pprof lists the leaf first).
            var stacks = new ulong[stacksPerService][];
            for (var k = 0; k < stacksPerService; k++)
            {
                var depth = random.Next(20, 61);
                var stack = new ulong[depth];
                var parent = k > 0 ? stacks[random.Next(k)] : null;
                var shared = parent is null ? 0 : Math.Min(parent.Length, random.Next(depth / 2, depth));
                for (var i = 0; i < shared; i++)
                {
                    stack[depth - 1 - i] = parent![parent.Length - 1 - i];
                }
                for (var i = shared; i < depth; i++)
                {
                    stack[depth - 1 - i] = firstLocation + (ulong)random.Next(functionsPerService);
                }
                stacks[k] = stack;
                var sample = new Sample();
                sample.LocationId.Add(stack);
                sample.Value.Add(1 + (long)(20_000 / Math.Pow(k + 1, 0.8)));
                profile.Sample.Add(sample);
            }
        }
        return profile;
    }
}
