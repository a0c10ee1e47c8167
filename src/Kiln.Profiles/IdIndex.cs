using System.Text;
using Google.Protobuf.Collections;

namespace Kiln.Profiles;

/// <summary>
/// Maps a pprof table's ids (mapping, location or function ids) to positions in the table. Producers such as
/// Go's runtime number entries 1..N in order, so that case is answered by arithmetic with no dictionary at all;
/// only sparse or shuffled ids pay for a hash table.
/// </summary>
internal readonly struct IdIndex
{
    // Invariant: when _map is null, entry i has id i + 1 for every i < _count.
    private readonly Dictionary<ulong, int>? _map;
    private readonly int _count;
    private readonly string _table;

    private IdIndex(string table, int count, Dictionary<ulong, int>? map)
    {
        _table = table;
        _count = count;
        _map = map;
    }

    public int Count => _count;

    /// <summary>Indexes <paramref name="items"/>; throws <see cref="PprofFormatException"/> for a zero or duplicate id.</summary>
    public static IdIndex Build<T>(RepeatedField<T> items, Func<T, ulong> id, string table)
    {
        var dense = true;
        for (var i = 0; i < items.Count; i++)
        {
            if (id(items[i]) != (ulong)i + 1)
            {
                dense = false;
                break;
            }
        }
        if (dense)
        {
            return new IdIndex(table, items.Count, null);
        }
        var map = new Dictionary<ulong, int>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var value = id(items[i]);
            if (value == 0)
            {
                throw new PprofFormatException($"{table}[{i}].id is 0; {table} ids must be non-zero (number them 1, 2, 3, …)");
            }
            if (!map.TryAdd(value, i))
            {
                throw new PprofFormatException(
                    $"{table}[{i}].id = {value} duplicates {table}[{map[value]}].id; {table} ids must be unique within the {table} table");
            }
        }
        return new IdIndex(table, items.Count, map);
    }

    /// <summary>The table position of <paramref name="id"/>, or false when no entry has it (0 never does).</summary>
    public bool TryGetIndex(ulong id, out int index)
    {
        if (_map is null)
        {
            if (id - 1 < (ulong)_count)
            {
                index = (int)(id - 1);
                return true;
            }
            index = -1;
            return false;
        }
        return _map.TryGetValue(id, out index);
    }

    /// <summary>A short description of the ids present, for error messages: "40 locations with ids 1..40".</summary>
    public string Describe()
    {
        if (_count == 0)
        {
            return $"profile has no {_table}s";
        }
        if (_map is null)
        {
            return $"profile has {_count} {_table}(s) with ids 1..{_count}";
        }
        const int Shown = 10;
        var sb = new StringBuilder();
        sb.Append("profile has ").Append(_count).Append(' ').Append(_table).Append("(s) with ids ");
        var n = 0;
        foreach (var key in _map.Keys)
        {
            if (n == Shown)
            {
                sb.Append(", …");
                break;
            }
            if (n > 0)
            {
                sb.Append(", ");
            }
            sb.Append(key);
            n++;
        }
        return sb.ToString();
    }
}
