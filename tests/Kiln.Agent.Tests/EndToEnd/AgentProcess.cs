using System.Diagnostics;
using System.Globalization;
using System.Text;
using Kiln.Server.Tests;

namespace Kiln.Agent.Tests.EndToEnd;

/// <summary>
/// A real <c>kiln agent</c> child process (<c>dotnet kiln.dll agent</c>) sampling the whole host and sending to a
/// server, with its /metrics on a free loopback port. Output is captured for failure messages.
/// </summary>
internal sealed class AgentProcess : IAsyncDisposable
{
    // Readiness, not speed: a cold `dotnet kiln.dll` loading BPF programs on a busy 2-core machine.
    private static readonly TimeSpan s_startDeadline = TimeSpan.FromSeconds(90);

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly HttpClient _http;

    private AgentProcess(Process process, int port)
    {
        _process = process;
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

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

    /// <summary>Starts the agent (with 2-second windows unless <paramref name="extraArgs"/> set
    /// --profiling-duration) and waits until its /healthz answers.</summary>
    public static async Task<AgentProcess> StartAsync(string serverAddress, params string[] extraArgs)
    {
        var port = KilnProcess.FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string[] window = extraArgs.Contains("--profiling-duration") ? [] : ["--profiling-duration", "2s"];
        foreach (var arg in (string[])[KilnProcess.KilnDll, "agent", "--remote-store-address", serverAddress, "--http-address", $"127.0.0.1:{port}", .. window, .. extraArgs])
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["Logging__LogLevel__Kiln"] = "Debug";
        var process = new Process { StartInfo = start };
        var agent = new AgentProcess(process, port);
        process.OutputDataReceived += (_, e) => agent.Append(e.Data);
        process.ErrorDataReceived += (_, e) => agent.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + s_startDeadline;
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"kiln agent exited with {process.ExitCode} before it was healthy:\n{agent.Output}");
            }
            try
            {
                using var response = await agent._http.GetAsync(new Uri("/healthz", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    return agent;
                }
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                await agent.DisposeAsync();
                throw new TimeoutException($"kiln agent was not healthy within {s_startDeadline}:\n{agent.Output}");
            }
            await Task.Delay(200);
        }
    }

    /// <summary>The value of one sample line of the agent's /metrics (labels as written, e.g. <c>{reason="x"}</c>).</summary>
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
        throw new InvalidOperationException($"the agent's /metrics has no sample '{name}':\n{text}");
    }

    /// <summary>The sample lines of the agent's /metrics whose name starts with <paramref name="prefix"/>.</summary>
    public async Task<string> MetricLinesAsync(string prefix)
    {
        var text = await _http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        return string.Join('\n', text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)));
    }

    /// <summary>Waits until the agent has completed <paramref name="count"/> more windows and has nothing left to send.</summary>
    public async Task WaitForWindowsAsync(int count, TimeSpan deadline)
    {
        var target = await MetricAsync("kiln_agent_windows_total") + count;
        var until = DateTime.UtcNow + deadline;
        while (await MetricAsync("kiln_agent_windows_total") < target || await MetricAsync("kiln_agent_buffer_windows") > 0)
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"the agent did not complete and send {count} more windows within {deadline}:\n{Output}");
            }
            await Task.Delay(250);
        }
    }

    /// <summary>SIGTERM, then waits for the agent to send what it holds and exit; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
            await kill.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
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
}
