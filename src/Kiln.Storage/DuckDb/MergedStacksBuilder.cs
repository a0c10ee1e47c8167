using System.Buffers;
using System.Runtime.InteropServices;
using Kiln.Profiles;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Builds the answer of a merge query from aggregated (stack id, labels, value) rows: each stack's store location ids
/// are translated through a dense table, and a location (with its functions and mapping) is copied out of the
/// <see cref="SymbolTable"/> the first time a stack uses it, so the work per frame is one array read.
/// </summary>
internal sealed class MergedStacksBuilder : IDisposable
{
    private readonly SymbolTable _symbols;
    private readonly MergedStacks _result;

    // Store location id → its index in the result + 1 (0: not copied yet). Rented; every entry set is cleared on dispose.
    private int[] _locations;
    private readonly List<int> _usedLocations = [];
    private readonly Dictionary<int, int> _functions = [];
    private readonly Dictionary<int, int> _mappings = [];
    private int[] _stack = new int[128];

    // Without labels: stack id → its row index + 1 (0: none yet). Rented, cleared when rented.
    private int[] _rowOfStack;

    // Rows are kept until Build, which then knows how many location ids the result holds.
    private readonly List<Row> _rows = [];
    private int _frames;

    // With labels kept: (series, sample labels) → label set index, and (stack, label set) → sample index.
    private readonly Dictionary<(int Series, int SampleLabels), int> _labelSetOf = [];
    private readonly Dictionary<LabelSet, int> _labelSetIds = [];
    private readonly Dictionary<int, LabelSet> _sampleLabels = [];
    private readonly Dictionary<(int Stack, int LabelSet), int> _labelledSamples = [];

    public MergedStacksBuilder(SymbolTable symbols, ProfileType type, long period, long timeNanos, long durationNanos)
    {
        _symbols = symbols;
        _result = new MergedStacks(type, period, timeNanos, durationNanos);
        _locations = RentedTables.RentZeroed<int>(symbols.Locations.Count + 1);
        _rowOfStack = RentedTables.RentZeroed<int>(symbols.Stacks.Count + 1);
    }

    public bool IsEmpty => _rows.Count == 0;

    public int SampleCount => _rows.Count;

    /// <summary>Adds one aggregated row of a merge that keeps no labels; rows of the same stack merge.</summary>
    public void Add(int stackId, long value)
    {
        var stack = value == 0 ? null : _symbols.Stacks[stackId - 1];
        if (stack is null)
        {
            return;
        }
        if ((uint)stackId >= (uint)_rowOfStack.Length)
        {
            // The writer added stacks after this query started.
            _rowOfStack = RentedTables.Grown(_rowOfStack, stackId);
        }
        ref var row = ref _rowOfStack[stackId];
        if (row != 0)
        {
            CollectionsMarshal.AsSpan(_rows)[row - 1].Value += value;
            return;
        }
        _rows.Add(new Row(stack, value, 0));
        row = _rows.Count;
        _frames += stack.Length;
    }

    /// <summary>Adds one aggregated row keeping the labels named in <paramref name="keepLabels"/>; rows whose kept labels are equal merge.</summary>
    public void Add(int stackId, int seriesId, LabelSet seriesLabels, int sampleLabelsId, IReadOnlyCollection<string> keepLabels, long value)
    {
        var stack = value == 0 ? null : _symbols.Stacks[stackId - 1];
        if (stack is null)
        {
            return;
        }
        ref var labelSet = ref CollectionsMarshal.GetValueRefOrAddDefault(_labelSetOf, (seriesId, sampleLabelsId), out var known);
        if (!known)
        {
            labelSet = LabelSetIndex(KeptLabels(seriesLabels, sampleLabelsId, keepLabels));
        }
        ref var row = ref CollectionsMarshal.GetValueRefOrAddDefault(_labelledSamples, (stackId, labelSet), out var exists);
        if (exists)
        {
            CollectionsMarshal.AsSpan(_rows)[row].Value += value;
            return;
        }
        row = _rows.Count;
        _rows.Add(new Row(stack, value, labelSet));
        _frames += stack.Length;
    }

    /// <summary>The merged stacks of every row added, with their symbols.</summary>
    public MergedStacks Build()
    {
        _result.StackLocations.EnsureCapacity(_frames);
        foreach (var row in CollectionsMarshal.AsSpan(_rows))
        {
            _result.AddSample(Translate(row.Stack), row.Value, row.LabelSet);
        }
        _rows.Clear();
        return _result;
    }

