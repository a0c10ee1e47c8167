using System.Globalization;
using System.Net;
using Kiln.Storage.DuckDb;

namespace Kiln.Server;

/// <summary>Settings of <c>kiln server</c>; each maps to a command-line flag of the same name.</summary>
public sealed class KilnServerOptions
{
    /// <summary>--http-address: host:port of the one port serving gRPC, gRPC-Web, REST, /metrics and the UI.</summary>
    public string HttpAddress { get; set; } = "0.0.0.0:7070";

    /// <summary>--data-dir: where the embedded database lives.</summary>
    public string DataDirectory { get; set; } = "./data";

    /// <summary>--retention: samples older than this are deleted.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(15);

    /// <summary>--max-request-bytes: the largest request body (and gRPC message) accepted.</summary>
    public long MaxRequestBytes { get; set; } = 64L << 20;

    /// <summary>--store-threads: DuckDB's threads, shared by writes and queries; 0 is one per core (see <see cref="DuckDbProfileStore.Open"/>).</summary>
    public int StoreThreads { get; set; } = 1;

    private const int MaxStoreThreads = 1024;

    /// <summary>Checks every setting; returns the problems, each naming the flag, the bad value and what is allowed.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!TryParseEndpoint(HttpAddress, out _))
        {
            errors.Add($"--http-address '{HttpAddress}' is not host:port with a port in [0, 65535] (e.g. 0.0.0.0:7070, 127.0.0.1:7070, [::]:7070)");
        }
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            errors.Add("--data-dir must name a directory");
        }
        if (Retention < TimeSpan.FromMinutes(1))
        {
            errors.Add($"--retention {Retention} is too short; expected at least 1m (e.g. 15d, 36h)");
        }
        if (MaxRequestBytes is < 1024 or > int.MaxValue)
        {
            errors.Add($"--max-request-bytes {MaxRequestBytes} is outside [1024, {int.MaxValue}]");
        }
        if (StoreThreads is < 0 or > MaxStoreThreads)
        {
            errors.Add($"--store-threads {StoreThreads} is outside [0, {MaxStoreThreads}] (0: one per core)");
        }
        return errors;
    }

    /// <summary>Parses host:port; the host may be an IP, [IPv6], "localhost" or "*".</summary>
    public static bool TryParseEndpoint(string text, out IPEndPoint? endpoint)
    {
        endpoint = null;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            return false;
        }
        var host = text[..colon].Trim('[', ']');
        IPAddress? address = host switch
        {
            "*" => IPAddress.Any,
            "localhost" => IPAddress.Loopback,
            _ => IPAddress.TryParse(host, out var a) ? a : null,
        };
        if (address is null)
        {
            return false;
        }
        endpoint = new IPEndPoint(address, port);
        return true;
    }

    /// <summary>Parses durations like 15d, 36h, 90m, 30s, 500ms (and combinations such as 1h30m).</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var span = text.AsSpan().Trim();
        if (span.IsEmpty)
        {
            return false;
        }
        while (!span.IsEmpty)
        {
            var digits = 0;
            while (digits < span.Length && char.IsAsciiDigit(span[digits]))
            {
                digits++;
            }
            if (digits == 0 || !long.TryParse(span[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                return false;
            }
            span = span[digits..];
            var unitLength = 0;
            while (unitLength < span.Length && char.IsAsciiLetter(span[unitLength]))
            {
                unitLength++;
            }
            TimeSpan unit;
            switch (span[..unitLength])
            {
                case "ms": unit = TimeSpan.FromMilliseconds(1); break;
                case "s": unit = TimeSpan.FromSeconds(1); break;
                case "m": unit = TimeSpan.FromMinutes(1); break;
                case "h": unit = TimeSpan.FromHours(1); break;
                case "d": unit = TimeSpan.FromDays(1); break;
                case "w": unit = TimeSpan.FromDays(7); break;
                default: return false;
            }
            duration += unit * n;
            span = span[unitLength..];
        }
        return true;
    }
}
