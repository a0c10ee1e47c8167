using System.Globalization;
using System.Text;
using Kiln.Profiles.Pprof;

namespace Kiln.Profiles;

/// <summary>
/// One stack frame for <see cref="ProfileBuilder"/>. A frame with a null or empty <see cref="Function"/> becomes a
/// location with no line (shown as its address). <see cref="InlinedIntoCaller"/> marks a frame that the compiler
/// inlined into the next frame of the stack (its caller): the two then share one pprof location with several
/// lines, and the location's mapping and address are taken from the outermost (non-inlined) frame.
/// </summary>
public readonly record struct FrameSpec(
    string? Function,
    string? FileName = null,
    long Line = 0,
    string? SystemName = null,
    string? MappingFile = null,
    string? BuildId = null,
    ulong Address = 0,
    long StartLine = 0,
    bool InlinedIntoCaller = false);

/// <summary>
/// Builds a valid pprof <see cref="Profile"/> sample by sample, interning strings, mappings, functions and
/// locations so equal frames share one entry and ids are dense from 1. Cheap enough for generating benchmark
/// corpora: interning is one dictionary probe per frame and no per-sample garbage beyond the pprof objects.
/// Not thread-safe; after <see cref="Build"/> the builder is spent.
/// </summary>
public sealed class ProfileBuilder
{
    private readonly Profile _profile = new();
    private readonly Dictionary<string, long> _strings = new(StringComparer.Ordinal) { [""] = 0 };
    private readonly Dictionary<(long File, long BuildId), ulong> _mappings = [];
    private readonly Dictionary<(long Name, long SystemName, long File, long StartLine), ulong> _functions = [];
    private readonly Dictionary<(ulong Mapping, ulong Address, ulong Function, long Line), ulong> _locations = [];

    // Locations with inlined frames are rare; they are keyed by a composed string rather than complicating the hot key.
    private readonly Dictionary<string, ulong> _inlinedLocations = new(StringComparer.Ordinal);
    private readonly List<ulong> _stackScratch = [];
    private bool _built;

    public ProfileBuilder()
    {
        _profile.StringTable.Add("");
    }

    /// <summary>Number of sample types declared so far; every sample needs this many values.</summary>
    public int SampleTypeCount => _profile.SampleType.Count;

    /// <summary>Declares the next sample type (value column), e.g. ("cpu", "nanoseconds"). Call before adding samples.</summary>
    public ProfileBuilder AddSampleType(string type, string unit)
    {
        EnsureNotBuilt();
        if (_profile.Sample.Count > 0)
        {
            throw new InvalidOperationException("sample types must be declared before the first AddSample");
        }
        _profile.SampleType.Add(new Pprof.ValueType { Type = InternString(type), Unit = InternString(unit) });
        return this;
    }

    /// <summary>Sets the period type and period, e.g. ("cpu", "nanoseconds", 10_000_000) for 100 Hz sampling.</summary>
    public ProfileBuilder SetPeriod(string type, string unit, long period)
    {
        EnsureNotBuilt();
        _profile.PeriodType = new Pprof.ValueType { Type = InternString(type), Unit = InternString(unit) };
        _profile.Period = period;
        return this;
    }

    /// <summary>Sets when collection started (Unix nanoseconds) and how long it covered.</summary>
    public ProfileBuilder SetTime(long timeNanos, long durationNanos)
    {
        EnsureNotBuilt();
        _profile.TimeNanos = timeNanos;
        _profile.DurationNanos = durationNanos;
        return this;
    }

    /// <summary>Names the sample type viewers show by default (its type, e.g. "inuse_space").</summary>
    public ProfileBuilder SetDefaultSampleType(string type)
    {
        EnsureNotBuilt();
        _profile.DefaultSampleType = InternString(type);
        return this;
    }

    /// <summary>Adds a free-form comment.</summary>
    public ProfileBuilder AddComment(string comment)
    {
        EnsureNotBuilt();
        _profile.Comment.Add(InternString(comment));
        return this;
    }

