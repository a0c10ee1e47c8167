using System.IO.Compression;
using Google.Protobuf;
using Kiln.Profiles.Pprof;

namespace Kiln.Profiles;

/// <summary>Reads and writes pprof bytes (gzip-compressed or raw protobuf).</summary>
public static partial class PprofCodec
{
    /// <summary>Serializes <paramref name="profile"/>; gzip-compressed by default, as pprof files are on disk and over HTTP.</summary>
    public static byte[] Encode(Profile profile, bool gzip = true)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var raw = profile.ToByteArray();
        if (!gzip)
        {
            return raw;
        }
        using var output = new MemoryStream(raw.Length / 3 + 64);
        using (var zip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            zip.Write(raw);
        }
        return output.ToArray();
    }
}
