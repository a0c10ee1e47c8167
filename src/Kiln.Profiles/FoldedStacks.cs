using System.Globalization;
using System.Text;
using Kiln.Profiles.Pprof;

namespace Kiln.Profiles;

/// <summary>
/// Folded stacks, the text format of Brendan Gregg's flamegraph.pl and speedscope: one line per stack,
/// <c>root;child;leaf 42</c>, root first, then a space and an integer value.
/// </summary>
public static class FoldedStacks
{
    /// <summary>
    /// Writes one line per distinct stack with its summed value, lines sorted ordinally. Frames are function names;
    /// inlined frames are expanded caller first; a frame without a (named) function is written as
    /// <c>0x&lt;hex address&gt;</c>. The value is sample type <paramref name="sampleTypeIndex"/>, or when -1 the
    /// profile's default_sample_type, else its last sample type. Samples with an empty stack and stacks summing
    /// to zero are left out (the format cannot express the first and the second carries nothing). Names are
    /// written as they are: a name containing ';' or a line break will not read back identically.
    /// </summary>
    public static string ToFolded(Profile p, int sampleTypeIndex = -1)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.SampleType.Count == 0)
        {
            return "";
        }
        var valueIndex = ResolveSampleType(p, sampleTypeIndex);
        var locations = IdIndex.Build(p.Location, static l => l.Id, "location");
        var functions = IdIndex.Build(p.Function, static f => f.Id, "function");

        // Each location's frames are formatted once, however many samples share it.
        var fragments = new string?[p.Location.Count];
        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        var stack = new StringBuilder(256);
        for (var i = 0; i < p.Sample.Count; i++)
        {
            var s = p.Sample[i];
            if (s.LocationId.Count == 0)
            {
                continue;
            }
            stack.Clear();
            for (var j = s.LocationId.Count - 1; j >= 0; j--)
            {
                if (!locations.TryGetIndex(s.LocationId[j], out var li))
                {
                    throw new PprofFormatException($"sample[{i}].location_id[{j}] = {s.LocationId[j]} refers to no location ({locations.Describe()})");
                }
                if (stack.Length > 0)
                {
                    stack.Append(';');
                }
                stack.Append(fragments[li] ??= FormatLocation(p, p.Location[li], functions));
            }
            var key = stack.ToString();
            totals[key] = totals.GetValueOrDefault(key) + s.Value[valueIndex];
        }

        var keys = new string[totals.Count];
        totals.Keys.CopyTo(keys, 0);
        Array.Sort(keys, StringComparer.Ordinal);
        var output = new StringBuilder(keys.Length * 64);
        foreach (var key in keys)
        {
            var value = totals[key];
            if (value != 0)
            {
                output.Append(key).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
        return output.ToString();
    }

    /// <summary>
    /// Reads folded stacks into a profile with one sample type (<paramref name="sampleType"/>/<paramref name="sampleUnit"/>).
    /// Blank lines are skipped; a frame written <c>0x&lt;hex&gt;</c> becomes a location with that address and no
    /// function. Throws <see cref="FormatException"/> naming the 1-based line number and what is wrong.
    /// </summary>
    public static Profile FromFolded(TextReader reader, string sampleType = "samples", string sampleUnit = "count")
    {
        ArgumentNullException.ThrowIfNull(reader);
        var builder = new ProfileBuilder().AddSampleType(sampleType, sampleUnit);
        var frames = new List<FrameSpec>();
        var values = new long[1];
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            var text = line.AsSpan().Trim();
            if (text.IsEmpty)
            {
                continue;
            }
            var split = text.LastIndexOfAny(' ', '\t');
            if (split < 0)
            {
                throw new FormatException(
                    $"folded stacks line {lineNumber}: missing count; expected 'frame;frame;... <count>', found '{Shorten(text)}'");
            }
            var countText = text[(split + 1)..];
            var stackText = text[..split].TrimEnd();
            if (!long.TryParse(countText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var count))
            {
                throw new FormatException(
                    $"folded stacks line {lineNumber}: count '{Shorten(countText)}' is not an integer; expected 'frame;frame;... <count>'");
            }
            if (count < 0)
            {
                throw new FormatException($"folded stacks line {lineNumber}: count {count} is negative; counts must be 0 or more");
            }
            if (stackText.IsEmpty)
            {
                throw new FormatException($"folded stacks line {lineNumber}: missing stack before the count {count}");
            }
            frames.Clear();
            // The text is root first; pprof wants leaf first, so walk the frames from the end.
            var end = stackText.Length;
            for (var i = stackText.Length - 1; i >= -1; i--)
            {
                if (i >= 0 && stackText[i] != ';')
                {
                    continue;
                }
                var frame = stackText[(i + 1)..end];
                if (frame.IsEmpty)
                {
                    throw new FormatException(
                        $"folded stacks line {lineNumber}: empty frame at character {i + 2} of the stack; frames are separated by single ';'");
                }
                frames.Add(ParseFrame(frame));
                end = i;
            }
            values[0] = count;
            builder.AddSample(frames, values);
        }
        return builder.Build();
    }

    private static FrameSpec ParseFrame(ReadOnlySpan<char> frame)
    {
        if (frame.Length > 2 && frame[0] == '0' && frame[1] == 'x' &&
            ulong.TryParse(frame[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var address))
        {
            return new FrameSpec(null, Address: address);
        }
        return new FrameSpec(frame.ToString());
    }

    private static int ResolveSampleType(Profile p, int sampleTypeIndex)
    {
        if (sampleTypeIndex >= 0)
        {
            if (sampleTypeIndex >= p.SampleType.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(sampleTypeIndex), sampleTypeIndex,
                    $"the profile has {p.SampleType.Count} sample type(s); use 0..{p.SampleType.Count - 1} or -1 for the default");
            }
            return sampleTypeIndex;
        }
        if (p.DefaultSampleType != 0)
        {
            for (var i = 0; i < p.SampleType.Count; i++)
            {
                if (p.SampleType[i].Type == p.DefaultSampleType)
                {
                    return i;
                }
            }
        }
        return p.SampleType.Count - 1;
    }

    private static string FormatLocation(Profile p, Location loc, IdIndex functions)
    {
        if (loc.Line.Count == 0)
        {
            return Address(loc);
        }
        var sb = new StringBuilder();
        // pprof lists a location's lines innermost first, the caller last; folded stacks are root first.
        for (var i = loc.Line.Count - 1; i >= 0; i--)
        {
            if (sb.Length > 0)
            {
                sb.Append(';');
            }
            var name = functions.TryGetIndex(loc.Line[i].FunctionId, out var fi) ? p.StringTable[(int)p.Function[fi].Name] : "";
            sb.Append(name.Length > 0 ? name : Address(loc));
        }
        return sb.ToString();
    }

    private static string Address(Location loc) => "0x" + loc.Address.ToString("x", CultureInfo.InvariantCulture);

    private static string Shorten(ReadOnlySpan<char> text) => text.Length <= 80 ? text.ToString() : string.Concat(text[..80], "…");
}
