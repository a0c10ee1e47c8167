using Kiln.Storage.DuckDb;

namespace Kiln.Server.Tests;

/// <summary>The writer's content key → stack id table, against a Dictionary fed the same operations.</summary>
public sealed class ContentKeyTableTests
{
    [Fact]
    public void Agrees_with_a_dictionary_through_growth_replacement_removal_and_clearing()
    {
        var random = new Random(7);
        var table = new ContentKeyTable();
        var expected = new Dictionary<UInt128, int>();
        // Keys sharing their low bits collide on a slot whatever the capacity: probing must walk past them.
        var keys = Enumerable.Range(0, 20_000)
            .Select(i => i % 10 == 0 ? new UInt128((ulong)i, 42) : new UInt128((ulong)random.NextInt64(), (ulong)random.NextInt64()))
            .ToArray();
        for (var i = 0; i < keys.Length; i++)
        {
            table.Set(keys[i], i + 1);
            expected[keys[i]] = i + 1;
        }
        // Replacing an id leaves the count alone.
        table.Set(keys[5], 999_999);
        expected[keys[5]] = 999_999;
        AssertSame(table, expected, keys);

        var dead = new HashSet<int>(Enumerable.Range(1, keys.Length).Where(id => id % 3 == 0));
        table.RemoveIds(dead);
        foreach (var key in expected.Where(e => dead.Contains(e.Value)).Select(e => e.Key).ToList())
        {
            expected.Remove(key);
        }
        AssertSame(table, expected, keys);

        table.Clear();
        AssertSame(table, [], keys);
        table.Set(keys[1], 7);
        Assert.True(table.TryGetValue(keys[1], out var id));
        Assert.Equal(7, id);
    }

    [Fact]
    public void Refuses_id_zero_which_marks_an_empty_slot()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ContentKeyTable().Set(1, 0));
    }

    private static void AssertSame(ContentKeyTable table, Dictionary<UInt128, int> expected, UInt128[] keys)
    {
        Assert.Equal(expected.Count, table.Count);
        foreach (var key in keys)
        {
            table.Prefetch(key);
            Assert.Equal(expected.TryGetValue(key, out var want), table.TryGetValue(key, out var got));
            Assert.Equal(want, got);
        }
    }
}
