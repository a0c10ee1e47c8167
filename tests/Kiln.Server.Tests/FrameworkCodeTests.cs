using System.Net.Sockets;

namespace Kiln.Server.Tests;

/// <summary>
/// `kiln server` replaces itself, early, with the same command line and DOTNET_ReadyToRun=0 (FrameworkCode), so that
/// the framework code ingest runs in is jitted: the process started is the one that serves, with that variable set, and
/// the runtime's diagnostics server still listens.
/// </summary>
public sealed class FrameworkCodeTests
{
    [Fact]
    public async Task The_started_server_process_serves_with_the_framework_jitted()
    {
        await using var server = await KilnProcess.StartAsync();
        using var http = server.HttpClient();
        using var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative));
        Assert.True(ready.IsSuccessStatusCode, $"/readyz answered {(int)ready.StatusCode}");

        // The PID that was started: an exec keeps it, a child process would not have the variable under it.
        var environment = (await File.ReadAllTextAsync($"/proc/{server.ProcessId}/environ")).Split('\0');
        Assert.Contains("DOTNET_ReadyToRun=0", environment);
        var commandLine = (await File.ReadAllTextAsync($"/proc/{server.ProcessId}/cmdline")).Split('\0');
        Assert.Contains("server", commandLine);

        // The runtime's diagnostics server (dotnet-trace, perf maps) listens under the same PID after the exec.
        var socket = Directory.GetFiles(Path.GetTempPath(), $"dotnet-diagnostic-{server.ProcessId}-*-socket").Single();
        using (var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await client.ConnectAsync(new UnixDomainSocketEndPoint(socket));
        }
        Assert.Equal(0, await server.StopAsync());
    }
}
