using System.Globalization;
using System.Net;
using Kiln.Agent.Sampling;
using Kiln.Agent.Shipping;

namespace Kiln.Agent.Hosting;

/// <summary>Settings of <c>kiln agent</c>; each maps to the command-line flag named in its doc.</summary>
public sealed class AgentOptions
{
    /// <summary>--node: the node label of every profile; default the host name.</summary>
    public string Node { get; set; } = Environment.MachineName;

    /// <summary>--http-address: host:port of the agent's own /metrics and /healthz.</summary>
    public string HttpAddress { get; set; } = "127.0.0.1:7071";

    /// <summary>--config-path: YAML file with relabel_configs; null for none.</summary>
    public string? ConfigPath { get; set; }

    /// <summary>--sampling-frequency, --profiling-duration and the sampler's internals.</summary>
    public SamplerOptions Sampling { get; } = new();

    /// <summary>--remote-store-address, --bearer-token, --insecure-skip-verify, --buffer-size.</summary>
    public ShipperOptions Shipping { get; } = new();

    /// <summary>Where procfs is mounted (a host's /proc seen from a container, e.g. /host/proc).</summary>
    public string ProcRoot { get; set; } = "/proc";

    /// <summary>Checks every setting; returns the problems, each naming the flag, the bad value and what is allowed.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Node))
        {
            errors.Add("--node must not be empty (it names this machine in every profile's labels)");
        }
        if (!TryParseEndpoint(HttpAddress, out _))
        {
            errors.Add($"--http-address '{HttpAddress}' is not host:port with a port in [0, 65535] (e.g. 127.0.0.1:7071, 0.0.0.0:7071)");
        }
        if (ConfigPath is not null && !File.Exists(ConfigPath))
        {
            errors.Add($"--config-path '{ConfigPath}' does not exist; pass a YAML file with relabel_configs or leave the flag out");
        }
        try
        {
            Sampling.Validate();
        }
        catch (ArgumentException e)
        {
            errors.Add(e.Message);
        }
        errors.AddRange(Shipping.Validate());
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
}
