using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Kiln.Server.Tests;

/// <summary>The Go toolchain (Debian golang-go), or null when it is not installed.</summary>
public static class Go
{
    public static string? Path { get; } = System.Environment.GetEnvironmentVariable("PATH")?
        .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(d => System.IO.Path.Combine(d, "go"))
        .FirstOrDefault(File.Exists);

    /// <summary>Builds offline: the workloads use the standard library only, and there is no module proxy.</summary>
    public static readonly Dictionary<string, string> Environment = new()
    {
        ["GOPROXY"] = "off",
        ["GOFLAGS"] = "-mod=mod",
        ["GOSUMDB"] = "off",
        ["GOCACHE"] = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "kiln-tests-gocache"),
        ["GOTOOLCHAIN"] = "local",
    };

    /// <summary>The repository's tests/workloads/NAME directory, found by walking up from the test assembly.</summary>
    public static string WorkloadDirectory(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "tests", "workloads", name);
            if (File.Exists(System.IO.Path.Combine(candidate, "go.mod")))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException($"tests/workloads/{name} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Parses <c>go tool pprof -top</c>: function name → (flat, cum), in the units printed (use -unit=ns).</summary>
    public static Dictionary<string, (long Flat, long Cum)> ParseTop(string output)
    {
        var rows = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        var inTable = false;
        foreach (var line in output.Split('\n'))
        {
            if (!inTable)
            {
                inTable = line.TrimStart().StartsWith("flat", StringComparison.Ordinal) && line.Contains("cum%", StringComparison.Ordinal);
                continue;
            }
            var m = s_topRow.Match(line);
            if (!m.Success)
            {
                continue;
            }
            rows[m.Groups["name"].Value.Trim()] = (
                long.Parse(m.Groups["flat"].Value, CultureInfo.InvariantCulture),
                long.Parse(m.Groups["cum"].Value, CultureInfo.InvariantCulture));
        }
        return rows;
    }

    private static readonly Regex s_topRow = new(
        @"^\s*(?<flat>\d+)(?:ns)?\s+[\d.]+%\s+[\d.]+%\s+(?<cum>\d+)(?:ns)?\s+[\d.]+%\s+(?<name>.+?)\s*$", RegexOptions.CultureInvariant);
}

/// <summary>A [Fact] that is skipped, saying why, when Go is not installed (CI installs golang-go, so there it runs).</summary>
public sealed class GoFactAttribute : FactAttribute
{
    public GoFactAttribute()
    {
        if (Go.Path is null)
        {
            Skip = "needs Go and `go tool pprof` (apt-get install golang-go); CI installs it";
        }
    }
}

/// <summary>
/// Builds and runs tests/workloads/goburn, takes a 3 s CPU profile from its net/http/pprof endpoint, pushes it to a
/// real kiln server with <c>kiln push</c> and queries it back with <c>kiln query</c>; shared by the round-trip tests.
/// </summary>
public sealed class GoRoundTripFixture : IAsyncLifetime
{
    public const string Selector = "process_cpu:cpu:nanoseconds:cpu:nanoseconds:delta{job=\"goburn\"}";

    private Process? _goburn;

    public string WorkDirectory { get; } = KilnProcess.CreateTempDirectory("kiln-goburn-");

    public KilnProcess? Server { get; private set; }

    public string OriginalProfile => Path.Combine(WorkDirectory, "cpu.pb.gz");

    public ProcessResult? Push { get; private set; }

    public string From { get; } = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    public string To { get; } = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    public async Task InitializeAsync()
    {
        if (Go.Path is null)
        {
            return;
        }
        var binary = Path.Combine(WorkDirectory, "goburn");
        var build = await ExternalProcess.RunAsync(Go.Path, ["build", "-o", binary, "."], Go.WorkloadDirectory("goburn"), Go.Environment);
        Assert.True(build.ExitCode == 0, build.ToString());

        var serverStart = KilnProcess.StartAsync();
        var address = await StartGoburnAsync(binary);
        using (var http = new HttpClient { Timeout = TimeSpan.FromMinutes(1) })
        {
            var bytes = await http.GetByteArrayAsync(new Uri($"http://{address}/debug/pprof/profile?seconds=3"));
            await File.WriteAllBytesAsync(OriginalProfile, bytes);
        }
        _goburn!.Kill(entireProcessTree: true);
        Server = await serverStart;
        Push = await ExternalProcess.KilnAsync("push", OriginalProfile, "--label", "job=goburn", "--address", Server.Address);
    }

    public Task<ProcessResult> QueryAsync(params string[] extra) =>
        ExternalProcess.KilnAsync(["query", Selector, "--from", From, "--to", To, "--address", Server!.Address, .. extra]);

