using Kiln.Agent.Sampling;
using Kiln.Agent.Shipping;
using Kiln.Agent.Unwinding;
using Kiln.Symbolization;
using Prometheus;

namespace Kiln.Agent.Hosting;

/// <summary>
/// The agent's Prometheus metrics (on its /metrics, and in <c>kiln up</c> also on the server's). Counters kept by
/// the sampler, symbolizer and shipper are copied in just before each scrape; the process's own CPU and memory
/// come from prometheus-net's process_* metrics.
/// </summary>
internal static class AgentMetrics
{
    public static readonly Counter Samples = Metrics.CreateCounter(
        "kiln_agent_samples_total", "CPU samples of non-idle tasks taken by the BPF program.");

    public static readonly Counter LostSamples = Metrics.CreateCounter(
        "kiln_agent_lost_samples_total",
        "Samples lost or stripped of a stack, by reason (counts_map_full, user_stack_collision, kernel_stack_collision, user_stack_error, kernel_stack_error, stack_missing).",
        "reason");

    public static readonly Counter ProcessesPrepared = Metrics.CreateCounter(
        "kiln_agent_processes_prepared_total", "Processes whose maps and labels were read at their first sample (or after an exec).");

    public static readonly Counter ProcessNoticesDropped = Metrics.CreateCounter(
        "kiln_agent_process_notices_dropped_total",
        "New processes the kernel could not announce early (queue full); they are read when their window is drained.");

    public static readonly Counter Windows = Metrics.CreateCounter(
        "kiln_agent_windows_total", "Profiling windows drained from the kernel and turned into profiles.");

    public static readonly Counter WindowsDropped = Metrics.CreateCounter(
        "kiln_agent_windows_dropped_total", "Windows discarded because symbolizing and encoding fell behind the sampler.");

    public static readonly Counter ProfilesBuilt = Metrics.CreateCounter(
        "kiln_agent_profiles_built_total", "Per-process profiles built (before shipping).");

    public static readonly Counter ProfilesDropped = Metrics.CreateCounter(
        "kiln_agent_profiles_dropped_total", "Per-process profiles not shipped, by reason (relabeling).", "reason");

    public static readonly Counter ProfilesSent = Metrics.CreateCounter(
        "kiln_agent_profiles_sent_total", "Profiles the server acknowledged.");

    public static readonly Counter BytesSent = Metrics.CreateCounter(
        "kiln_agent_bytes_sent_total", "Bytes of WriteRaw requests the server acknowledged.");

    public static readonly Counter SendErrors = Metrics.CreateCounter(
        "kiln_agent_send_errors_total", "Failed WriteRaw attempts (retried).");

    public static readonly Counter ProfilesRefused = Metrics.CreateCounter(
        "kiln_agent_profiles_refused_total", "Profiles the server refused as invalid (not retried).");

    public static readonly Counter WindowsOverflowed = Metrics.CreateCounter(
        "kiln_agent_buffer_overflow_windows_total", "Windows dropped because the send buffer was full while the server was unreachable.");

    public static readonly Gauge BufferFill = Metrics.CreateGauge(
        "kiln_agent_buffer_windows", "Windows waiting to be sent.");

    public static readonly Gauge BufferCapacity = Metrics.CreateGauge(
        "kiln_agent_buffer_capacity_windows", "Windows the send buffer holds (--buffer-size).");

    public static readonly Counter SymbolizedAddresses = Metrics.CreateCounter(
        "kiln_agent_symbolized_addresses_total", "Addresses looked up, by kind (user, kernel).", "kind");

    public static readonly Counter SymbolizationMisses = Metrics.CreateCounter(
        "kiln_agent_symbolization_misses_total",
        "Addresses left unnamed (kept as address + mapping), by reason (elf, perf_map, unmapped, other, kernel).",
        "reason");

    public static readonly Gauge SymbolizerCachedFiles = Metrics.CreateGauge(
        "kiln_agent_symbolizer_cached_files", "Parsed binaries held by the symbolizer cache.");

    public static readonly Gauge SymbolizerCachedProcesses = Metrics.CreateGauge(
        "kiln_agent_symbolizer_cached_processes", "Processes whose mappings the symbolizer holds.");

