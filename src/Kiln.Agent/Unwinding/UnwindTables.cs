using System.Diagnostics;
using System.Globalization;
using Kiln.Agent.Bpf;
using Kiln.Agent.Interop;
using Kiln.Symbolization;
using Kiln.Symbolization.Unwinding;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Kiln.Agent.Unwinding;

/// <summary>
/// Feeds the BPF unwinder: builds each mapped binary's compact unwind table from its CFI once (keyed by file
/// identity) into a BPF array of its own, shared by every process mapping it, and writes per process the list of
/// its executable mappings with their tables and load biases. A table nobody maps any more is dropped after a grace
/// period (the binary may well run again soon). Binaries
/// without usable CFI are left out, so the BPF program walks their frames with frame pointers. Thread-safe.
/// </summary>
public sealed partial class UnwindTables : IDisposable
{
    private readonly BpfMap _tables;
    private readonly BpfMap _processes;
    private readonly string _procRoot;
    /// <summary>Processes younger than this when their entry is written are marked <see cref="UnwindProcessFlags.Young"/>.</summary>
    private static readonly TimeSpan s_youngAge = TimeSpan.FromSeconds(3);
    /// <summary>
    /// How long the table of a binary no process maps any more stays loaded, in case the binary runs again: compilers,
    /// shells' tools and test runners start and exit all day, and rebuilding libLLVM's table costs a second of CPU.
    /// </summary>
    private static readonly TimeSpan s_idleGrace = TimeSpan.FromMinutes(5);
    /// <summary>Rows of idle tables kept at most (16 bytes each: 64 MB of kernel memory); the longest idle go first.</summary>
    private const long MaxIdleRows = 4L << 20;

    private readonly Lock _gate = new();
    private readonly Dictionary<FileKey, Table> _byFile = [];
    private readonly Dictionary<int, LoadedProcess> _loaded = [];
    private readonly List<Mapping> _executable = [];
    private readonly List<int> _gone = [];
    private readonly List<(Mapping Mapping, Table Table)> _found = [];
    private UnwindProcess _entry;
    private uint[] _keys = [];
    private long _builtInBurst;
    private long _idleRows;
    private uint _nextId = 1;
    private bool _disposed;

    internal UnwindTables(BpfMap tables, BpfMap processes, ILogger logger, string procRoot = "/proc")
    {
        Logger = logger;
        _tables = tables;
        _processes = processes;
        _procRoot = procRoot;
        _processes.CheckSizes<uint, UnwindProcess>();
    }

    public UnwindCounters Counters { get; } = new();

    internal ILogger Logger { get; set; }

    /// <summary>
    /// Reads the process's memory maps (unless the caller read them moments ago: <paramref name="maps"/>) and
    /// (re)writes its entry for the BPF unwinder, building the tables of binaries seen for the first time. Cheap when
    /// nothing changed since the last call (no new mapping: no write). A process that is gone is forgotten. Returns
    /// whether the process has an entry now.
    /// </summary>
    public bool Load(int pid, Mapping[]? maps = null)
    {
        try
        {
            maps ??= ProcMaps.Read(pid, _procRoot);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Forget(pid);
            return false;
        }
        lock (_gate)
        {
            if (_disposed)
                return false;
            return LoadLocked(pid, maps);
        }
    }

    /// <summary>
    /// Drops the entries of processes not in <paramref name="live"/>, and evicts the tables nobody has used for a
    /// while (<see cref="s_idleGrace"/>, or beyond <see cref="MaxIdleRows"/>).
    /// </summary>
    public void Retain(IReadOnlySet<int> live)
    {
        lock (_gate)
        {
            foreach (var pid in _loaded.Keys)
            {
                if (!live.Contains(pid))
                    _gone.Add(pid);
            }
            foreach (var pid in _gone)
                Forget(pid);
            _gone.Clear();
            EvictIdle(Environment.TickCount64);
        }
    }

