using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Kiln.Bench.Agent;

/// <summary>A `kiln agent` child process (the dotnet host is the agent: its pid is the one measured).</summary>
internal sealed class AgentProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly HttpClient _http;

    private AgentProcess(Process process, int port)
    {
        _process = process;
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    public int Pid => _process.Id;

    /// <summary>Starts the agent with default settings except the frequency (and any extra environment, e.g. runtime
    /// knobs to try), and waits until /healthz answers.</summary>
    public static async Task<AgentProcess> StartAsync(string kilnDll, string serverAddress, int frequency, IReadOnlyDictionary<string, string> environment)
    {
        var port = FreePort();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { kilnDll, "agent", "--remote-store-address", serverAddress, "--http-address", $"127.0.0.1:{port}", "--sampling-frequency", frequency.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start dotnet");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine($"[agent] {e.Data}"); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var agent = new AgentProcess(process, port);
        for (var i = 0; i < 900 && !process.HasExited; i++)
        {
            try
            {
                if ((await agent._http.GetAsync(new Uri("/healthz", UriKind.Relative))).IsSuccessStatusCode)
                {
                    return agent;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        await agent.DisposeAsync();
        throw new InvalidOperationException("kiln agent did not become healthy");
    }

    /// <summary>One unlabelled sample of the agent's /metrics (each scrape costs the agent a little CPU: scrape sparingly
    /// while its CPU is measured).</summary>
    public async Task<double> MetricAsync(string name)
    {
        var text = await _http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException($"the agent's /metrics has no '{name}'");
    }

    /// <summary>Waits until the agent has finished <paramref name="count"/> more windows and sent everything.</summary>
    public async Task WaitForWindowsAsync(int count)
    {
        var target = await MetricAsync("kiln_agent_windows_total") + count;
        var deadline = Stopwatch.StartNew();
        while (await MetricAsync("kiln_agent_windows_total") < target || await MetricAsync("kiln_agent_buffer_windows") > 0)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(3))
            {
                throw new TimeoutException($"the agent did not finish {count} more windows in 3 minutes");
            }
            await Task.Delay(250);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