    public static readonly Histogram WindowProcessing = Metrics.CreateHistogram(
        "kiln_agent_window_processing_seconds", "Time to symbolize, label and encode one window.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 14) });

    public static readonly Counter UserStacks = Metrics.CreateCounter(
        "kiln_agent_user_stacks_total",
        "User stacks walked by the BPF unwinder, by outcome (complete: reached the thread's root; truncated: 127 frames; " +
        "partial: ended early, e.g. at a frame without unwind info or frame pointer).", "outcome");

    public static readonly Counter UnwoundFrames = Metrics.CreateCounter(
        "kiln_agent_unwound_frames_total",
        "User frames stepped by the BPF unwinder, by method (table: .eh_frame rows; frame_pointer: no row covers the pc; " +
        "unsupported: CFI the unwinder cannot follow, stepped with frame pointers).", "method");

    public static readonly Counter UnwindReadFailures = Metrics.CreateCounter(
        "kiln_agent_unwind_read_failures_total", "User stack walks ended because user memory could not be read.");

    public static readonly Gauge UnwindTables = Metrics.CreateGauge(
        "kiln_agent_unwind_tables", "Binaries whose unwind table is loaded in the kernel (shared by all processes mapping them).");

    public static readonly Gauge UnwindTableBytes = Metrics.CreateGauge(
        "kiln_agent_unwind_table_bytes", "Kernel memory of the loaded unwind tables' rows (16 bytes per row).");

    public static readonly Gauge UnwindProcesses = Metrics.CreateGauge(
        "kiln_agent_unwind_processes", "Processes whose mappings the BPF unwinder knows.");

    public static readonly Counter UnwindBinariesWithoutTable = Metrics.CreateCounter(
        "kiln_agent_unwind_binaries_without_table_total",
        "Binaries whose unwind table could not be built (no .eh_frame/.debug_frame, malformed CFI): walked with frame pointers.");

    public static readonly Counter UnwindTablesEvicted = Metrics.CreateCounter(
        "kiln_agent_unwind_tables_evicted_total", "Unwind tables dropped because no process maps their binary any more.");

    public static readonly Counter UnwindTableBuildSeconds = Metrics.CreateCounter(
        "kiln_agent_unwind_table_build_seconds_total", "Time spent building unwind tables from CFI.");

    public static void AddWindow(in SamplingCounters c)
    {
        Windows.Inc();
        Samples.Inc(c.Samples);
        LostSamples.WithLabels("counts_map_full").Inc(c.CountsDropped);
        LostSamples.WithLabels("user_stack_collision").Inc(c.UserStackCollisions);
        LostSamples.WithLabels("kernel_stack_collision").Inc(c.KernelStackCollisions);
        LostSamples.WithLabels("user_stack_error").Inc(c.UserStackErrors);
        LostSamples.WithLabels("kernel_stack_error").Inc(c.KernelStackErrors);
        LostSamples.WithLabels("stack_missing").Inc(c.StacksMissing);
        ProcessNoticesDropped.Inc(c.NewProcessNoticesDropped);
        var walked = c.Samples - c.UserStacksEmpty - c.CountsDropped;
        UserStacks.WithLabels("complete").Inc(c.UserStacksComplete);
        UserStacks.WithLabels("truncated").Inc(c.UserStacksTruncated);
        UserStacks.WithLabels("partial").Inc(Math.Max(0, walked - c.UserStacksComplete - c.UserStacksTruncated));
        UnwoundFrames.WithLabels("table").Inc(c.TableFrames);
        UnwoundFrames.WithLabels("frame_pointer").Inc(c.FramePointerFrames);
        UnwoundFrames.WithLabels("unsupported").Inc(c.UnsupportedRows);
        UnwindReadFailures.Inc(c.UnwindReadFailures);
    }

    /// <summary>Copies the unwind tables' state into the exported metrics.</summary>
    public static void Snapshot(UnwindCounters u)
    {
        UnwindTables.Set(u.Tables);
        UnwindTableBytes.Set(u.TableRows * 16);
        UnwindProcesses.Set(u.Processes);
        UnwindBinariesWithoutTable.IncTo(u.BinariesWithoutTable);
        UnwindTablesEvicted.IncTo(u.TablesEvicted);
        UnwindTableBuildSeconds.IncTo((double)u.BuildTicks / System.Diagnostics.Stopwatch.Frequency);
    }

    /// <summary>Copies the running totals of the shipper and symbolizer into the exported metrics.</summary>
    public static void Snapshot(ShipperCounters shipper, int bufferFill, int bufferCapacity, SymbolizerCounters symbols, long windowsDropped)
    {
        ProfilesSent.IncTo(shipper.ProfilesSent);
        BytesSent.IncTo(shipper.BytesSent);
        SendErrors.IncTo(shipper.SendErrors);
        ProfilesRefused.IncTo(shipper.ProfilesRefused);
        WindowsOverflowed.IncTo(shipper.WindowsDropped);
        BufferFill.Set(bufferFill);
        BufferCapacity.Set(bufferCapacity);
        WindowsDropped.IncTo(windowsDropped);
        SymbolizedAddresses.WithLabels("user").IncTo(symbols.UserAddresses);
        SymbolizedAddresses.WithLabels("kernel").IncTo(symbols.KernelHits + symbols.KernelMisses);
        SymbolizationMisses.WithLabels("elf").IncTo(symbols.ElfMisses);
        SymbolizationMisses.WithLabels("perf_map").IncTo(symbols.PerfMapMisses);
        SymbolizationMisses.WithLabels("unmapped").IncTo(symbols.Unmapped);
        SymbolizationMisses.WithLabels("other").IncTo(symbols.UnresolvedOther);
        SymbolizationMisses.WithLabels("kernel").IncTo(symbols.KernelMisses);
        SymbolizerCachedFiles.Set(symbols.CachedFiles);
        SymbolizerCachedProcesses.Set(symbols.CachedProcesses);
    }
}
