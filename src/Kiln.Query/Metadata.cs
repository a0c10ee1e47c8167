using System.Globalization;
using Kiln.Api.Metastore;

namespace Kiln.Query;

/// <summary>Fills Parca metastore messages (TOP and CALLGRAPH node metadata) from a representative frame.</summary>
internal static class Metadata
{
    public static (Location Location, Mapping? Mapping, Function? Function, Line? Line) For(StackSet set, FrameInfo frame)
    {
        var locationId = (frame.Location + 1).ToString(CultureInfo.InvariantCulture);
        var location = new Location
        {
            Id = locationId,
            Address = frame.Address,
            IsFolded = set.Locations[frame.Location].IsFolded,
        };
        Mapping? mapping = null;
        if (frame.Mapping >= 0)
        {
            var m = set.Mappings[frame.Mapping];
            mapping = new Mapping
            {
                Id = (frame.Mapping + 1).ToString(CultureInfo.InvariantCulture),
                Start = m.Start,
                Limit = m.Limit,
                Offset = m.Offset,
                File = set.Strings[m.File],
                BuildId = set.Strings[m.BuildId],
                HasFunctions = m.HasFunctions,
                HasFilenames = m.HasFilenames,
                HasLineNumbers = m.HasLineNumbers,
                HasInlineFrames = m.HasInlineFrames,
            };
            location.MappingId = mapping.Id;
        }
        if (!frame.Symbolized)
        {
            return (location, mapping, null, null);
        }
        // Functions are identified by their name: that is what reports aggregate on.
        var functionId = frame.Name.ToString(CultureInfo.InvariantCulture);
        var function = new Function
        {
            Id = functionId,
            Name = set.Strings[frame.Name],
            SystemName = set.Strings[frame.SystemName],
            Filename = set.Strings[frame.FileName],
            StartLine = frame.StartLine,
        };
        var line = new Line { FunctionId = functionId, Line_ = frame.Line };
        location.Lines.Add(line);
        return (location, mapping, function, line);
    }
}
