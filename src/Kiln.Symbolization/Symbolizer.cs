using System.Globalization;

namespace Kiln.Symbolization;

/// <summary>Settings of a <see cref="Symbolizer"/>.</summary>
public sealed class SymbolizerOptions
{
    /// <summary>Where procfs is mounted.</summary>
    public string ProcRoot { get; init; } = "/proc";

    public string KallsymsPath { get; init; } = "/proc/kallsyms";

    /// <summary>How long a process's cached maps and a file's parsed symbols survive without use; a process
    /// that exited mid-window is still symbolized from its cache within this time.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>A process's maps are re-read (new libraries, pid reuse) when older than this and an address misses.</summary>
    public TimeSpan MapsMaxAge { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound on cached processes; the least recently used are dropped beyond it.</summary>
    public int MaxProcesses { get; init; } = 4096;
}

/// <summary>
/// Resolves user addresses of any process (through /proc/PID/maps, the mapped ELF files and JIT perf maps)
/// and kernel addresses (through /proc/kallsyms). Parsed files are cached by identity (device+inode+mtime+size,
/// deduplicated by GNU build ID), so cost grows with distinct binaries, not with processes. Steady-state
/// lookups allocate nothing. Thread-safe: calls are serialized, so that <see cref="Prepare"/> can run on a watcher
/// thread while another thread symbolizes.
/// </summary>
public sealed class Symbolizer
{
    private readonly SymbolizerOptions _options;
    private readonly Dictionary<int, ProcessEntry> _processes = [];
    private readonly Dictionary<FileKey, CachedObject> _files = [];
    private readonly Dictionary<string, CachedObject> _byBuildId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MappingInfo> _kernelMappings = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, ProcessSnapshot> _prepared = new();
    private Kallsyms? _kallsyms;

    public Symbolizer(SymbolizerOptions? options = null) => _options = options ?? new SymbolizerOptions();

    public SymbolizerCounters Counters { get; } = new();

    /// <summary>The kernel symbol table in use (loaded on first kernel lookup).</summary>
    public Kallsyms Kallsyms
    {
        get
        {
            lock (_gate)
                return _kallsyms ??= LoadKallsyms();
        }
    }

    /// <summary>
    /// Symbolizes <paramref name="addresses"/> of process <paramref name="pid"/> into <paramref name="frames"/>
    /// (same length). Never throws for a vanished process: what cannot be resolved comes back as
    /// <see cref="FrameSource.Unmapped"/> or <see cref="FrameSource.Unresolved"/> with its mapping.
    /// </summary>
    public void SymbolizeUser(int pid, ReadOnlySpan<ulong> addresses, Span<SymbolizedFrame> frames)
    {
        if (frames.Length < addresses.Length)
            throw new ArgumentException($"frames has {frames.Length} slots for {addresses.Length} addresses", nameof(frames));
        lock (_gate)
            SymbolizeUserLocked(pid, addresses, frames);
    }

    /// <summary>
    /// Takes a snapshot of a running process — its memory maps and an open handle on each executable file it maps —
    /// so that its addresses can still be named if it exits before they are symbolized (within
    /// <see cref="SymbolizerOptions.Retention"/>). Cheap (no ELF parsing) and does not wait for a symbolization in
    /// progress. Call it when a process is first seen and after it exec'd. Returns the maps it read (shared: do not
    /// modify them), or null when the process is gone.
    /// </summary>
    public Mapping[]? Prepare(int pid)
    {
        Mapping[] maps;
        try
        {
            maps = ProcMaps.Read(pid, _options.ProcRoot);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // already gone
        }
        var start = ProcFs.ReadStartTime(pid, _options.ProcRoot);
        var handles = new Microsoft.Win32.SafeHandles.SafeFileHandle?[maps.Length];
        if (_prepared.Count < _options.MaxProcesses)
        {
            for (var i = 0; i < maps.Length; i++)
            {
                if (maps[i].IsFileBacked && maps[i].IsExecutable)
                    handles[i] = TryOpenMapped(pid, maps[i]);
            }
        }
        var snapshot = new ProcessSnapshot(maps, start, handles, Environment.TickCount64);
        _prepared.AddOrUpdate(pid, snapshot, (_, old) =>
        {
            old.Dispose();
            return snapshot;
        });
        return maps;
    }

