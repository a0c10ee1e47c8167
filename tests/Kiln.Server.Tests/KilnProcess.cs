using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Grpc.Net.Client;
using Grpc.Net.Client.Web;

namespace Kiln.Server.Tests;

/// <summary>
/// A real <c>kiln server</c> child process (<c>dotnet kiln.dll server</c>) on a free loopback port, with its own
/// data directory. Output is captured so failures can show what the server said.
/// </summary>
public sealed class KilnProcess : IAsyncDisposable
{
    // Readiness, not speed: how long a cold `dotnet kiln.dll` on a busy 2-core machine may take to answer /healthz.
    private static readonly TimeSpan s_startDeadline = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan s_stopDeadline = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly bool _ownsDataDirectory;

    private KilnProcess(Process process, int port, string dataDirectory, bool ownsDataDirectory)
    {
        _process = process;
        Port = port;
        DataDirectory = dataDirectory;
        _ownsDataDirectory = ownsDataDirectory;
    }

    public int Port { get; }

    public string DataDirectory { get; }

    /// <summary>http://127.0.0.1:PORT — the one address for gRPC, gRPC-Web, REST and /metrics.</summary>
    public string Address => $"http://127.0.0.1:{Port}";

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the server wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The built CLI, copied next to the test assembly because the test project references Kiln.Cli.</summary>
    public static string KilnDll
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "kiln.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"kiln.dll is not next to the test assembly in {AppContext.BaseDirectory}", path);
        }
    }

    /// <summary>
    /// Starts the server and waits until /healthz answers. <paramref name="dataDirectory"/> null: a fresh temporary
    /// directory, deleted on dispose; given: reused (a restart) and left alone.
    /// </summary>
    public static async Task<KilnProcess> StartAsync(string? dataDirectory = null, params string[] extraArgs)
    {
        var owns = dataDirectory is null;
        dataDirectory ??= CreateTempDirectory("kiln-data-");
        // The free port can be taken by someone else before the server binds it: then try another.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(dataDirectory, owns, FreePort(), extraArgs).ConfigureAwait(false);
            }
            catch (PortTakenException) when (attempt < 3)
            {
            }
        }
    }

    /// <summary>Starts a server on a given port and data directory (left alone on dispose), e.g. to bring back one that was stopped.</summary>
    public static Task<KilnProcess> StartOnPortAsync(string dataDirectory, int port) => StartOnceAsync(dataDirectory, false, port, []);

    private static async Task<KilnProcess> StartOnceAsync(string dataDirectory, bool owns, int port, string[] extraArgs)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[KilnDll, "server", "--http-address", $"127.0.0.1:{port}", "--data-dir", dataDirectory, .. extraArgs])
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        var process = new Process { StartInfo = start };
        var kiln = new KilnProcess(process, port, dataDirectory, owns);
        process.OutputDataReceived += (_, e) => kiln.Append(e.Data);
        process.ErrorDataReceived += (_, e) => kiln.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await kiln.WaitUntilHealthyAsync().ConfigureAwait(false);
        }
        catch
        {
            await kiln.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return kiln;
    }

    /// <summary>An h2c (native gRPC) channel to the server.</summary>
    public GrpcChannel GrpcChannel() =>
        Grpc.Net.Client.GrpcChannel.ForAddress(Address, new GrpcChannelOptions { MaxReceiveMessageSize = null, MaxSendMessageSize = null });

    /// <summary>A gRPC-Web channel over HTTP/1.1: the transport Grafana's Parca data source uses.</summary>
    public GrpcChannel GrpcWebChannel() =>
        Grpc.Net.Client.GrpcChannel.ForAddress(Address, new GrpcChannelOptions
        {
            HttpHandler = new GrpcWebHandler(GrpcWebMode.GrpcWeb, new SocketsHttpHandler()),
            HttpVersion = HttpVersion.Version11,
            HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            MaxReceiveMessageSize = null,
        });

    public HttpClient HttpClient() => new() { BaseAddress = new Uri(Address) };

    /// <summary>SIGKILL: no shutdown hooks, no flush — what a crash or the OOM killer does.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        if (!_process.WaitForExit(s_stopDeadline))
        {
            throw new TimeoutException($"kiln server (pid {_process.Id}) did not die after SIGKILL\n{Output}");
        }
    }

    /// <summary>SIGTERM, then waits for a graceful exit; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
            await kill.WaitForExitAsync().ConfigureAwait(false);
        }
        using var timeout = new CancellationTokenSource(s_stopDeadline);
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"kiln server (pid {_process.Id}) did not exit within {s_stopDeadline} of SIGTERM\n{Output}");
        }
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }
        _process.Dispose();
        if (_ownsDataDirectory)
        {
            TryDeleteDirectory(DataDirectory);
        }
    }

    /// <summary>A port that was free a moment ago (the server cannot take port 0, so we pick one).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    public static string CreateTempDirectory(string prefix) => Directory.CreateTempSubdirectory(prefix).FullName;

    public static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private async Task WaitUntilHealthyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit();
                if (Output.Contains("cannot listen", StringComparison.Ordinal))
                {
                    throw new PortTakenException(Output);
                }
                throw new InvalidOperationException($"kiln server exited with code {_process.ExitCode} before it was ready\n{Output}");
            }
            try
            {
                using var response = await http.GetAsync(new Uri($"{Address}/healthz")).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            if (deadline.Elapsed > s_startDeadline)
            {
                throw new TimeoutException($"kiln server on port {Port} did not answer /healthz within {s_startDeadline}\n{Output}");
            }
            await Task.Delay(100).ConfigureAwait(false);
        }
    }
}

internal sealed class PortTakenException(string message) : Exception(message);