    /// <summary>The string table index of <paramref name="value"/>, adding it when new.</summary>
    public long InternString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!_strings.TryGetValue(value, out var index))
        {
            index = _profile.StringTable.Count;
            _profile.StringTable.Add(value);
            _strings.Add(value, index);
        }
        return index;
    }

    /// <summary>
    /// Adds one sample. <paramref name="leafFirstStack"/> lists frames from the leaf (innermost) to the root, as pprof
    /// stores them; <paramref name="values"/> has one value per sample type (copied, so the array may be reused).
    /// Labels with an empty value are skipped. Samples are not combined: equal stacks added twice stay two samples.
    /// </summary>
    public ProfileBuilder AddSample(IReadOnlyList<FrameSpec> leafFirstStack, long[] values, IEnumerable<(string key, string value)>? labels = null)
    {
        ArgumentNullException.ThrowIfNull(leafFirstStack);
        ArgumentNullException.ThrowIfNull(values);
        EnsureNotBuilt();
        _stackScratch.Clear();
        var i = 0;
        while (i < leafFirstStack.Count)
        {
            // A run of inlined frames ends at the first frame not inlined into its caller (or the last frame).
            var end = i;
            while (end < leafFirstStack.Count - 1 && leafFirstStack[end].InlinedIntoCaller)
            {
                end++;
            }
            _stackScratch.Add(end == i ? InternLocation(leafFirstStack[i]) : InternInlinedLocation(leafFirstStack, i, end));
            i = end + 1;
        }
        return AddSample(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_stackScratch), values, labels);
    }

    /// <summary>
    /// Adds one sample from location ids returned by <see cref="InternLocation"/>, leaf first; the fast path for
    /// generators that reuse the same frames many times.
    /// </summary>
    public ProfileBuilder AddSample(ReadOnlySpan<ulong> leafFirstLocationIds, ReadOnlySpan<long> values, IEnumerable<(string key, string value)>? labels = null)
    {
        EnsureNotBuilt();
        if (values.Length != _profile.SampleType.Count)
        {
            throw new ArgumentException(
                $"sample has {values.Length} value(s) but the profile declares {_profile.SampleType.Count} sample type(s); call AddSampleType first and pass one value per type",
                nameof(values));
        }
        var sample = new Sample();
        for (var i = 0; i < leafFirstLocationIds.Length; i++)
        {
            var id = leafFirstLocationIds[i];
            if (id == 0 || id > (ulong)_profile.Location.Count)
            {
                throw new ArgumentException($"location id {id} at stack position {i} was not returned by InternLocation (profile has {_profile.Location.Count} locations)", nameof(leafFirstLocationIds));
            }
            sample.LocationId.Add(id);
        }
        for (var i = 0; i < values.Length; i++)
        {
            sample.Value.Add(values[i]);
        }
        if (labels is not null)
        {
            foreach (var (key, value) in labels)
            {
                if (string.IsNullOrEmpty(value))
                {
                    continue;
                }
                sample.Label.Add(new Pprof.Label { Key = InternString(key), Str = InternString(value) });
            }
        }
        _profile.Sample.Add(sample);
        return this;
    }

    /// <summary>The id of the location for a single (non-inlined) frame, adding it and its function and mapping when new.</summary>
    public ulong InternLocation(in FrameSpec frame)
    {
        EnsureNotBuilt();
        var mapping = InternMapping(frame.MappingFile, frame.BuildId);
        var function = InternFunction(frame);
        var key = (mapping, frame.Address, function, function == 0 ? 0 : frame.Line);
        if (_locations.TryGetValue(key, out var id))
        {
            return id;
        }
        var location = NewLocation(mapping, frame.Address);
        if (function != 0)
        {
            location.Line.Add(new Line { FunctionId = function, Line_ = frame.Line });
            MarkMapping(mapping, frame, inlined: false);
        }
        _locations.Add(key, location.Id);
        return location.Id;
    }

    /// <summary>Returns the finished profile. The builder cannot be used afterwards.</summary>
    public Profile Build()
    {
        EnsureNotBuilt();
        _built = true;
        return _profile;
    }

    private ulong InternInlinedLocation(IReadOnlyList<FrameSpec> frames, int first, int last)
    {
        var outer = frames[last];
        var mapping = InternMapping(outer.MappingFile, outer.BuildId);
        var key = new StringBuilder();
        key.Append(mapping).Append('|').Append(outer.Address);
        Span<ulong> functions = last - first < 64 ? stackalloc ulong[last - first + 1] : new ulong[last - first + 1];
        for (var i = first; i <= last; i++)
        {
            functions[i - first] = InternFunction(frames[i]);
            key.Append('|').Append(functions[i - first]).Append(':').Append(frames[i].Line.ToString(CultureInfo.InvariantCulture));
        }
        var text = key.ToString();
        if (_inlinedLocations.TryGetValue(text, out var id))
        {
            return id;
        }
        var location = NewLocation(mapping, outer.Address);
        for (var i = first; i <= last; i++)
        {
            if (functions[i - first] != 0)
            {
                location.Line.Add(new Line { FunctionId = functions[i - first], Line_ = frames[i].Line });
                MarkMapping(mapping, frames[i], inlined: i < last);
            }
        }
        _inlinedLocations.Add(text, location.Id);
        return location.Id;
    }

    private Location NewLocation(ulong mapping, ulong address)
    {
        var location = new Location { Id = (ulong)_profile.Location.Count + 1, MappingId = mapping, Address = address };
        _profile.Location.Add(location);
        return location;
    }

    private ulong InternMapping(string? file, string? buildId)
    {
        if (string.IsNullOrEmpty(file) && string.IsNullOrEmpty(buildId))
        {
            return 0;
        }
        var key = (InternString(file ?? ""), InternString(buildId ?? ""));
        if (!_mappings.TryGetValue(key, out var id))
        {
            id = (ulong)_profile.Mapping.Count + 1;
            _profile.Mapping.Add(new Mapping { Id = id, Filename = key.Item1, BuildId = key.Item2 });
            _mappings.Add(key, id);
        }
        return id;
    }

    private ulong InternFunction(in FrameSpec frame)
    {
        if (string.IsNullOrEmpty(frame.Function))
        {
            return 0;
        }
        var name = InternString(frame.Function);
        var key = (name, InternString(frame.SystemName ?? frame.Function), InternString(frame.FileName ?? ""), frame.StartLine);
        if (!_functions.TryGetValue(key, out var id))
        {
            id = (ulong)_profile.Function.Count + 1;
            _profile.Function.Add(new Function { Id = id, Name = key.name, SystemName = key.Item2, Filename = key.Item3, StartLine = key.StartLine });
            _functions.Add(key, id);
        }
        return id;
    }

    // Keeps the has_* flags honest: a viewer trusts them to decide whether to symbolize the mapping itself.
    private void MarkMapping(ulong mapping, in FrameSpec frame, bool inlined)
    {
        if (mapping == 0)
        {
            return;
        }
        var m = _profile.Mapping[(int)mapping - 1];
        m.HasFunctions = true;
        m.HasFilenames |= !string.IsNullOrEmpty(frame.FileName);
        m.HasLineNumbers |= frame.Line != 0;
        m.HasInlineFrames |= inlined;
    }

    private void EnsureNotBuilt()
    {
        if (_built)
        {
            throw new InvalidOperationException("Build() was already called; create a new ProfileBuilder for another profile");
        }
    }
}