    /// <summary>
    /// The process's memory maps as this symbolizer last read them from the running process, if that was at most
    /// <paramref name="maxAge"/> ago; otherwise null. Lets another reader of <c>/proc/PID/maps</c> (the unwind tables)
    /// use a read made moments ago by a symbolization instead of asking the kernel to format them again. The array is
    /// shared: do not modify it.
    /// </summary>
    public Mapping[]? RecentMaps(int pid, TimeSpan maxAge)
    {
        lock (_gate)
        {
            return _processes.TryGetValue(pid, out var entry) && entry.LiveMapsReadAt != 0
                && Environment.TickCount64 - entry.LiveMapsReadAt <= (long)maxAge.TotalMilliseconds
                ? entry.Mappings
                : null;
        }
    }

    private void SymbolizeUserLocked(int pid, ReadOnlySpan<ulong> addresses, Span<SymbolizedFrame> frames)
    {
        var now = Environment.TickCount64;
        var entry = GetProcess(pid, now);
        var mapsRefreshed = false;
        var perfMapRefreshed = false;
        for (var i = 0; i < addresses.Length; i++)
        {
            var address = addresses[i];
            Counters.UserAddressesField++;
            var idx = entry.Mappings.Length == 0 ? -1 : ProcMaps.Find(entry.Mappings, address);
            if (idx < 0 && !mapsRefreshed && now - entry.MapsReadAt >= 100)
            {
                // A library loaded or JIT memory reserved since we read the maps.
                mapsRefreshed = true;
                RefreshMaps(entry, now);
                idx = ProcMaps.Find(entry.Mappings, address);
            }
            if (idx < 0)
            {
                Counters.UnmappedField++;
                frames[i] = new SymbolizedFrame(address, address, null, null, null, FrameSource.Unmapped);
                continue;
            }
            frames[i] = Resolve(entry, idx, address, ref perfMapRefreshed);
        }
    }

    /// <summary>Symbolizes one kernel address from /proc/kallsyms.</summary>
    public SymbolizedFrame SymbolizeKernel(ulong address)
    {
        lock (_gate)
            return SymbolizeKernelLocked(address);
    }

    private SymbolizedFrame SymbolizeKernelLocked(ulong address)
    {
        var ks = _kallsyms ??= LoadKallsyms();
        if (ks.TryFind(address, out var index))
        {
            Counters.KernelHitsField++;
            var module = ks.ModuleAt(index) ?? "[kernel.kallsyms]";
            if (!_kernelMappings.TryGetValue(module, out var mapping))
                _kernelMappings[module] = mapping = new MappingInfo(0, 0, 0, module, null);
            var name = ks.NameAt(index);
            return new SymbolizedFrame(address, address, name, name, mapping, FrameSource.Kernel);
        }
        Counters.KernelMissesField++;
        return new SymbolizedFrame(address, address, null, null, null, FrameSource.Unmapped);
    }

    /// <summary>Re-reads /proc/kallsyms (after modules were loaded or unloaded).</summary>
    public void ReloadKallsyms()
    {
        var loaded = LoadKallsyms();
        lock (_gate)
            _kallsyms = loaded;
    }

    /// <summary>Drops processes and files unused for longer than <see cref="SymbolizerOptions.Retention"/>;
    /// call once per profiling window.</summary>
    public void Trim()
    {
        lock (_gate)
            TrimLocked();
    }

