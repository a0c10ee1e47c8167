using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;

namespace Kiln.Cli.Commands;

/// <summary>The gRPC channel to a Kiln (or Parca) server, and readable messages for what goes wrong on it.</summary>
internal static class ServerClient
{
    public const string DefaultAddress = "http://localhost:7070";

    public static GrpcChannel Open(string address)
    {
        if (!address.Contains("://", StringComparison.Ordinal))
        {
            address = "http://" + address;
        }
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
        {
            throw new ArgumentException($"--address '{address}' is not an http:// or https:// URL (e.g. {DefaultAddress})");
        }
        return GrpcChannel.ForAddress(uri, new GrpcChannelOptions { MaxReceiveMessageSize = null, MaxSendMessageSize = null });
    }

    /// <summary>Turns a failed call into one line for a person, naming the server and what to do.</summary>
    public static string Describe(RpcException e, string address)
    {
        if (e.StatusCode == StatusCode.Unavailable && (e.InnerException is HttpRequestException or SocketException || e.Status.DebugException is HttpRequestException))
        {
            return $"cannot reach the Kiln server at {address}: {e.Status.DebugException?.Message ?? e.Status.Detail}. Is `kiln server` running there? Choose another with --address";
        }
        return e.StatusCode switch
        {
            StatusCode.InvalidArgument => $"the server refused the request: {e.Status.Detail}",
            StatusCode.NotFound => $"not found: {e.Status.Detail}",
            StatusCode.ResourceExhausted => $"the request is too large for the server: {e.Status.Detail} (raise the server's --max-request-bytes or send fewer files at once)",
            StatusCode.Unavailable => $"the server at {address} is unavailable: {e.Status.Detail}",
            StatusCode.DeadlineExceeded => $"the server at {address} did not answer in time",
            _ => $"{e.StatusCode}: {e.Status.Detail}",
        };
    }
}
