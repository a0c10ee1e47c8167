using Google.Protobuf;
using Kiln.Profiles;
using Kiln.Profiles.Pprof;
using Kiln.Profiles.Selectors;
using Kiln.Storage;
using Kiln.Storage.DuckDb;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kiln.Server.Tests;

/// <summary>
/// The store recognises a stack by what it means, not by the profile's own ids: profiles that number their
/// locations, functions and strings differently share stored stacks, and that holds after a restart and after
/// retention deleted a stack.
/// </summary>
public sealed class StoreDeduplicationTests : IDisposable
{
    private static readonly ProfileType s_type = ProfileType.Parse("test:samples:count:cpu:nanoseconds:delta");
    private static readonly long s_t0 = TimeRange.ToNanos(DateTimeOffset.UtcNow.AddHours(-1));

    private readonly string _dataDirectory = KilnProcess.CreateTempDirectory("kiln-dedup-");

    public void Dispose() => KilnProcess.TryDeleteDirectory(_dataDirectory);

    private static Profile Build(long time, int leafValue, int otherValue) => new ProfileBuilder()
        .AddSampleType("samples", "count")
        .SetPeriod("cpu", "nanoseconds", 10_000_000)
        .SetTime(time, 10_000_000_000)
        .AddSample([new FrameSpec("leaf", "a.c", 3, MappingFile: "/bin/app", BuildId: "abc", Address: 0x1000), new FrameSpec("main", "a.c", 1, MappingFile: "/bin/app", BuildId: "abc", Address: 0x2000)], [leafValue])
        .AddSample([new FrameSpec("other", "b.c", 9, MappingFile: "/bin/app", BuildId: "abc", Address: 0x3000), new FrameSpec("main", "a.c", 1, MappingFile: "/bin/app", BuildId: "abc", Address: 0x2000)], [otherValue])
        .Build();

    /// <summary>The same profile with every id and string index changed: ids sparse and reversed, strings reordered.</summary>
    private static Profile Renumbered(Profile p)
    {
        var r = p.Clone();
        var order = Enumerable.Range(1, p.StringTable.Count - 1).Reverse().ToArray();
        var newIndex = new long[p.StringTable.Count];
        r.StringTable.Clear();
        r.StringTable.Add("");
        foreach (var old in order)
        {
            newIndex[old] = r.StringTable.Count;
            r.StringTable.Add(p.StringTable[old]);
        }
        foreach (var t in r.SampleType)
        {
            (t.Type, t.Unit) = (newIndex[t.Type], newIndex[t.Unit]);
        }
        (r.PeriodType.Type, r.PeriodType.Unit) = (newIndex[r.PeriodType.Type], newIndex[r.PeriodType.Unit]);
        static ulong Id(ulong id) => 1000 - id * 7;
        foreach (var m in r.Mapping)
        {
            (m.Id, m.Filename, m.BuildId) = (Id(m.Id), newIndex[m.Filename], newIndex[m.BuildId]);
        }
        foreach (var f in r.Function)
        {
            (f.Id, f.Name, f.SystemName, f.Filename) = (Id(f.Id), newIndex[f.Name], newIndex[f.SystemName], newIndex[f.Filename]);
        }
        foreach (var l in r.Location)
        {
            (l.Id, l.MappingId) = (Id(l.Id), l.MappingId == 0 ? 0 : Id(l.MappingId));
            foreach (var line in l.Line)
            {
                line.FunctionId = Id(line.FunctionId);
            }
        }
        foreach (var s in r.Sample)
        {
            for (var i = 0; i < s.LocationId.Count; i++)
            {
                s.LocationId[i] = Id(s.LocationId[i]);
            }
        }
        var reversed = r.Location.Reverse().ToArray();
        r.Location.Clear();
        r.Location.Add(reversed);
        return r;
    }

    private static async Task<WriteStats> WriteAsync(IProfileStore store, Profile profile, string instance)
    {
        using var view = new PprofView();
        view.Parse(profile.ToByteArray());
        var labels = LabelSet.From([new Kiln.Profiles.Label("instance", instance)]);
        return await store.WriteAsync([new IngestProfile(s_type, labels, view, 0, view.TimeNanos, view.DurationNanos)], CancellationToken.None);
    }

    private static async Task<Dictionary<string, long>> FoldedAsync(IProfileStore store)
    {
        var merged = await store.MergeAsync(new ProfileSelector(s_type, []), TimeRange.All, [], CancellationToken.None);
        Assert.NotNull(merged);
        return FoldedStacks.ToFolded(merged.ToProfile()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .ToDictionary(parts => parts[0], parts => long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Profiles_numbered_differently_share_their_stacks()
    {
        await using var store = DuckDbProfileStore.Open(_dataDirectory, NullLogger.Instance);
        var first = await WriteAsync(store, Build(s_t0, 5, 2), "a");
        var second = await WriteAsync(store, Renumbered(Build(s_t0 + 10_000_000_000, 7, 1)), "b");

        Assert.Equal(2, first.NewStacks);
        Assert.Equal(0, second.NewStacks);
        Assert.Equal(2, second.SampleRows);
        var folded = await FoldedAsync(store);
        Assert.Equal(12, folded["main;leaf"]);
        Assert.Equal(3, folded["main;other"]);
    }

    [Fact]
    public async Task After_a_restart_known_stacks_are_recognised()
    {
        await using (var store = DuckDbProfileStore.Open(_dataDirectory, NullLogger.Instance))
        {
            await WriteAsync(store, Build(s_t0, 5, 2), "a");
        }
        await using var reopened = DuckDbProfileStore.Open(_dataDirectory, NullLogger.Instance);
        var again = await WriteAsync(reopened, Renumbered(Build(s_t0 + 10_000_000_000, 1, 1)), "a");
        Assert.Equal(0, again.NewStacks);
        Assert.Equal(6, (await FoldedAsync(reopened))["main;leaf"]);
    }

    [Fact]
    public async Task A_stack_deleted_by_retention_is_stored_again_when_it_comes_back()
    {
        await using var store = DuckDbProfileStore.Open(_dataDirectory, NullLogger.Instance);
        await WriteAsync(store, Build(s_t0, 5, 2), "a");
        var deleted = await store.DeleteBeforeAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal(2, deleted.StacksDeleted);

        var back = await WriteAsync(store, Renumbered(Build(TimeRange.ToNanos(DateTimeOffset.UtcNow.AddMinutes(1)), 4, 3)), "a");
        Assert.Equal(2, back.NewStacks);
        var folded = await FoldedAsync(store);
        Assert.Equal(4, folded["main;leaf"]);
        Assert.Equal(3, folded["main;other"]);
    }
}
