using System.Runtime.InteropServices;
using Kiln.Agent.Sampling;
using Kiln.Agent.Shipping;
using Kiln.Profiles;
using Kiln.Symbolization;
using PprofProfile = Kiln.Profiles.Pprof.Profile;

namespace Kiln.Agent.Profiling;

/// <summary>
/// Turns one <see cref="SampleWindow"/> into one pprof per process: stacks symbolized on the node (kernel frames
/// leaf-most, then user frames), series labels of the process after relabeling, and per-sample
/// <c>thread_id</c> / <c>thread_name</c> labels. The profile type is <c>parca_agent:samples:count:cpu:nanoseconds:delta</c>:
/// values are sample counts, the period is 1e9 / frequency ns and the duration is the window's. Frames that cannot be
/// named are kept as address + mapping (build ID, file, range) so the server can symbolize them later.
/// Not thread-safe: one instance on the thread that consumes the sampler's windows.
/// </summary>
public sealed class WindowProfiler
{
    private readonly Symbolizer _symbolizer;
    private readonly Func<int, LabelSet?> _processLabels;
    private readonly Func<LabelSet, LabelSet?> _relabel;
    private readonly Action<int>? _onProcessSeen;
    private readonly string _node;
    private SymbolizedFrame[] _frames = new SymbolizedFrame[128];
    private ulong[] _addresses = new ulong[128];

    /// <param name="symbolizer">Resolves user and kernel addresses.</param>
    /// <param name="node">The node name, used for a process whose labels cannot be read any more.</param>
    /// <param name="processLabels">The series labels of a process (node, pid, comm, …), or null when unknown.</param>
    /// <param name="relabel">Applies relabel_configs; null drops the process's profile.</param>
    /// <param name="onProcessSeen">Called once per process per window before it is symbolized (e.g. to enable .NET perf maps).</param>
    public WindowProfiler(Symbolizer symbolizer, string node, Func<int, LabelSet?> processLabels, Func<LabelSet, LabelSet?>? relabel = null, Action<int>? onProcessSeen = null)
    {
        _symbolizer = symbolizer;
        _node = node;
        _processLabels = processLabels;
        _relabel = relabel ?? (labels => labels);
        _onProcessSeen = onProcessSeen;
    }

    /// <summary>Profiles dropped by relabel_configs so far.</summary>
    public long ProfilesDroppedByRelabeling { get; private set; }

    /// <summary>Builds the window's profiles, one per process that had samples, in ascending pid order.</summary>
    public IReadOnlyList<ShippedProfile> Build(SampleWindow window)
    {
        var byPid = new SortedDictionary<int, List<int>>();
        for (var i = 0; i < window.Samples.Count; i++)
        {
            var pid = window.Samples[i].Pid;
            if (!byPid.TryGetValue(pid, out var indices))
            {
                byPid[pid] = indices = [];
            }
            indices.Add(i);
        }

        var period = 1_000_000_000L / window.SamplingFrequency;
        var result = new List<ShippedProfile>(byPid.Count);
        foreach (var (pid, indices) in byPid)
        {
            var labels = _processLabels(pid) ?? FallbackLabels(window.Samples[indices[0]]);
            var relabeled = _relabel(labels);
            if (relabeled is null || relabeled.Count == 0)
            {
                ProfilesDroppedByRelabeling++;
                continue;
            }
            _onProcessSeen?.Invoke(pid);
            var profile = BuildProcessProfile(window, pid, indices, period);
            result.Add(new ShippedProfile(relabeled, PprofCodec.Encode(profile)));
        }
        _symbolizer.Trim();
        return result;
    }

    private LabelSet FallbackLabels(in Sample sample) =>
        LabelSet.From(("node", _node), ("pid", sample.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("comm", sample.ThreadComm));

    private PprofProfile BuildProcessProfile(SampleWindow window, int pid, List<int> indices, long period)
    {
        var builder = new ProcessProfileBuilder(period, (window.Start - DateTimeOffset.UnixEpoch).Ticks * 100, (long)window.Duration.TotalNanoseconds);
        // Equal stacks share one array within a window, so their location ids are computed once per process.
        var userStacks = new Dictionary<ulong[], ulong[]>(ReferenceEqualityComparer.Instance);
        var kernelStacks = new Dictionary<ulong[], ulong[]>(ReferenceEqualityComparer.Instance);
        var stack = new List<ulong>(128);
        foreach (var index in indices)
        {
            var sample = window.Samples[index];
            stack.Clear();
            if (sample.KernelStack.Length > 0)
            {
                if (!kernelStacks.TryGetValue(sample.KernelStack, out var kernel))
                {
                    kernelStacks[sample.KernelStack] = kernel = KernelLocations(builder, sample.KernelStack);
                }
                stack.AddRange(kernel);
            }
            if (sample.UserStack.Length > 0)
            {
                if (!userStacks.TryGetValue(sample.UserStack, out var user))
                {
                    userStacks[sample.UserStack] = user = UserLocations(builder, pid, sample.UserStack);
                }
                stack.AddRange(user);
            }
            builder.AddSample(CollectionsMarshal.AsSpan(stack), sample.Count, sample.Tid, sample.ThreadComm);
        }
        return builder.Build();
    }

    private ulong[] KernelLocations(ProcessProfileBuilder builder, ulong[] addresses)
    {
        var ids = new ulong[addresses.Length];
        for (var i = 0; i < addresses.Length; i++)
        {
            ids[i] = builder.Location(_symbolizer.SymbolizeKernel(CallSite(addresses, i)));
        }
        return ids;
    }

    private ulong[] UserLocations(ProcessProfileBuilder builder, int pid, ulong[] addresses)
    {
        if (_frames.Length < addresses.Length)
        {
            _frames = new SymbolizedFrame[Math.Max(addresses.Length, _frames.Length * 2)];
        }
        if (_addresses.Length < addresses.Length)
        {
            _addresses = new ulong[_frames.Length];
        }
        var callSites = _addresses.AsSpan(0, addresses.Length);
        for (var i = 0; i < addresses.Length; i++)
        {
            callSites[i] = CallSite(addresses, i);
        }
        var frames = _frames.AsSpan(0, addresses.Length);
        _symbolizer.SymbolizeUser(pid, callSites, frames);
        var ids = new ulong[addresses.Length];
        for (var i = 0; i < frames.Length; i++)
        {
            ids[i] = builder.Location(frames[i]);
        }
        return ids;
    }

    // Every frame but the leaf holds a return address, which may already belong to the next function when the
    // call was a function's last instruction (noreturn callees): look up the call instruction instead.
    private static ulong CallSite(ulong[] addresses, int index) => index == 0 ? addresses[0] : addresses[index] - 1;
}