    /// <summary>
    /// Ends a burst of table builds (the agent's start, a deployment): true when more than <paramref name="threshold"/>
    /// bytes of tables were built since the last call — each build allocates its rows on the large-object heap only
    /// to copy them into the kernel, so the caller should give that memory back (<c>MemoryTrim.Collect</c>). Call when
    /// the queue of processes to load is empty.
    /// </summary>
    public bool EndBurst(long threshold = 4 << 20)
    {
        lock (_gate)
        {
            if (_builtInBurst < threshold)
                return false;
            _builtInBurst = 0;
            if (_keys.Length > 1 << 16)
                _keys = [];
            return true;
        }
    }

    /// <summary>Removes the process's entry and releases its tables.</summary>
    public void Forget(int pid)
    {
        lock (_gate)
        {
            if (_disposed || !_loaded.Remove(pid, out var process))
                return;
            _processes.Delete((uint)pid);
            Release(process.Tables);
            Counters.Processes = _loaded.Count;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _byFile.Clear();
            _loaded.Clear();
            _tables.Dispose();
            _processes.Dispose();
        }
    }

    private bool LoadLocked(int pid, Mapping[] maps)
    {
        _executable.Clear();
        foreach (var m in maps)
        {
            if (m.IsExecutable && m.IsFileBacked)
                _executable.Add(m);
        }
        var signature = Signature(_executable);
        if (_loaded.TryGetValue(pid, out var previous) && previous.Signature == signature)
            return true;

        _found.Clear();
        foreach (var m in _executable)
        {
            if (_found.Count == ProfilerAbi.MaxUnwindMappings)
            {
                Counters.MappingsOverLimit++;
                break;
            }
            var table = TableFor(pid, m);
            if (table is not null)
                _found.Add((m, table));
        }

        _entry = default;
        Span<UnwindMapping> entries = _entry.Mappings;
        var tables = new Table[_found.Count];
        for (var i = 0; i < _found.Count; i++)
        {
            var (m, table) = _found[i];
            entries[i] = new UnwindMapping
            {
                Start = m.Start,
                End = m.End,
                Bias = table.Bias(m),
                TableId = table.Id,
                Rows = (uint)table.Rows,
            };
            tables[i] = table;
            if (table.Users++ == 0 && table.IdleSince != 0)
            {
                // Idle since its last process exited, and wanted again.
                table.IdleSince = 0;
                _idleRows -= table.Rows;
            }
        }
        _entry.Count = (uint)_found.Count;
        // A process in its first seconds may still be in the dynamic loader, its libraries not mapped yet: the BPF
        // program announces it again when a walk meets a pc outside these mappings, and it is loaded again.
        if (ProcFs.ReadStartTime(pid, _procRoot) is { } start && ProcFs.ProcessAge(start, _procRoot) < s_youngAge)
            _entry.Flags = (uint)UnwindProcessFlags.Young;
        try
        {
            _processes.Update((uint)pid, _entry);
        }
        catch (KernelCallException)
        {
            // The map is full (E2BIG): this process is walked with frame pointers.
            Counters.ProcessesOverLimit++;
            Release(tables);
            if (previous is not null)
                Forget(pid);
            return false;
        }
        _loaded[pid] = new LoadedProcess(signature, tables);
        LogProcess(Logger, pid, tables.Length, _executable.Count, previous is null ? "new" : "changed");
        if (previous is not null)
            Release(previous.Tables);
        Counters.Processes = _loaded.Count;
        return true;
    }

    /// <summary>The table of the file behind <paramref name="m"/>, built on first sight; null when it has none.</summary>
    private Table? TableFor(int pid, Mapping m)
    {
        var mapFiles = $"{_procRoot}/{pid.ToString(CultureInfo.InvariantCulture)}/map_files/{m.Start:x}-{m.End:x}";
        SafeFileHandle handle;
        FileKey key;
        try
        {
            // Opened through the process's own view, so a file in another mount namespace (a container) works; the
            // identity comes from the file itself (fstat), not from the per-process link.
            handle = File.OpenHandle(mapFiles);
            key = new FileKey(m.DeviceMajor, m.DeviceMinor, m.Inode, File.GetLastWriteTimeUtc(handle).Ticks, RandomAccess.GetLength(handle));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // gone already, or not readable: this mapping is walked with frame pointers
        }
        using (handle)
        {
            if (!_byFile.TryGetValue(key, out var table))
            {
                table = Build(handle, m.Path, key);
                _byFile[key] = table;
            }
            return table.Id == 0 ? null : table;
        }
    }

