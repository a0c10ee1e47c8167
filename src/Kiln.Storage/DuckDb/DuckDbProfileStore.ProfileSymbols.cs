using System.Buffers;
using Kiln.Profiles;

namespace Kiln.Storage.DuckDb;

public sealed partial class DuckDbProfileStore
{
    /// <summary>
    /// The slow way from a profile's ids to store ids, for stacks whose content key the store has not seen: each
    /// mapping, function, string and location of the profile is interned in the <see cref="SymbolTable"/> on first
    /// use only, so a profile with a few new stacks pays for their symbols, not for its whole symbol table.
    /// Writer thread only; holds pooled arrays until disposed.
    /// </summary>
    private sealed class ProfileSymbols : IDisposable
    {
        private readonly PprofView _profile;
        private readonly StackKeys _keys;
        private readonly SymbolTable _symbols;
        private readonly AddedSymbols _added;

        // Store ids by the profile's table positions; 0 (or -1 for strings, whose pool ids start at 0) = not yet.
        private readonly int[] _mappings;
        private readonly int[] _functions;
        private readonly int[] _locations;
        private readonly int[] _strings;
        private readonly List<LocationLine> _lines = new(4);
        private int[] _stack = ArrayPool<int>.Shared.Rent(256);

        public ProfileSymbols(PprofView profile, StackKeys keys, SymbolTable symbols, AddedSymbols added)
        {
            _profile = profile;
            _keys = keys;
            _symbols = symbols;
            _added = added;
            _mappings = Rent(profile.Mappings.Length, 0);
            _functions = Rent(profile.Functions.Length, 0);
            _locations = Rent(profile.Locations.Length, 0);
            _strings = Rent(profile.StringCount, -1);
        }

        /// <summary>The store's stack id for a sample's stack, adding the stack and its symbols when new.</summary>
        public int Stack(in PprofView.ViewSample sample)
        {
            var locations = _profile.LocationIndices(sample);
            if (locations.Length > _stack.Length)
            {
                ArrayPool<int>.Shared.Return(_stack);
                _stack = ArrayPool<int>.Shared.Rent(locations.Length);
            }
            for (var i = 0; i < locations.Length; i++)
            {
                _stack[i] = Location(locations[i]);
            }
            return _symbols.GetOrAddStack(_stack.AsSpan(0, locations.Length), _added.Stacks);
        }

        public void Dispose()
        {
            ArrayPool<int>.Shared.Return(_mappings);
            ArrayPool<int>.Shared.Return(_functions);
            ArrayPool<int>.Shared.Return(_locations);
            ArrayPool<int>.Shared.Return(_strings);
            ArrayPool<int>.Shared.Return(_stack);
        }

        private int Location(int index)
        {
            ref var id = ref _locations[index];
            if (id == 0)
            {
                ref readonly var l = ref _profile.Locations[index];
                var hash = _keys.LocationHash(index);
                if (_symbols.TryGetLocationByContent(hash, out id) && SameLocation(_symbols.Locations[id - 1], l))
                {
                    return id;
                }
                _lines.Clear();
                foreach (var (functionId, line) in _profile.Lines(l))
                {
                    _lines.Add(new LocationLine(Function(_profile.FunctionIndex(functionId)), line));
                }
                var mappingId = l.MappingId == 0 ? 0 : Mapping(_profile.MappingIndex(l.MappingId));
                id = _symbols.GetOrAddLocation(mappingId, l.Address, l.IsFolded, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_lines), _added.Locations);
                _symbols.AddLocationContent(hash, id);
            }
            return id;
        }

        private bool SameLocation(LocationRow? row, in PprofView.ViewLocation l)
        {
            var lines = _profile.Lines(l);
            if (row is null || row.Address != l.Address || row.IsFolded != l.IsFolded || row.Lines.Length != lines.Length)
            {
                return false;
            }
            for (var i = 0; i < lines.Length; i++)
            {
                if (row.Lines[i].Line != lines[i].Line)
                {
                    return false;
                }
            }
            return true;
        }

        private int Function(int index)
        {
            ref var id = ref _functions[index];
            if (id == 0)
            {
                ref readonly var f = ref _profile.Functions[index];
                id = _symbols.GetOrAddFunction(String(f.Name), String(f.SystemName), String(f.Filename), f.StartLine, _added.Functions);
            }
            return id;
        }

        private int Mapping(int index)
        {
            ref var id = ref _mappings[index];
            if (id == 0)
            {
                ref readonly var m = ref _profile.Mappings[index];
                id = _symbols.GetOrAddMapping(_profile.String(m.Filename), _profile.String(m.BuildId), m.MemoryStart, m.MemoryLimit, m.FileOffset,
                    m.HasFunctions, m.HasFilenames, m.HasLineNumbers, m.HasInlineFrames, _added.Mappings);
            }
            return id;
        }

        private int String(long index)
        {
            ref var id = ref _strings[index];
            if (id < 0)
            {
                id = _symbols.InternUtf8(_profile.Utf8(index));
            }
            return id;
        }

        private static int[] Rent(int count, int fill)
        {
            var array = ArrayPool<int>.Shared.Rent(Math.Max(count, 1));
            array.AsSpan(0, count).Fill(fill);
            return array;
        }
    }
}
