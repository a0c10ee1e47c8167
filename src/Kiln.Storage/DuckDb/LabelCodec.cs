using System.Text.Json;
using Kiln.Profiles;

namespace Kiln.Storage.DuckDb;

/// <summary>Label sets as stored in the database: a JSON array of [name, value] pairs in name order.</summary>
internal static class LabelCodec
{
    public static string Encode(LabelSet labels)
    {
        using var buffer = new MemoryStream(64);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var l in labels)
            {
                json.WriteStartArray();
                json.WriteStringValue(l.Name);
                json.WriteStringValue(l.Value);
                json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    public static LabelSet Decode(string encoded)
    {
        using var doc = JsonDocument.Parse(encoded);
        var labels = new List<Label>(doc.RootElement.GetArrayLength());
        foreach (var pair in doc.RootElement.EnumerateArray())
        {
            labels.Add(new Label(pair[0].GetString() ?? "", pair[1].GetString() ?? ""));
        }
        return LabelSet.From(labels);
    }
}
