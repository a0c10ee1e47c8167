using System.Globalization;
using Kiln.Profiles;

namespace Kiln.Storage.DuckDb;

/// <summary>
/// Per-sample pprof labels (e.g. <c>thread_id</c>) as stored: a canonical label set. Numeric labels become
/// strings, with their unit appended when they have one.
/// </summary>
internal static class SampleLabelCodec
{
    public static string Encode(PprofView profile, in PprofView.ViewSample sample)
    {
        var labels = new List<Label>(sample.LabelCount);
        foreach (var l in profile.Labels(sample))
        {
            var value = l.Str != 0
                ? profile.String(l.Str)
                : l.NumUnit != 0 ? $"{l.Num} {profile.String(l.NumUnit)}" : l.Num.ToString(CultureInfo.InvariantCulture);
            labels.Add(new Label(profile.String(l.Key), value));
        }
        return LabelCodec.Encode(LabelSet.From(labels));
    }
}
