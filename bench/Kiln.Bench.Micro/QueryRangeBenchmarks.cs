using System.Buffers;
using BenchmarkDotNet.Attributes;
using Grpc.Core;
using Kiln.Api.Query;
using Kiln.Profiles;
using Kiln.Server.Services;
using Kiln.Storage;
using Kiln.Storage.DuckDb;
using ProfileStoreLabel = Kiln.Api.ProfileStore.Label;
using ProfileStoreLabelSet = Kiln.Api.ProfileStore.LabelSet;

namespace Kiln.Bench.Micro;

/// <summary>
/// QueryRange over a day of 1,000 series as Grafana asks it (limit 1,000: a 2-minute step), after DuckDB: the per-step
/// sums over the 1,440,000 per-minute rows (in random order within each hour, as a roll-up's GROUP BY leaves them),
/// and writing the 720,000 points as the gRPC response.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class QueryRangeBenchmarks
{
    private const int SeriesCount = 1000;
    private const long Minute = 60_000_000_000;
    private static readonly long s_start = 1_765_152_000_000_000_000 / (60 * Minute) * (60 * Minute);

    private readonly TimeRange _range = new(s_start, s_start + 1440 * Minute);
    private List<SeriesEntry> _series = null!;
    private int[] _ids = null!;
    private long[] _times = null!;
    private long[] _totals = null!;
    private long[] _durations = null!;
    private int[] _profiles = null!;
    private List<(ProfileStoreLabelSet, IReadOnlyList<MetricPoint>)> _points = null!;

    [GlobalSetup]
    public void Setup()
    {
        var type = Kiln.Profiles.ProfileType.Parse("parca_agent:samples:count:cpu:nanoseconds:delta");
        _series = Enumerable.Range(1, SeriesCount)
            .Select(id => new SeriesEntry(id, type, LabelSet.From([new Label("node", $"node-{id / 10}"), new Label("pid", $"{id}")])))
            .ToList();
        var random = new Random(7);
        var rows = new List<(int Id, long Time)>();
        for (var hour = 0; hour < 24; hour++)
        {
            var bucket = new List<(int, long)>();
            for (var minute = 0; minute < 60; minute++)
            {
                bucket.AddRange(_series.Select(s => (s.Id, s_start + (hour * 60 + minute) * Minute)));
            }
            rows.AddRange(bucket.OrderBy(_ => random.Next()));
        }
        _ids = rows.Select(r => r.Id).ToArray();
        _times = rows.Select(r => r.Time).ToArray();
        _totals = rows.Select(_ => (long)random.Next(1, 60) * 10_000_000).ToArray();
        _durations = rows.Select(_ => 60_000_000_000L).ToArray();
        _profiles = rows.Select(_ => 6).ToArray();
        using var sums = Sum();
        _points = sums.ToPoints().Select(s => (Labels(s.Series.Labels), s.Points)).ToList();
    }

    /// <summary>The sums by a 2-minute step, then the points read out of them.</summary>
    [Benchmark]
    public int StepSums()
    {
        using var sums = Sum();
        return sums.ToPoints().Count;
    }

    /// <summary>The sums alone.</summary>
    [Benchmark]
    public long StepSumsAdd()
    {
        using var sums = Sum();
        return sums.MostPoints();
    }

    /// <summary>The response encoded in the handler and written by the marshaller.</summary>
    [Benchmark]
    public long Encode()
    {
        var response = new QueryRangeResponse();
        QueryRangeEncoding.Attach(response, _points, TimeSpan.FromMinutes(2),
            new Kiln.Api.Query.ValueType { Type = "samples", Unit = "count" }, new Kiln.Api.Query.ValueType { Type = "cpu", Unit = "nanoseconds" });
        var context = new DiscardingContext();
        QueryRangeEncoding.Marshaller.ContextualSerializer(response, context);
        return context.Written;
    }

    private StepSums Sum()
    {
        var sums = new StepSums(_series, _range, 2 * Minute);
        sums.Add(_ids, _times, _totals, _durations, _profiles);
        return sums;
    }

    private static ProfileStoreLabelSet Labels(LabelSet labels)
    {
        var set = new ProfileStoreLabelSet();
        set.Labels.AddRange(labels.Select(l => new ProfileStoreLabel { Name = l.Name, Value = l.Value }));
        return set;
    }

    // Takes the bytes into one reused buffer, as the response pipe would, without keeping them.
    private sealed class DiscardingContext : SerializationContext, IBufferWriter<byte>
    {
        private readonly byte[] _buffer = new byte[1 << 20];

        public long Written { get; private set; }

        public override void SetPayloadLength(int payloadLength)
        {
        }

        public override IBufferWriter<byte> GetBufferWriter() => this;

        public override void Complete()
        {
        }

        public override void Complete(byte[] payload) => Written += payload.Length;

        public void Advance(int count) => Written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => _buffer;

        public Span<byte> GetSpan(int sizeHint = 0) => _buffer;
    }
}