    private Table Build(SafeFileHandle handle, string name, FileKey key)
    {
        var started = Stopwatch.GetTimestamp();
        UnwindTable? built;
        ElfFile elf;
        string? reason;
        try
        {
            elf = ElfFile.ReadHeaders(handle, name);
            built = UnwindTableBuilder.Build(elf, handle, out reason);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ElfFormatException)
        {
            Counters.BinariesWithoutTable++;
            LogNoTable(Logger, name, e.Message);
            return Table.None(key);
        }
        if (built is null || built.Rows.Length == 0 || built.Rows.Length > ProfilerAbi.MaxUnwindRows)
        {
            Counters.BinariesWithoutTable++;
            LogNoTable(Logger, name, reason ?? $"{built?.Rows.Length ?? 0} rows");
            return Table.None(key);
        }
        var id = _nextId++;
        var fd = CreateRowsMap(built.Rows, name);
        try
        {
            _tables.Update(id, fd);
        }
        finally
        {
            Libc.Close(fd); // the outer map holds its own reference
        }
        Counters.Tables++;
        Counters.TableRows += built.Rows.Length;
        _builtInBurst += built.SizeInBytes;
        var ticks = Stopwatch.GetTimestamp() - started;
        Counters.BuildTicks += ticks;
        LogBuilt(Logger, name, built.Rows.Length, built.FdeCount, ticks * 1000.0 / Stopwatch.Frequency);
        return new Table(key, id, built.Rows.Length, [.. elf.LoadSegments]);
    }

    private unsafe int CreateRowsMap(UnwindRow[] rows, string name)
    {
        var options = new Libbpf.MapCreateOptions { Size = (nuint)sizeof(Libbpf.MapCreateOptions), MapFlags = Libbpf.BpfFInnerMap };
        var fd = Libbpf.BpfMapCreate(Libbpf.BpfMapTypeArray, "kiln_unwind", sizeof(uint), (uint)sizeof(UnwindRow), (uint)rows.Length, &options);
        if (fd < 0)
            throw new KernelCallException($"bpf_map_create(unwind rows of {name}, {rows.Length} rows)", Libbpf.Errno(fd), null, null);
        // Keys 0, 1, 2, …: one array for all tables, grown to the largest.
        if (_keys.Length < rows.Length)
        {
            var start = _keys.Length;
            Array.Resize(ref _keys, Math.Max(rows.Length, _keys.Length * 2));
            for (var i = start; i < _keys.Length; i++)
                _keys[i] = (uint)i;
        }
        var keys = _keys;
        var batch = new Libbpf.MapBatchOptions { Size = (nuint)sizeof(Libbpf.MapBatchOptions) };
        var count = (uint)rows.Length;
        int result;
        fixed (uint* k = keys)
        fixed (UnwindRow* v = rows)
        {
            result = Libbpf.BpfMapUpdateBatch(fd, k, v, &count, &batch);
        }
        if (result != 0)
        {
            var errno = Libbpf.Errno(result);
            Libc.Close(fd);
            throw new KernelCallException($"bpf_map_update_batch(unwind rows of {name}, {rows.Length} rows)", errno, null, null);
        }
        return fd;
    }

    // A table whose last user went away stays loaded, idle, until EvictIdle.
    private void Release(Table[] tables)
    {
        foreach (var table in tables)
        {
            if (--table.Users > 0)
                continue;
            table.IdleSince = Math.Max(1, Environment.TickCount64);
            _idleRows += table.Rows;
        }
    }

