namespace Kiln.Agent.Shipping;

/// <summary>Where and how the agent sends profiles; each maps to a `kiln agent` flag.</summary>
public sealed class ShipperOptions
{
    /// <summary>--remote-store-address: the Kiln (or Parca) server, http:// or https://.</summary>
    public string RemoteStoreAddress { get; set; } = "http://localhost:7070";

    /// <summary>--bearer-token: sent as "authorization: Bearer …" on every request.</summary>
    public string? BearerToken { get; set; }

    /// <summary>--insecure-skip-verify: accept any TLS certificate (for testing only).</summary>
    public bool InsecureSkipVerify { get; set; }

    /// <summary>--buffer-size: windows kept while the server is unreachable; the oldest are dropped beyond it.</summary>
    public int BufferSize { get; set; } = 60;

    /// <summary>Longest wait between retries; waits start at one second and double.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time allowed for one WriteRaw call.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The problems with these options, each naming the flag, the value and what is allowed.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Uri.TryCreate(RemoteStoreAddress, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
        {
            errors.Add($"--remote-store-address '{RemoteStoreAddress}' is not an http:// or https:// URL (e.g. http://kiln:7070)");
        }
        if (BufferSize is < 1 or > 100_000)
        {
            errors.Add($"--buffer-size {BufferSize} is outside [1, 100000] (windows kept while the server is unreachable)");
        }
        return errors;
    }
}