    private void TrimLocked()
    {
        var now = Environment.TickCount64;
        var retention = (long)_options.Retention.TotalMilliseconds;
        List<int>? deadPids = null;
        foreach (var (pid, entry) in _processes)
            if (now - entry.LastUsed > retention) (deadPids ??= []).Add(pid);
        if (deadPids != null)
        {
            foreach (var pid in deadPids)
            {
                _processes[pid].Close();
                _processes.Remove(pid);
            }
        }
        foreach (var (pid, snapshot) in _prepared)
        {
            if (now - snapshot.TakenAt > retention && _prepared.TryRemove(new KeyValuePair<int, ProcessSnapshot>(pid, snapshot)))
                snapshot.Dispose();
        }

        List<FileKey>? deadFiles = null;
        foreach (var (key, obj) in _files)
            if (now - obj.LastUsed > retention) (deadFiles ??= []).Add(key);
        if (deadFiles != null)
        {
            foreach (var key in deadFiles)
            {
                var obj = _files[key];
                _files.Remove(key);
                if (obj.Elf?.BuildId is { } id && _byBuildId.TryGetValue(id, out var same) && ReferenceEquals(same, obj))
                    _byBuildId.Remove(id);
            }
        }
        Counters.CachedProcesses = _processes.Count;
        Counters.CachedFiles = _files.Count;
    }

    /// <summary>Forgets a process now (e.g. after its pid was seen reused).</summary>
    public void Forget(int pid)
    {
        lock (_gate)
        {
            if (_processes.Remove(pid, out var entry))
                entry.Close();
        }
    }

    private SymbolizedFrame Resolve(ProcessEntry entry, int idx, ulong address, ref bool perfMapRefreshed)
    {
        var m = entry.Mappings[idx];
        var info = entry.Infos[idx] ??= CreateInfo(entry, idx);
        var relative = address - m.Start + m.Offset;

        if (m.IsDoubleMapper || (m.IsExecutable && (m.IsAnonymous || m.Path.StartsWith("/memfd:", StringComparison.Ordinal))))
        {
            var pm = entry.PerfMap ??= new PerfMap(PerfMapPath(entry.Pid));
            if (!pm.TryFind(address, out var pi) && !perfMapRefreshed)
            {
                perfMapRefreshed = true;
                pm.Refresh();
                pm.TryFind(address, out pi);
            }
            if (pi >= 0)
            {
                Counters.PerfMapHitsField++;
                var name = pm.NameAt(pi);
                return new SymbolizedFrame(address, relative, name, name, info, FrameSource.PerfMap);
            }
            Counters.PerfMapMissesField++;
            return new SymbolizedFrame(address, relative, null, null, info, FrameSource.Unresolved);
        }

        if (m.IsFileBacked && m.IsExecutable)
        {
            var obj = entry.Objects[idx] ??= OpenObject(entry, m);
            obj.LastUsed = entry.LastUsed;
            if (obj.Elf is { } elf && elf.TryRuntimeToVirtualAddress(address, m.Start, m.Offset, out var vaddr))
            {
                if (elf.Symbols.TryFind(vaddr, out var si))
                {
                    Counters.ElfHitsField++;
                    return new SymbolizedFrame(address, vaddr, elf.Symbols.DemangledNameAt(si), elf.Symbols.NameAt(si), info, FrameSource.Elf);
                }
                Counters.ElfMissesField++;
                return new SymbolizedFrame(address, vaddr, null, null, info, FrameSource.Unresolved);
            }
            Counters.ElfMissesField++;
            return new SymbolizedFrame(address, relative, null, null, info, FrameSource.Unresolved);
        }

        Counters.UnresolvedOtherField++;
        return new SymbolizedFrame(address, relative, null, null, info, FrameSource.Unresolved);
    }

    private MappingInfo CreateInfo(ProcessEntry entry, int idx)
    {
        var m = entry.Mappings[idx];
        string? buildId = null;
        if (m.IsFileBacked && m.IsExecutable)
            buildId = (entry.Objects[idx] ??= OpenObject(entry, m)).Elf?.BuildId;
        return new MappingInfo(m.Start, m.End, m.Offset, m.IsAnonymous ? "[anon]" : m.FilePath, buildId);
    }

    private ProcessEntry GetProcess(int pid, long now)
    {
        var isNew = !_processes.TryGetValue(pid, out var entry);
        if (isNew)
        {
            if (_processes.Count >= _options.MaxProcesses) EvictOldestProcess();
            entry = new ProcessEntry(pid);
            _processes[pid] = entry;
            Counters.CachedProcesses = _processes.Count;
        }
        if (_prepared.TryRemove(pid, out var snapshot))
        {
            // Alive: its current maps are better than the snapshot. Gone: the snapshot is all there is.
            if (RefreshMaps(entry!, now))
                snapshot.Dispose();
            else
                ApplySnapshot(entry!, snapshot, now);
        }
        else if (isNew || now - entry!.MapsReadAt > (long)_options.MapsMaxAge.TotalMilliseconds)
        {
            RefreshMaps(entry!, now);
        }
        entry!.LastUsed = now;
        return entry;
    }