    public async Task<Dictionary<string, (long Flat, long Cum)>> PprofTopAsync(string file)
    {
        var result = await ExternalProcess.RunAsync(Go.Path!, ["tool", "pprof", "-top", "-unit=ns", "-symbolize=none", "-nodecount=100000", "-nodefraction=0", "-edgefraction=0", file], WorkDirectory, Go.Environment);
        Assert.True(result.ExitCode == 0, result.ToString());
        var rows = Go.ParseTop(result.Stdout);
        Assert.True(rows.Count > 0, $"no rows parsed from\n{result}");
        return rows;
    }

    public async Task DisposeAsync()
    {
        if (_goburn is { HasExited: false })
        {
            _goburn.Kill(entireProcessTree: true);
        }
        _goburn?.Dispose();
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
        KilnProcess.TryDeleteDirectory(WorkDirectory);
    }

    private async Task<string> StartGoburnAsync(string binary)
    {
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _goburn = new Process
        {
            StartInfo = new ProcessStartInfo(binary, "-port 0") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false },
        };
        _goburn.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.StartsWith("listening on ", StringComparison.Ordinal) == true)
            {
                listening.TrySetResult(e.Data["listening on ".Length..].Trim());
            }
        };
        _goburn.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                listening.TrySetException(new InvalidOperationException($"goburn: {e.Data}"));
            }
        };
        _goburn.Start();
        _goburn.BeginOutputReadLine();
        _goburn.BeginErrorReadLine();
        // Readiness, not speed.
        return await listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }
}

/// <summary>A real Go program's CPU profile goes through kiln push and kiln query and reads the same in go tool pprof.</summary>
public sealed class GoRoundTripTests(GoRoundTripFixture fixture) : IClassFixture<GoRoundTripFixture>
{
    [GoFact]
    public async Task Pprof_output_has_the_same_flat_values_as_the_original_in_go_tool_pprof()
    {
        Assert.True(fixture.Push!.ExitCode == 0, fixture.Push.ToString());
        Assert.Contains("pushed 1 profile(s)", fixture.Push.Stdout, StringComparison.Ordinal);
        var result = Path.Combine(fixture.WorkDirectory, "result.pb.gz");
        var query = await fixture.QueryAsync("--output", "pprof", "--out", result);
        Assert.True(query.ExitCode == 0, query.ToString());

        var original = await fixture.PprofTopAsync(fixture.OriginalProfile);
        var roundTripped = await fixture.PprofTopAsync(result);

        Assert.True(original.ContainsKey("main.hotA") && original.ContainsKey("main.hotB"), $"goburn's profile lacks the hot functions: {string.Join(", ", original.Keys)}");
        Assert.Equal(original["main.hotA"], roundTripped["main.hotA"]);
        Assert.Equal(original["main.hotB"], roundTripped["main.hotB"]);
        Assert.True(original["main.hotA"].Flat > original["main.hotB"].Flat,
            $"hotA does twice hotB's work but has flat {original["main.hotA"].Flat} ns vs {original["main.hotB"].Flat} ns");
        // Every function, not just the two we planted, keeps its flat and cumulative time.
        Assert.Equal(original.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray(), roundTripped.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray());
    }

    [GoFact]
    public async Task Folded_output_shows_the_hot_functions_with_their_cpu_time()
    {
        var folded = await fixture.QueryAsync("--output", "folded");
        Assert.True(folded.ExitCode == 0, folded.ToString());

        var original = await fixture.PprofTopAsync(fixture.OriginalProfile);
        var lines = folded.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        long FlatOf(string function) => lines
            .Select(l => (Stack: l[..l.LastIndexOf(' ')], Value: long.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)))
            .Where(l => l.Stack.EndsWith(";" + function, StringComparison.Ordinal) || l.Stack == function)
            .Sum(l => l.Value);
        Assert.Contains(lines, l => l.Contains("main.burn;main.hotA ", StringComparison.Ordinal));
        Assert.Equal(original["main.hotA"].Flat, FlatOf("main.hotA"));
        Assert.Equal(original["main.hotB"].Flat, FlatOf("main.hotB"));
    }

    [GoFact]
    public async Task Top_output_lists_hotA_first()
    {
        var top = await fixture.QueryAsync("--output", "top");
        Assert.True(top.ExitCode == 0, top.ToString());

        var names = top.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(2).Select(l => l.Split("  ", StringSplitOptions.RemoveEmptyEntries)[^1].Trim()).ToArray();
        Assert.Equal("main.hotA", names[0]);
        Assert.Contains("main.hotB", names);
    }
}
