using System.Runtime.CompilerServices;
using Kiln.Agent.Bpf;
using Kiln.Agent.Sampling;

namespace Kiln.Agent.Tests;

public class BpfObjectSpecTests
{
    private static string ObjectPath => new SamplerOptions().ResolvedObjectPath;

    [Fact]
    public void Committed_object_ships_beside_the_assembly()
    {
        Assert.True(File.Exists(ObjectPath), ObjectPath);
    }

    [Fact]
    public void Committed_object_has_the_perf_event_program()
    {
        var spec = BpfObjectSpec.Read(ObjectPath);
        var program = Assert.Single(spec.Programs);
        Assert.Equal(new BpfProgramSpec(ProfilerAbi.Program, "perf_event"), program);
    }

    [Fact]
    public void Committed_object_has_the_maps_the_agent_expects()
    {
        var maps = BpfObjectSpec.Read(ObjectPath).Maps.ToDictionary(m => m.Name);
        Assert.Equal(
            ["active_buffer", "counters", "counts_0", "counts_1", "known_processes", "process_events", "stacks_0", "stacks_1",
             "unwind_processes", "unwind_scratch", "unwind_tables", "user_stacks_0", "user_stacks_1"],
            maps.Keys.Order());
        foreach (var buffer in new[] { 0, 1 })
        {
            var counts = maps[ProfilerAbi.Counts(buffer)];
            Assert.Equal(BpfMapType.Hash, counts.Type);
            Assert.Equal(32u, counts.KeySize);
            Assert.Equal(8u, counts.ValueSize);
            var stacks = maps[ProfilerAbi.Stacks(buffer)];
            Assert.Equal(BpfMapType.StackTrace, stacks.Type);
            Assert.Equal(4u, stacks.KeySize);
            Assert.Equal(127u * 8, stacks.ValueSize);
            var userStacks = maps[ProfilerAbi.UserStacks(buffer)];
            Assert.Equal(new BpfMapSpec(ProfilerAbi.UserStacks(buffer), BpfMapType.Hash, 4, (uint)Unsafe.SizeOf<UserStack>(), 16384), userStacks);
        }
        Assert.Equal(1032, Unsafe.SizeOf<UserStack>());
        Assert.Equal(32, Unsafe.SizeOf<UnwindMapping>());
        Assert.Equal(8 + (32 * ProfilerAbi.MaxUnwindMappings), Unsafe.SizeOf<UnwindProcess>());
        Assert.Equal(new BpfMapSpec("unwind_processes", BpfMapType.Hash, 4, (uint)Unsafe.SizeOf<UnwindProcess>(), 8192), maps["unwind_processes"]);
        // Outer map of per-binary row arrays: the value is an inner map's fd.
        Assert.Equal(new BpfMapSpec("unwind_tables", BpfMapType.HashOfMaps, 4, 4, 4096), maps["unwind_tables"]);
        Assert.Equal(new BpfMapSpec("counters", BpfMapType.PerCpuArray, 4, 8, (uint)CounterIndex.Count), maps["counters"]);
        Assert.Equal(new BpfMapSpec("active_buffer", BpfMapType.Array, 4, 4, 1), maps["active_buffer"]);
        Assert.Equal(new BpfMapSpec("known_processes", BpfMapType.LruHash, 4, 8, 16384), maps["known_processes"]);
        Assert.Equal(new BpfMapSpec("process_events", BpfMapType.RingBuf, 0, 0, 64 * 1024), maps["process_events"]);
    }

    [Fact]
    public void Missing_object_names_the_path_and_the_build_script()
    {
        var e = Assert.Throws<FileNotFoundException>(() => BpfObjectSpec.Read("/nonexistent/profiler.bpf.o"));
        Assert.Contains("/nonexistent/profiler.bpf.o", e.Message);
        Assert.Contains("src/Kiln.Agent/Bpf/build.sh", e.Message);
    }

    [Fact]
    public void Non_BPF_file_is_a_libbpf_error_naming_the_operation()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "not an ELF file");
            var e = Assert.Throws<KernelCallException>(() => BpfObjectSpec.Read(path));
            Assert.StartsWith($"bpf_object__open_file({path}) failed: ", e.Message);
            Assert.Equal($"bpf_object__open_file({path})", e.Operation);
            Assert.NotEqual(0, e.ErrorNumber);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
