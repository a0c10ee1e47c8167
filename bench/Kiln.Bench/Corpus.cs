using Kiln.Profiles.Pprof;

namespace Kiln.Bench;

/// <summary>
/// Generates agent-like CPU profiles: per process ~300 distinct stacks of depth 20–60 drawn with Zipf
/// frequencies from its service's stack pool, real-looking symbol names, one profile per process per window.
/// Deterministic for a given seed, so runs compare.
/// </summary>
internal sealed class Corpus
{
    public const string ProfileName = "parca_agent";
    public const long WindowNanos = 10_000_000_000;

    private static readonly string[] s_packages = ["net/http", "runtime", "encoding/json", "database/sql", "github.com/acme/api/internal/handler", "github.com/acme/api/internal/store", "google.golang.org/grpc", "crypto/tls", "compress/gzip", "sync"];
    private static readonly string[] s_verbs = ["Serve", "Handle", "Decode", "Encode", "Read", "Write", "Lock", "Query", "Marshal", "Unmarshal", "Flush", "Compress", "scan", "alloc", "mallocgc", "findRunnable"];
    private static readonly string[] s_nouns = ["HTTP", "Conn", "Request", "Response", "Rows", "Frame", "Buffer", "State", "Value", "Header", "Stream", "Block"];

    private readonly int _services;
    private readonly int _stacksPerProfile;
    private readonly Service[] _pool;

    public Corpus(int services = 20, int poolStacks = 3000, int stacksPerProfile = 300, int seed = 42)
    {
        _services = services;
        _stacksPerProfile = stacksPerProfile;
        var random = new Random(seed);
        _pool = new Service[services];
        for (var s = 0; s < services; s++)
        {
            _pool[s] = new Service(s, poolStacks, random);
        }
    }

    /// <summary>The profile of process <paramref name="process"/> on host <paramref name="host"/> for one window.</summary>
    public Profile Generate(int host, int process, long timeNanos)
    {
        var service = _pool[(host * 7 + process) % _services];
        var random = new Random(HashCode.Combine(host, process, timeNanos));
        return service.Profile(random, _stacksPerProfile, timeNanos);
    }

    public static (string Name, string Value)[] Labels(int host, int process) =>
    [
        ("node", $"host-{host:D3}"),
        ("pid", (1000 + process * 37 + host).ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("comm", $"svc-{process}"),
        ("pod", $"svc-{process}-{host:x4}"),
    ];

    private sealed class Service
    {
        private readonly Profile _template = new();
        private readonly ulong[][] _stacks;
        private readonly double[] _zipf;

        public Service(int index, int poolStacks, Random random)
        {
            _template.StringTable.Add("");
            _template.StringTable.Add("samples");
            _template.StringTable.Add("count");
            _template.StringTable.Add("cpu");
            _template.StringTable.Add("nanoseconds");
            _template.SampleType.Add(new Kiln.Profiles.Pprof.ValueType { Type = 1, Unit = 2 });
            _template.PeriodType = new Kiln.Profiles.Pprof.ValueType { Type = 3, Unit = 4 };
            _template.Period = 1_000_000_000 / 19;
            _template.StringTable.Add($"/usr/bin/svc{index}");
            _template.StringTable.Add($"{index:x8}deadbeef{index:x8}");
            _template.Mapping.Add(new Mapping { Id = 1, MemoryStart = 0x400000, MemoryLimit = 0x4000000, Filename = 5, BuildId = 6, HasFunctions = true });
            // A function vocabulary per service; each function is one location (address) here.
            const int functions = 1500;
            for (var f = 1; f <= functions; f++)
            {
                var name = $"{s_packages[random.Next(s_packages.Length)]}.(*{s_nouns[random.Next(s_nouns.Length)]}).{s_verbs[random.Next(s_verbs.Length)]}{f}";
                _template.StringTable.Add(name);
                var nameIndex = _template.StringTable.Count - 1;
                _template.Function.Add(new Function { Id = (ulong)f, Name = nameIndex, SystemName = nameIndex });
                var location = new Location { Id = (ulong)f, MappingId = 1, Address = 0x401000 + (ulong)f * 64 };
                location.Line.Add(new Line { FunctionId = (ulong)f, Line_ = f % 500 + 1 });
                _template.Location.Add(location);
            }
            // Stacks share prefixes (a call tree), as real stacks do: each extends a shorter one's root part.
            _stacks = new ulong[poolStacks][];
            for (var s = 0; s < poolStacks; s++)
            {
                var depth = random.Next(20, 61);
                var stack = new ulong[depth];
                var parent = s > 0 ? _stacks[random.Next(s)] : null;
                var shared = parent is null ? 0 : Math.Min(parent.Length, random.Next(depth / 2, depth));
                // Root is last (pprof order is leaf first); copy the parent's root-side frames.
                for (var i = 0; i < shared; i++)
                {
                    stack[depth - 1 - i] = parent![parent.Length - 1 - i];
                }
                for (var i = shared; i < depth; i++)
                {
                    stack[depth - 1 - i] = (ulong)random.Next(1, functions + 1);
                }
                _stacks[s] = stack;
            }
            _zipf = new double[poolStacks];
            double sum = 0;
            for (var i = 0; i < poolStacks; i++)
            {
                sum += 1.0 / Math.Pow(i + 1, 1.1);
                _zipf[i] = sum;
            }
            for (var i = 0; i < poolStacks; i++)
            {
                _zipf[i] /= sum;
            }
        }

        public Profile Profile(Random random, int stacks, long timeNanos)
        {
            var profile = _template.Clone();
            profile.TimeNanos = timeNanos;
            profile.DurationNanos = WindowNanos;
            var chosen = new HashSet<int>();
            while (chosen.Count < stacks)
            {
                var index = Array.BinarySearch(_zipf, random.NextDouble());
                chosen.Add(index < 0 ? ~index : index);
            }
            foreach (var index in chosen)
            {
                var sample = new Sample();
                sample.LocationId.Add(_stacks[Math.Min(index, _stacks.Length - 1)]);
                sample.Value.Add(1 + (long)(20 / Math.Sqrt(index + 1)));
                profile.Sample.Add(sample);
            }
            return profile;
        }
    }
}
