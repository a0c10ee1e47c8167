using System.Diagnostics;

namespace Kiln.Symbolization.Tests;

/// <summary>Builds and runs the workloads under Workloads/ and asks binutils for ground truth.</summary>
internal static class Native
{
    public static string WorkloadPath(string name) => Path.Combine(AppContext.BaseDirectory, "Workloads", name);

    public static string Run(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var stderr = stderrTask.GetAwaiter().GetResult();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {args} exited {p.ExitCode}: {stderr}");
        return stdout;
    }

    public static string Compile(string compiler, string source, string flags)
    {
        var dir = Directory.CreateTempSubdirectory("kiln-sym-");
        var output = Path.Combine(dir.FullName, Path.GetFileNameWithoutExtension(source));
        Run(compiler, $"{flags} -o {output} {WorkloadPath(source)}");
        return output;
    }

    /// <summary>What <c>readelf -n</c> prints as the GNU build ID.</summary>
    public static string ReadelfBuildId(string path)
    {
        foreach (var line in Run("readelf", $"-n {path}").Split('\n'))
        {
            var i = line.IndexOf("Build ID:", StringComparison.Ordinal);
            if (i >= 0) return line[(i + 9)..].Trim();
        }
        throw new InvalidOperationException($"readelf -n {path} printed no build ID");
    }

    /// <summary>The value of a FUNC symbol per <c>readelf -Ws</c> (first match, versions stripped).</summary>
    public static ulong ReadelfSymbol(string path, string name)
    {
        foreach (var line in Run("readelf", $"-Ws {path}").Split('\n'))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 8 || f[3] != "FUNC") continue;
            var sym = f[7];
            var at = sym.IndexOf('@', StringComparison.Ordinal);
            if (at >= 0) sym = sym[..at];
            if (sym == name) return Convert.ToUInt64(f[1], 16);
        }
        throw new InvalidOperationException($"readelf -Ws {path} has no FUNC {name}");
    }
}

/// <summary>A started child process that prints one line and then runs until disposed.</summary>
internal sealed class Child : IDisposable
{
    private readonly Process _process;

    public Child(string file, string args = "", IDictionary<string, string?>? env = null, bool redirectInput = false)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardInput = redirectInput };
        if (env != null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        _process = Process.Start(psi)!;
        FirstLine = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"{file} printed nothing");
    }

    public string FirstLine { get; }

    public int Pid => _process.Id;

    public void WriteLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    public void Kill()
    {
        if (_process.HasExited) return;
        _process.Kill();
        _process.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
