using Google.Protobuf.Collections;
using Kiln.Profiles;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Per-sample pprof labels (e.g. <c>thread_id</c>) as stored: a canonical label set. Numeric labels become
/// strings, with their unit appended when they have one.
/// </summary>
internal static class SampleLabelCodec
{
    public static string Encode(Kiln.Profiles.Pprof.Sample sample, RepeatedField<string> strings)
    {
        var labels = new List<Label>(sample.Label.Count);
        foreach (var l in sample.Label)
        {
            var value = l.Str != 0
                ? strings[(int)l.Str]
                : l.NumUnit != 0 ? $"{l.Num} {strings[(int)l.NumUnit]}" : l.Num.ToString(System.Globalization.CultureInfo.InvariantCulture);
            labels.Add(new Label(strings[(int)l.Key], value));
        }
        return LabelCodec.Encode(LabelSet.From(labels));
    }
}
