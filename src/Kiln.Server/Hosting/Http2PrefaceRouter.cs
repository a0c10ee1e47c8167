using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Connections;

namespace Kiln.Server.Hosting;

/// <summary>
/// Serves cleartext HTTP/2 (native gRPC) and HTTP/1.1 (UI, REST, gRPC-Web) on one port, as Parca does.
/// Kestrel picks HTTP/1.1 for a plaintext endpoint that allows both, because without TLS there is no ALPN
/// to choose by; so the connection's first bytes choose instead: the HTTP/2 client preface sends the
/// connection to an HTTP/2-only pipeline, anything else to the HTTP/1.1 one.
/// </summary>
internal sealed class Http2PrefaceRouter
{
    private static readonly byte[] s_preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

    private ConnectionDelegate? _http2;

    /// <summary>Connection middleware for the HTTP/2-only endpoint: remembers its pipeline.</summary>
    public ConnectionDelegate CaptureHttp2(ConnectionDelegate next)
    {
        _http2 = next;
        return next;
    }

    /// <summary>Connection middleware for the public HTTP/1.1 endpoint.</summary>
    public ConnectionDelegate Route(ConnectionDelegate http1) => async context =>
    {
        var input = context.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(context.ConnectionClosed).ConfigureAwait(false);
            var buffer = result.Buffer;
            var decision = Classify(buffer);
            // Consume nothing: the chosen pipeline reads the connection from its first byte.
            input.AdvanceTo(buffer.Start, decision is null ? buffer.End : buffer.Start);
            if (decision is not null || result.IsCompleted || result.IsCanceled)
            {
                var handler = decision == true && _http2 is not null ? _http2 : http1;
                await handler(context).ConfigureAwait(false);
                return;
            }
        }
    };

    /// <summary>True: HTTP/2 preface; false: not HTTP/2; null: too few bytes to tell.</summary>
    private static bool? Classify(ReadOnlySequence<byte> buffer)
    {
        var length = (int)Math.Min(buffer.Length, s_preface.Length);
        Span<byte> head = stackalloc byte[s_preface.Length];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(s_preface.AsSpan(0, length)))
        {
            return false;
        }
        return length == s_preface.Length ? true : null;
    }
}
