using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Kiln.Agent.Hosting;

/// <summary>
/// The agent's <c>/metrics</c> and <c>/healthz</c>: HTTP/1.1 GET and HEAD, one request per connection. Not Kestrel,
/// whose heartbeat wakes a thread every second — 26–45 ms of CPU a minute, a tenth of what the agent may spend at
/// 19 Hz — for two endpoints that are read a few times a minute. Here a thread blocks in <c>accept</c> and each
/// connection is served on the thread pool with a read and write timeout, so an idle agent spends nothing on it and
/// a stuck client holds up only itself.
/// </summary>
internal sealed partial class AgentHttpEndpoint(AgentOptions options, AgentHealth health, ILogger<AgentHttpEndpoint> logger) : IHostedService, IDisposable
{
    /// <summary>Longest request head (request line and headers) read; longer ones get 431.</summary>
    public const int MaxRequestHead = 8 * 1024;

    /// <summary>Connections served at once; more wait in the listen backlog.</summary>
    public const int MaxConcurrent = 8;

    private static readonly TimeSpan s_ioTimeout = TimeSpan.FromSeconds(5);

    private readonly SemaphoreSlim _slots = new(MaxConcurrent, MaxConcurrent);
    private Socket? _listener;
    private Thread? _acceptThread;
    private volatile bool _stopping;

    /// <summary>Where it listens (the port chosen by the kernel when the address asked for port 0).</summary>
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint as IPEndPoint;

    /// <summary>Binds and listens; an address in use or not available becomes an <see cref="IOException"/>.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        AgentOptions.TryParseEndpoint(options.HttpAddress, out var endpoint);
        var listener = new Socket(endpoint!.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
                listener.DualMode = true;
            listener.Bind(endpoint);
            listener.Listen(64);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new IOException($"{e.Message} ({e.SocketErrorCode})", e);
        }
        _listener = listener;
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "kiln-http" };
        _acceptThread.Start();
        return Task.CompletedTask;
    }

    /// <summary>Closes the listening socket; requests in progress finish on their own.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        // Shutting down a listening socket wakes the thread blocked in accept; closing alone does not on Linux.
        try
        {
            _listener?.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        _listener?.Close();
        _acceptThread?.Join(TimeSpan.FromSeconds(5));
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _slots.Dispose();
    }

    private void AcceptLoop()
    {
        while (!_stopping)
        {
            Socket connection;
            try
            {
                _slots.Wait();
                connection = _listener!.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                _slots.Release();
                if (_stopping)
                    return;
                LogAcceptFailed(logger, e);
                Thread.Sleep(100);
                continue;
            }
            ThreadPool.UnsafeQueueUserWorkItem(Serve, connection, preferLocal: false);
        }
    }

    private void Serve(Socket connection)
    {
        try
        {
            connection.ReceiveTimeout = (int)s_ioTimeout.TotalMilliseconds;
            connection.SendTimeout = (int)s_ioTimeout.TotalMilliseconds;
            connection.NoDelay = true;
            var response = Respond(connection);
            if (response is not null)
                connection.Send(response);
            connection.Shutdown(SocketShutdown.Send);
            // Closing with unread input (a body, an oversized head) would reset the connection, and the client might
            // lose the response: read what it still sends, briefly.
            connection.ReceiveTimeout = 1000;
            Span<byte> scratch = stackalloc byte[1024];
            for (var drained = 0; drained < 64 * 1024;)
            {
                var read = connection.Receive(scratch);
                if (read == 0)
                    break;
                drained += read;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The client went away or timed out: nothing to answer.
        }
        finally
        {
            connection.Dispose();
            _slots.Release();
        }
    }

    /// <summary>Reads one request head and builds the whole response; null when the client sent nothing.</summary>
    private byte[]? Respond(Socket connection)
    {
        var head = new byte[MaxRequestHead];
        var length = 0;
        var end = -1;
        while (end < 0)
        {
            if (length == head.Length)
                return Response(431, "Request Header Fields Too Large", $"the request head is over {MaxRequestHead} bytes\n");
            var read = connection.Receive(head, length, head.Length - length, SocketFlags.None);
            if (read == 0)
                return length == 0 ? null : Response(400, "Bad Request", "the request ended before its headers did\n");
            var from = Math.Max(0, length - 3);
            length += read;
            end = head.AsSpan(from, length - from).IndexOf("\r\n\r\n"u8);
        }
        var line = head.AsSpan(0, head.AsSpan(0, length).IndexOf("\r\n"u8));
        if (!TryParseRequestLine(line, out var method, out var path))
            return Response(400, "Bad Request", "expected a request line like 'GET /metrics HTTP/1.1'\n");
        var isHead = method.SequenceEqual("HEAD"u8);
        if (!isHead && !method.SequenceEqual("GET"u8))
            return Response(405, "Method Not Allowed", "only GET and HEAD are served\n", extraHeaders: "Allow: GET, HEAD\r\n", omitBody: false);

        if (path.SequenceEqual("/metrics"u8))
        {
            using var body = new MemoryStream();
            Metrics.DefaultRegistry.CollectAndExportAsTextAsync(body).GetAwaiter().GetResult();
            return Response(200, "OK", body.GetBuffer().AsSpan(0, (int)body.Length), "text/plain; version=0.0.4; charset=utf-8", omitBody: isHead);
        }
        if (path.SequenceEqual("/healthz"u8))
        {
            var healthy = health.IsHealthy(options.Sampling.ProfilingDuration, out var since);
            return healthy
                ? Response(200, "OK", "ok\n", omitBody: isHead)
                : Response(503, "Service Unavailable", $"no profiling window completed for {since.TotalSeconds:F0} s\n", omitBody: isHead);
        }
        return Response(404, "Not Found", "the agent serves /metrics and /healthz\n", omitBody: isHead);
    }

    /// <summary>Splits <c>METHOD SP target SP HTTP/1.x</c>; the path is the target without its query string.</summary>
    internal static bool TryParseRequestLine(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> method, out ReadOnlySpan<byte> path)
    {
        method = path = default;
        var first = line.IndexOf((byte)' ');
        if (first <= 0)
            return false;
        var rest = line[(first + 1)..];
        var second = rest.IndexOf((byte)' ');
        if (second <= 0 || !rest[(second + 1)..].StartsWith("HTTP/1."u8))
            return false;
        method = line[..first];
        path = rest[..second];
        var query = path.IndexOf((byte)'?');
        if (query >= 0)
            path = path[..query];
        return true;
    }

    private static byte[] Response(int status, string reason, string body, string? extraHeaders = null, bool omitBody = false) =>
        Response(status, reason, Encoding.UTF8.GetBytes(body), "text/plain; charset=utf-8", omitBody, extraHeaders);

    private static byte[] Response(int status, string reason, ReadOnlySpan<byte> body, string contentType, bool omitBody, string? extraHeaders = null)
    {
        var head = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n{extraHeaders}\r\n");
        var response = new byte[head.Length + (omitBody ? 0 : body.Length)];
        head.CopyTo(response, 0);
        if (!omitBody)
            body.CopyTo(response.AsSpan(head.Length));
        return response;
    }

    [LoggerMessage(1, LogLevel.Warning, "Accepting a connection on the agent's HTTP address failed")]
    private static partial void LogAcceptFailed(ILogger logger, Exception exception);
}
