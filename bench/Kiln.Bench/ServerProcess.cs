using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Kiln.Bench;

/// <summary>A `kiln server` child process, so that its CPU time can be measured apart from the load generator's.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, string address)
    {
        _process = process;
        Address = address;
    }

    public string Address { get; }

    public int Pid => _process.Id;

    /// <summary>From launching the process to the first successful /readyz.</summary>
    public TimeSpan ReadyAfter { get; private set; }

    public static async Task<ServerProcess> StartAsync(string kilnDll, string dataDir)
    {
        var port = FreePort();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        // KILN_BENCH_SERVER_ARGS: more flags for the server, e.g. "--store-threads 2", to compare settings with one build.
        var extra = (Environment.GetEnvironmentVariable("KILN_BENCH_SERVER_ARGS") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var a in new[] { kilnDll, "server", "--http-address", $"127.0.0.1:{port}", "--data-dir", dataDir }.Concat(extra))
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var launched = Stopwatch.GetTimestamp();
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start dotnet");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine($"[server] {e.Data}"); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new ServerProcess(process, $"http://127.0.0.1:{port}");
        using var http = new HttpClient();
        for (var i = 0; i < 300; i++)
        {
            try
            {
                // Ready, not only alive: the server answers /readyz once its query paths are compiled (QueryWarmup).
                if ((await http.GetAsync($"{server.Address}/readyz")).IsSuccessStatusCode)
                {
                    server.ReadyAfter = Stopwatch.GetElapsedTime(launched);
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }
            if (process.HasExited)
            {
                break;
            }
            await Task.Delay(100);
        }
        throw new InvalidOperationException("kiln server did not become ready");
    }

    /// <summary>The value of an unlabelled metric on the server's /metrics page (0 when absent).</summary>
    public async Task<long> MetricAsync(string name) => (long)await MetricValueAsync(name);

    /// <summary>A metric's value from the server's /metrics (0 when absent).</summary>
    public async Task<double> MetricValueAsync(string name)
    {
        using var http = new HttpClient();
        foreach (var line in (await http.GetStringAsync($"{Address}/metrics")).Split('\n'))
        {
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }

    /// <summary>User+system CPU time of the server so far (from /proc/PID/stat).</summary>
    public TimeSpan CpuTime
    {
        get => StatCpuTime(File.ReadAllText($"/proc/{Pid}/stat"));
    }

    /// <summary>
    /// User+system CPU time so far of the server's threads named <paramref name="name"/> (from /proc/PID/task; the
    /// kernel keeps the first 15 bytes of a thread's name).
    /// </summary>
    public TimeSpan ThreadCpuTime(string name)
    {
        var total = TimeSpan.Zero;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{Pid}/task"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var open = stat.IndexOf('(');
                if (stat[(open + 1)..stat.LastIndexOf(')')] == name)
                {
                    total += StatCpuTime(stat);
                }
            }
            catch (IOException)
            {
                // The thread ended while we listed them.
            }
        }
        return total;
    }

    // utime + stime of a /proc stat line, in clock ticks of 10 ms; the fields after the command's closing parenthesis.
    private static TimeSpan StatCpuTime(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    private bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        // SIGTERM-equivalent stop is not needed here: every measured write was acknowledged, hence durable.
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
