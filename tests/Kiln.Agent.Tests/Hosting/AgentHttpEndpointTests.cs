using System.Net;
using System.Net.Sockets;
using System.Text;
using Kiln.Agent.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;

namespace Kiln.Agent.Tests.Hosting;

/// <summary>The agent's own HTTP endpoint answers /metrics and /healthz like the Kestrel one it replaced, and answers
/// anything else with a status that says what is wrong.</summary>
public sealed class AgentHttpEndpointTests : IAsyncLifetime
{
    private readonly ManualClock _clock = new(DateTimeOffset.Parse("2026-11-25T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private AgentHttpEndpoint _endpoint = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var options = new AgentOptions { HttpAddress = "127.0.0.1:0" };
        _endpoint = new AgentHttpEndpoint(options, new AgentHealth(_clock), NullLogger<AgentHttpEndpoint>.Instance);
        await _endpoint.StartAsync(CancellationToken.None);
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_endpoint.LocalEndPoint!.Port}") };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _endpoint.StopAsync(CancellationToken.None);
        _endpoint.Dispose();
    }

    [Fact]
    public async Task Metrics_are_the_registry_in_Prometheus_text_format()
    {
        Metrics.CreateCounter("kiln_test_endpoint_requests_total", "A counter only this test writes").Inc(3);
        using var response = await _http.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("\nkiln_test_endpoint_requests_total 3\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Healthz_is_ok_while_windows_complete_and_503_naming_the_gap_when_they_stop()
    {
        Assert.Equal("ok\n", await _http.GetStringAsync(new Uri("/healthz?verbose=1", UriKind.Relative)));
        _clock.Advance(TimeSpan.FromMinutes(2));
        using var response = await _http.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("no profiling window completed for 120 s\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Head_answers_the_headers_of_get_without_a_body()
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, "/healthz");
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Another_path_is_404_and_another_method_405_with_allow()
    {
        using var missing = await _http.GetAsync(new Uri("/debug/pprof", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("/metrics and /healthz", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var post = await _http.PostAsync(new Uri("/metrics", UriKind.Relative), new StringContent("x"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal("GET, HEAD", string.Join(", ", post.Content.Headers.Allow));
    }

    [Theory]
    [InlineData("hello\r\n\r\n", "400 Bad Request")]
    [InlineData("GET /metrics SPDY/3\r\n\r\n", "400 Bad Request")]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: x\r\n", "400 Bad Request")] // closed before the headers ended
    public async Task A_malformed_request_is_400(string request, string status)
    {
        Assert.StartsWith($"HTTP/1.1 {status}\r\n", await RawAsync(Encoding.ASCII.GetBytes(request)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_oversized_request_head_is_431_and_the_endpoint_keeps_serving()
    {
        var request = Encoding.ASCII.GetBytes("GET /metrics HTTP/1.1\r\nX-Big: " + new string('a', AgentHttpEndpoint.MaxRequestHead) + "\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 431 ", await RawAsync(request), StringComparison.Ordinal);
        Assert.Equal("ok\n", await _http.GetStringAsync(new Uri("/healthz", UriKind.Relative)));
    }

    [Fact]
    public async Task A_client_that_sends_nothing_holds_up_only_itself()
    {
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(_endpoint.LocalEndPoint!);
        Assert.Equal("ok\n", await _http.GetStringAsync(new Uri("/healthz", UriKind.Relative)));
    }

    [Fact]
    public async Task An_address_in_use_is_an_IOException()
    {
        var taken = new AgentOptions { HttpAddress = $"127.0.0.1:{_endpoint.LocalEndPoint!.Port}" };
        using var second = new AgentHttpEndpoint(taken, new AgentHealth(_clock), NullLogger<AgentHttpEndpoint>.Instance);
        await Assert.ThrowsAsync<IOException>(() => second.StartAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData("GET /metrics HTTP/1.1", "GET", "/metrics")]
    [InlineData("HEAD /healthz?x=1 HTTP/1.0", "HEAD", "/healthz")]
    [InlineData("GET  HTTP/1.1", null, null)]
    [InlineData("GET /metrics", null, null)]
    [InlineData("/metrics HTTP/1.1", null, null)]
    public void The_request_line_is_method_path_and_version(string line, string? method, string? path)
    {
        var ok = AgentHttpEndpoint.TryParseRequestLine(Encoding.ASCII.GetBytes(line), out var m, out var p);
        Assert.Equal(method is not null, ok);
        if (ok)
        {
            Assert.Equal(method, Encoding.ASCII.GetString(m));
            Assert.Equal(path, Encoding.ASCII.GetString(p));
        }
    }

    private async Task<string> RawAsync(byte[] request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_endpoint.LocalEndPoint!);
        await socket.SendAsync(request);
        socket.Shutdown(SocketShutdown.Send);
        var response = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
            response.Write(buffer, 0, read);
        return Encoding.ASCII.GetString(response.ToArray());
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        private DateTimeOffset _now = now;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