    private record struct Row(int[] Stack, long Value, int LabelSet);

    public void Dispose()
    {
        foreach (var id in _usedLocations)
        {
            _locations[id] = 0;
        }
        ArrayPool<int>.Shared.Return(_locations);
        _locations = [];
        ArrayPool<int>.Shared.Return(_rowOfStack);
        _rowOfStack = [];
    }

    private ReadOnlySpan<int> Translate(int[] stack)
    {
        if (_stack.Length < stack.Length)
        {
            _stack = new int[stack.Length * 2];
        }
        for (var i = 0; i < stack.Length; i++)
        {
            var id = stack[i];
            if ((uint)id >= (uint)_locations.Length)
            {
                Grow(id);
            }
            var local = _locations[id];
            _stack[i] = local != 0 ? local - 1 : CopyLocation(id);
        }
        return _stack.AsSpan(0, stack.Length);
    }

    private void Grow(int id)
    {
        // The writer added locations after this query started. The old table goes back to the pool cleared.
        var grown = RentedTables.RentZeroed<int>(Math.Max(id + 1, _locations.Length * 2));
        _locations.AsSpan().CopyTo(grown);
        foreach (var used in _usedLocations)
        {
            _locations[used] = 0;
        }
        ArrayPool<int>.Shared.Return(_locations);
        _locations = grown;
    }

    private int CopyLocation(int id)
    {
        var row = _symbols.Locations[id - 1]!;
        var firstLine = _result.Lines.Count;
        foreach (var line in row.Lines)
        {
            _result.Lines.Add(new MergedLine(Function(line.FunctionId), line.Line));
        }
        var index = _result.Locations.Count;
        _result.Locations.Add(new MergedLocation(row.MappingId == 0 ? -1 : Mapping(row.MappingId), row.Address, row.IsFolded, firstLine, row.Lines.Length));
        _locations[id] = index + 1;
        _usedLocations.Add(id);
        return index;
    }

    private int Function(int id)
    {
        ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(_functions, id, out var exists);
        if (!exists)
        {
            var row = _symbols.Functions[id - 1]!;
            index = _result.Functions.Count;
            _result.Functions.Add(new MergedFunction(_result.Intern(row.Name), _result.Intern(row.SystemName), _result.Intern(row.Filename), row.StartLine));
        }
        return index;
    }

    private int Mapping(int id)
    {
        ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(_mappings, id, out var exists);
        if (!exists)
        {
            var row = _symbols.Mappings[id - 1]!;
            index = _result.Mappings.Count;
            _result.Mappings.Add(new MergedMapping(_result.Intern(row.File), _result.Intern(row.BuildId), row.Start, row.Limit, row.Offset,
                row.HasFunctions, row.HasFilenames, row.HasLineNumbers, row.HasInlineFrames));
        }
        return index;
    }

    private int LabelSetIndex(LabelSet labels)
    {
        if (labels.Count == 0)
        {
            return 0;
        }
        ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(_labelSetIds, labels, out var exists);
        if (!exists)
        {
            var pairs = new (int Key, int Value)[labels.Count];
            for (var i = 0; i < pairs.Length; i++)
            {
                pairs[i] = (_result.Intern(labels[i].Name), _result.Intern(labels[i].Value));
            }
            index = _result.AddLabelSet(pairs);
        }
        return index;
    }

    private LabelSet KeptLabels(LabelSet seriesLabels, int sampleLabelsId, IReadOnlyCollection<string> keepLabels)
    {
        var kept = new List<Label>(keepLabels.Count);
        foreach (var l in seriesLabels)
        {
            if (keepLabels.Contains(l.Name))
            {
                kept.Add(l);
            }
        }
        if (sampleLabelsId != 0)
        {
            if (!_sampleLabels.TryGetValue(sampleLabelsId, out var sampleLabels))
            {
                _sampleLabels[sampleLabelsId] = sampleLabels = LabelCodec.Decode(_symbols.SampleLabels[sampleLabelsId - 1] ?? "[]");
            }
            foreach (var l in sampleLabels)
            {
                if (keepLabels.Contains(l.Name))
                {
                    kept.Add(l);
                }
            }
        }
        return LabelSet.From(kept);
    }
}