    private void ApplySnapshot(ProcessEntry entry, ProcessSnapshot snapshot, long now)
    {
        Counters.SnapshotsUsedField++;
        entry.ReleaseHandles();
        SetMappings(entry, snapshot.Maps, snapshot.StartTime);
        entry.MapsReadAt = now;
        entry.Handles = snapshot.Handles;
    }

    private Microsoft.Win32.SafeHandles.SafeFileHandle? TryOpenMapped(int pid, Mapping m)
    {
        foreach (var path in CandidatePaths(pid.ToString(CultureInfo.InvariantCulture), m))
        {
            try
            {
                return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return null;
    }

    private List<string> CandidatePaths(string pidText, Mapping m)
    {
        // map_files works for deleted files and across mount namespaces (needs CAP_SYS_ADMIN); the root path
        // works for containerized processes without it.
        var candidates = new List<string>(2) { $"{_options.ProcRoot}/{pidText}/map_files/{m.Start:x}-{m.End:x}" };
        if (!m.IsDeleted) candidates.Add($"{_options.ProcRoot}/{pidText}/root{m.FilePath}");
        return candidates;
    }

    private void EvictOldestProcess()
    {
        var oldest = -1;
        var oldestUse = long.MaxValue;
        foreach (var (pid, e) in _processes)
            if (e.LastUsed < oldestUse) (oldest, oldestUse) = (pid, e.LastUsed);
        if (oldest >= 0 && _processes.Remove(oldest, out var entry))
            entry.Close();
    }

    // Re-reads the maps; an exited process keeps what was read before. A different start time means the
    // pid was reused, and everything cached for the old process is dropped.
    /// <summary>Re-reads the process's maps; false (keeping what it had) when they cannot be read.</summary>
    private bool RefreshMaps(ProcessEntry entry, long now)
    {
        entry.MapsReadAt = now;
        Mapping[] maps;
        try
        {
            maps = ProcMaps.Read(entry.Pid, _options.ProcRoot);
            Counters.MapsReadsField++;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        entry.ReleaseHandles(); // alive: its files are opened through /proc when needed
        SetMappings(entry, maps, ProcFs.ReadStartTime(entry.Pid, _options.ProcRoot));
        entry.LiveMapsReadAt = now;
        return true;
    }

    private static void SetMappings(ProcessEntry entry, Mapping[] maps, ulong? start)
    {
        if (start != null && entry.StartTime != null && start != entry.StartTime)
        {
            entry.PerfMap?.Dispose();
            entry.PerfMap = null;
        }
        entry.StartTime = start ?? entry.StartTime;

        // Keep resolved objects and infos of mappings that did not change.
        var objects = new CachedObject?[maps.Length];
        var infos = new MappingInfo?[maps.Length];
        for (var i = 0; i < maps.Length; i++)
        {
            var old = entry.Mappings.Length == 0 ? -1 : ProcMaps.Find(entry.Mappings, maps[i].Start);
            if (old >= 0 && entry.Mappings[old] == maps[i])
            {
                objects[i] = entry.Objects[old];
                infos[i] = entry.Infos[old];
            }
        }
        entry.Mappings = maps;
        entry.Objects = objects;
        entry.Infos = infos;
    }

    private CachedObject OpenObject(ProcessEntry entry, Mapping m)
    {
        // A handle from the process's snapshot (it has exited) comes first, then the paths through /proc.
        var snapshotHandle = entry.TakeHandle(m);
        var candidates = CandidatePaths(entry.Pid.ToString(CultureInfo.InvariantCulture), m);
        for (var c = snapshotHandle is null ? 0 : -1; c < candidates.Count; c++)
        {
            Microsoft.Win32.SafeHandles.SafeFileHandle handle;
            if (c < 0)
            {
                handle = snapshotHandle!;
            }
            else
            {
                try
                {
                    handle = File.OpenHandle(candidates[c], FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    continue;
                }
            }
            using (handle)
            {
                try
                {
                    var key = new FileKey(m.DeviceMajor, m.DeviceMinor, m.Inode, File.GetLastWriteTimeUtc(handle).Ticks, RandomAccess.GetLength(handle));
                    if (_files.TryGetValue(key, out var cached))
                        return cached;
                    var elf = ElfFile.Read(handle, m.FilePath);
                    CachedObject obj;
                    if (elf.BuildId != null && _byBuildId.TryGetValue(elf.BuildId, out var same))
                    {
                        obj = same;
                    }
                    else
                    {
                        obj = new CachedObject(elf);
                        if (elf.BuildId != null) _byBuildId[elf.BuildId] = obj;
                    }
                    _files[key] = obj;
                    Counters.CachedFiles = _files.Count;
                    return obj;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ElfFormatException)
                {
                    continue;
                }
            }
        }
        Counters.ObjectOpenFailuresField++;
        return CachedObject.Failed;
    }

    private string PerfMapPath(int pid)
    {
        var ns = ProcFs.ReadNamespacePid(pid, _options.ProcRoot);
        return $"{_options.ProcRoot}/{pid.ToString(CultureInfo.InvariantCulture)}/root/tmp/perf-{ns.ToString(CultureInfo.InvariantCulture)}.map";
    }

    private Kallsyms LoadKallsyms()
    {
        try
        {
            return Kallsyms.Load(_options.KallsymsPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Kallsyms.Parse(new StringReader(""));
        }
    }

    private sealed class ProcessSnapshot(Mapping[] maps, ulong? startTime, Microsoft.Win32.SafeHandles.SafeFileHandle?[] handles, long takenAt) : IDisposable
    {
        public Mapping[] Maps { get; } = maps;

        public ulong? StartTime { get; } = startTime;

        public Microsoft.Win32.SafeHandles.SafeFileHandle?[] Handles { get; } = handles;

        public long TakenAt { get; } = takenAt;

        public void Dispose()
        {
            foreach (var h in Handles) h?.Dispose();
        }
    }

    private readonly record struct FileKey(uint Major, uint Minor, ulong Inode, long MTimeTicks, long Size);

    private sealed class CachedObject(ElfFile? elf)
    {
        public static CachedObject Failed { get; } = new(null);

        public ElfFile? Elf { get; } = elf;

        public long LastUsed { get; set; } = Environment.TickCount64;
    }

    private sealed class ProcessEntry(int pid)
    {
        public int Pid { get; } = pid;

        public Mapping[] Mappings { get; set; } = [];

        // When Mappings were last read from the running process (0: never, or only from its snapshot).
        public long LiveMapsReadAt { get; set; }

        // Parallel to Mappings; filled lazily on the first address that hits each mapping.
        public CachedObject?[] Objects { get; set; } = [];

        public MappingInfo?[] Infos { get; set; } = [];

        public PerfMap? PerfMap { get; set; }

        // Parallel to Mappings while the process is known only from its snapshot (it exited): its open files.
        public Microsoft.Win32.SafeHandles.SafeFileHandle?[]? Handles { get; set; }

        public ulong? StartTime { get; set; }

        public Microsoft.Win32.SafeHandles.SafeFileHandle? TakeHandle(Mapping m)
        {
            if (Handles is null) return null;
            var i = ProcMaps.Find(Mappings, m.Start);
            if (i < 0 || i >= Handles.Length) return null;
            var handle = Handles[i];
            Handles[i] = null;
            return handle;
        }

        public void ReleaseHandles()
        {
            if (Handles is null) return;
            foreach (var h in Handles) h?.Dispose();
            Handles = null;
        }

        /// <summary>Closes every file held for the process (when it is forgotten).</summary>
        public void Close()
        {
            ReleaseHandles();
            PerfMap?.Dispose();
            PerfMap = null;
        }

        public long MapsReadAt { get; set; }

        public long LastUsed { get; set; }
    }
}
