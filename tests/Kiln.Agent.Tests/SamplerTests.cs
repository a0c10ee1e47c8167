using System.Diagnostics;
using Kiln.Agent.Sampling;
using Xunit.Abstractions;

namespace Kiln.Agent.Tests;

/// <summary>Loads the real BPF object and samples the whole machine while known workloads run.</summary>
public class SamplerTests(ITestOutputHelper output)
{
    [RootFact]
    public async Task Samples_busy_process_with_user_stacks_and_syscall_process_with_kernel_stacks()
    {
        using var busy = Workload.Start("sh", "-c", "while :; do :; done");
        using var syscalls = Workload.Start("dd", "if=/dev/zero", "of=/dev/null", "bs=1");
        using var sampler = Sampler.Start(new SamplerOptions { SamplingFrequency = 99, ProfilingDuration = TimeSpan.FromSeconds(2) });

        var windows = new List<SampleWindow>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await foreach (var window in sampler.Windows.ReadAllAsync(timeout.Token))
        {
            windows.Add(window);
            if (windows.Count == 2)
                break;
        }
        sampler.Stop();

        Assert.Equal(2, windows.Count);
        foreach (var window in windows)
        {
            output.WriteLine($"{window.Start:O} {window.Duration.TotalSeconds:F2}s: {window.Samples.Count} entries, {window.Samples.Sum(s => s.Count)} samples; {window.Counters}");
            Assert.Equal(99, window.SamplingFrequency);
            Assert.True(window.Duration >= TimeSpan.FromSeconds(1.5), $"window lasted {window.Duration}");
            Assert.DoesNotContain(window.Samples, s => s.Pid == 0);
            Assert.True(window.Counters.Samples > 0);
            Assert.Equal(0, window.Counters.CountsDropped);
            Assert.Equal(0, window.Counters.StacksMissing);
            Assert.All(window.Samples, s => Assert.True(s.Count > 0));
        }

        var all = windows.SelectMany(w => w.Samples).ToList();
        var busySamples = all.Where(s => s.Pid == busy.Pid).ToList();
        Assert.True(busySamples.Sum(s => s.Count) >= 20, $"busy pid {busy.Pid}: {busySamples.Sum(s => s.Count)} samples");
        Assert.All(busySamples, s => Assert.Equal(busy.Pid, s.Tid));
        Assert.All(busySamples, s => Assert.Equal("sh", s.ThreadComm));
        Assert.True(busySamples.Where(s => s.UserStack.Length > 0).Sum(s => s.Count) * 10 >= busySamples.Sum(s => s.Count) * 9,
            "at least 90% of the busy loop's samples have a user stack");

        output.WriteLine($"busy pid {busy.Pid}: {busySamples.Sum(s => s.Count)} samples, deepest user stack {busySamples.Max(s => s.UserStack.Length)}");
        var ddSamples = all.Where(s => s.Pid == syscalls.Pid).ToList();
        output.WriteLine($"dd pid {syscalls.Pid}: {ddSamples.Sum(s => s.Count)} samples, {ddSamples.Where(s => s.KernelStack.Length > 0).Sum(s => s.Count)} with kernel stacks, deepest {ddSamples.Max(s => s.KernelStack.Length)}");
        Assert.Contains(ddSamples, s => s.KernelStack.Length > 0 && s.UserStack.Length > 0);
        Assert.All(ddSamples, s => Assert.Equal("dd", s.ThreadComm));
        // Kernel addresses live in the top half of the address space, user addresses in the bottom.
        // Only the user leaf is certain: frame-pointer walks through code built without frame
        // pointers (dash, libc) read arbitrary stack words as return addresses.
        Assert.All(all.SelectMany(s => s.KernelStack), a => Assert.True(a >= 0xffff_8000_0000_0000UL, $"{a:x}"));
        Assert.All(all.Where(s => s.UserStack.Length > 0), s => Assert.True(s.UserStack[0] < 0x0000_8000_0000_0000UL, $"{s.UserStack[0]:x}"));

        // The counters account for every sample the program recorded.
        var counted = windows.Sum(w => w.Counters.Samples);
        var recorded = all.Sum(s => s.Count);
        Assert.InRange(recorded, counted * 9 / 10, counted + counted / 10);
    }

    [RootFact]
    public async Task Stop_publishes_the_partial_window_and_completes_the_channel()
    {
        using var busy = Workload.Start("sh", "-c", "while :; do :; done");
        using var sampler = Sampler.Start(new SamplerOptions { SamplingFrequency = 99, ProfilingDuration = TimeSpan.FromMinutes(1), StackMapEntries = 1024 });
        await Task.Delay(TimeSpan.FromSeconds(1));
        sampler.Stop();
        sampler.Stop();

        var windows = new List<SampleWindow>();
        await foreach (var window in sampler.Windows.ReadAllAsync())
            windows.Add(window);
        var only = Assert.Single(windows);
        Assert.True(only.Duration < TimeSpan.FromMinutes(1));
        Assert.Contains(only.Samples, s => s.Pid == busy.Pid);
        Assert.True(sampler.Windows.Completion.IsCompletedSuccessfully);
    }

    [Fact]
    public void Bad_frequency_fails_before_touching_the_kernel()
    {
        var e = Assert.Throws<ArgumentException>(() => Sampler.Start(new SamplerOptions { SamplingFrequency = 0 }));
        Assert.Contains("--sampling-frequency", e.Message);
    }

    [RootFact]
    public void The_table_of_a_binary_that_runs_again_soon_after_is_kept_rather_than_rebuilt()
    {
        using var sampler = Sampler.Start(new SamplerOptions { SamplingFrequency = 19, ProfilingDuration = TimeSpan.FromSeconds(60) });
        var tables = sampler.Unwinding;
        var first = Workload.Start("sleep", "60");
        WaitUntilMapped(first.Pid, "/libc.so.6");
        Assert.True(tables.Load(first.Pid));
        var (loaded, built, evicted) = (tables.Counters.Tables, tables.Counters.BuildTicks, tables.Counters.TablesEvicted);
        Assert.True(loaded >= 2, $"{loaded} tables for sleep (itself, libc, ld.so)");

        first.Dispose(); // killed: its tables have no user now
        tables.Retain(new HashSet<int>());
        Assert.Equal(0, tables.Counters.Processes);
        Assert.Equal((loaded, evicted), (tables.Counters.Tables, tables.Counters.TablesEvicted));

        using var second = Workload.Start("sleep", "60");
        WaitUntilMapped(second.Pid, "/libc.so.6");
        Assert.True(tables.Load(second.Pid));
        Assert.Equal(built, tables.Counters.BuildTicks); // nothing was built again
        Assert.Equal(loaded, tables.Counters.Tables);
        sampler.Stop();
    }

    private static void WaitUntilMapped(int pid, string suffix)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!File.ReadAllText($"/proc/{pid}/maps").Contains(suffix, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < until, $"pid {pid} never mapped *{suffix}");
            Thread.Sleep(20);
        }
    }
}

/// <summary>A child process killed (with its children) when disposed.</summary>
internal sealed class Workload : IDisposable
{
    private readonly Process _process;

    private Workload(Process process) => _process = process;

    public int Pid => _process.Id;

    public static Workload Start(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        return new Workload(Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}"));
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}