    private void EvictIdle(long now)
    {
        List<Table>? idle = null;
        foreach (var table in _byFile.Values)
        {
            if (table.Users == 0 && table.IdleSince != 0)
                (idle ??= []).Add(table);
        }
        if (idle is null)
            return;
        idle.Sort(static (a, b) => a.IdleSince.CompareTo(b.IdleSince));
        foreach (var table in idle)
        {
            if (now - table.IdleSince < (long)s_idleGrace.TotalMilliseconds && _idleRows <= MaxIdleRows)
                break;
            _byFile.Remove(table.Key);
            _tables.Delete(table.Id);
            _idleRows -= table.Rows;
            Counters.Tables--;
            Counters.TableRows -= table.Rows;
            Counters.TablesEvicted++;
        }
    }

    private static ulong Signature(List<Mapping> mappings)
    {
        var hash = new HashCode();
        foreach (var m in mappings)
        {
            hash.Add(m.Start);
            hash.Add(m.Inode);
            hash.Add(m.Offset);
        }
        return (ulong)(uint)hash.ToHashCode() | ((ulong)(uint)mappings.Count << 32);
    }

    [LoggerMessage(1, LogLevel.Debug, "Unwind table of {Binary}: {Rows} rows from {Fdes} FDEs in {Milliseconds:F1} ms")]
    private static partial void LogBuilt(ILogger logger, string binary, int rows, int fdes, double milliseconds);

    [LoggerMessage(2, LogLevel.Debug, "No unwind table for {Binary} (walked with frame pointers): {Reason}")]
    private static partial void LogNoTable(ILogger logger, string binary, string reason);

    [LoggerMessage(3, LogLevel.Debug, "Unwind entry of pid {Pid}: {Tables} of {Mappings} executable mappings have tables ({Why})")]
    private static partial void LogProcess(ILogger logger, int pid, int tables, int mappings, string why);

    private readonly record struct FileKey(uint Major, uint Minor, ulong Inode, long MTimeTicks, long Size);

    private sealed record LoadedProcess(ulong Signature, Table[] Tables);

    private sealed class Table(FileKey key, uint id, int rows, ElfSegment[] segments)
    {
        public static Table None(FileKey key) => new(key, 0, 0, []);

        public FileKey Key { get; } = key;

        /// <summary>Key in unwind_tables; 0 for a binary without a table.</summary>
        public uint Id { get; } = id;

        public int Rows { get; } = rows;

        public int Users { get; set; }

        /// <summary>Environment.TickCount64 when its last user went away; 0 while in use (or never used).</summary>
        public long IdleSince { get; set; }

        /// <summary>pc − bias = the ELF address: the mapping at Start maps file offset Offset, which the segment containing
        /// it loads at VirtualAddress + (Offset − segment offset).</summary>
        public ulong Bias(Mapping m)
        {
            foreach (var s in segments)
            {
                if (m.Offset >= s.Offset && m.Offset < s.Offset + Math.Max(s.FileSize, 1))
                    return m.Start - (s.VirtualAddress + (m.Offset - s.Offset));
            }
            return m.Start - m.Offset; // no segment holds the offset: assume addresses equal file offsets
        }
    }
}

/// <summary>Running totals of <see cref="UnwindTables"/> for the agent's metrics.</summary>
public sealed class UnwindCounters
{
    /// <summary>Binaries with a table in the kernel now.</summary>
    public long Tables { get; internal set; }

    /// <summary>Rows of those tables (16 bytes each, kernel memory).</summary>
    public long TableRows { get; internal set; }

    public long TablesEvicted { get; internal set; }

    /// <summary>Binaries whose table could not be built (no CFI, malformed, unreadable): walked with frame pointers.</summary>
    public long BinariesWithoutTable { get; internal set; }

    /// <summary>Processes with an entry now.</summary>
    public long Processes { get; internal set; }

    public long ProcessesOverLimit { get; internal set; }

    public long MappingsOverLimit { get; internal set; }

    /// <summary>Stopwatch ticks spent building tables.</summary>
    public long BuildTicks { get; internal set; }
}
