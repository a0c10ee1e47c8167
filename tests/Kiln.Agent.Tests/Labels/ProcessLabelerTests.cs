using System.Globalization;
using System.Text;
using Kiln.Agent.Labels;
using Kiln.Profiles;

namespace Kiln.Agent.Tests.Labels;

public sealed class ProcessLabelerTests : IDisposable
{
    private const string Id = "cdfe9ad58b46226d63eb322dacd35f4f7ac38096180c87258c142e4bca9a3cf5";

    private readonly string _root = Directory.CreateTempSubdirectory("kiln-fake-proc-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Labels_of_the_test_process_itself_name_its_comm_executable_and_pid()
    {
        var labeler = new ProcessLabeler("node-a");
        var pid = Environment.ProcessId;

        var labels = labeler.Labels(pid);

        Assert.NotNull(labels);
        Assert.Equal(pid.ToString(CultureInfo.InvariantCulture), labels.Get("pid"));
        Assert.Equal("node-a", labels.Get("node"));
        var exe = new FileInfo(Environment.ProcessPath!).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Environment.ProcessPath!;
        Assert.Equal(exe, labels.Get("executable"));
        // The kernel names a process after its executable, cut to 15 bytes (TASK_COMM_LEN - 1).
        var name = Path.GetFileName(exe);
        Assert.Equal(name[..Math.Min(15, name.Length)], labels.Get("comm"));
        Assert.Equal(CgroupPath.Parse(File.ReadAllText("/proc/self/cgroup")), labels.Get("cgroup"));
        Assert.Same(labels, labeler.Labels(pid));
    }

    [Fact]
    public void Labels_come_from_comm_exe_and_cgroup()
    {
        WriteProcess(100, "nginx: worker", startTime: 5000, exe: "/usr/sbin/nginx", cgroup: $"0::/system.slice/docker-{Id}.scope\n");

        var labels = new ProcessLabeler("node-a", _root).Labels(100);

        Assert.Equal(
            LabelSet.From(("node", "node-a"), ("pid", "100"), ("comm", "nginx: worker"), ("executable", "/usr/sbin/nginx"),
                ("cgroup", $"/system.slice/docker-{Id}.scope"), ("container_id", Id)),
            labels);
    }

    [Fact]
    public void Systemd_unit_is_labeled_and_unknown_values_are_left_out()
    {
        WriteProcess(7, "sshd", startTime: 10, exe: null, cgroup: "0::/system.slice/ssh.service\n");

        var labels = new ProcessLabeler("", _root).Labels(7);

        Assert.Equal(
            LabelSet.From(("pid", "7"), ("comm", "sshd"), ("cgroup", "/system.slice/ssh.service"), ("systemd_unit", "ssh.service")),
            labels);
    }

    [Fact]
    public void Kernel_threads_have_no_executable()
    {
        WriteProcess(2, "kthreadd", startTime: 0, exe: null, cgroup: "0::/\n");

        var labels = new ProcessLabeler("n", _root).Labels(2);

        Assert.Equal(LabelSet.From(("node", "n"), ("pid", "2"), ("comm", "kthreadd"), ("cgroup", "/")), labels);
    }

    [Fact]
    public void A_replaced_executable_is_labeled_without_the_deleted_suffix()
    {
        WriteProcess(9, "app", startTime: 1, exe: "/opt/app/bin/app (deleted)", cgroup: "0::/\n");

        Assert.Equal("/opt/app/bin/app", new ProcessLabeler("n", _root).Labels(9)!.Get("executable"));
    }

    [Fact]
    public void Labels_are_cached_while_the_start_time_stays_the_same()
    {
        WriteProcess(100, "before", startTime: 5000, exe: "/bin/a", cgroup: "0::/\n");
        var labeler = new ProcessLabeler("n", _root);
        var first = labeler.Labels(100);

        // A process may rename itself; the cached labels stand until the pid is reused.
        File.WriteAllText(Path.Combine(_root, "100", "comm"), "after\n");

        Assert.Same(first, labeler.Labels(100));
        Assert.Equal("before", labeler.Labels(100)!.Get("comm"));
    }

    [Fact]
    public void Pid_reuse_is_detected_by_the_start_time()
    {
        WriteProcess(100, "old", startTime: 5000, exe: "/bin/old", cgroup: "0::/system.slice/old.service\n");
        var labeler = new ProcessLabeler("n", _root);
        Assert.Equal("old", labeler.Labels(100)!.Get("comm"));

        Directory.Delete(Path.Combine(_root, "100"), recursive: true);
        WriteProcess(100, "new", startTime: 7000, exe: "/bin/new", cgroup: "0::/system.slice/new.service\n");

        var labels = labeler.Labels(100);
        Assert.Equal("new", labels!.Get("comm"));
        Assert.Equal("/bin/new", labels.Get("executable"));
        Assert.Equal("new.service", labels.Get("systemd_unit"));
    }

    [Fact]
    public void A_vanished_process_keeps_its_cached_labels_until_trimmed()
    {
        WriteProcess(100, "short-lived", startTime: 5000, exe: "/bin/true", cgroup: "0::/\n");
        var labeler = new ProcessLabeler("n", _root);
        var labels = labeler.Labels(100);
        Directory.Delete(Path.Combine(_root, "100"), recursive: true);

        Assert.Same(labels, labeler.Labels(100));
        Assert.Equal(1, labeler.CachedCount);

        labeler.Trim(new HashSet<int>());

        Assert.Equal(0, labeler.CachedCount);
        Assert.Null(labeler.Labels(100));
    }

    [Fact]
    public void Trim_keeps_live_pids()
    {
        WriteProcess(1, "a", startTime: 1, exe: null, cgroup: "0::/\n");
        WriteProcess(2, "b", startTime: 2, exe: null, cgroup: "0::/\n");
        var labeler = new ProcessLabeler("n", _root);
        labeler.Labels(1);
        labeler.Labels(2);

        labeler.Trim(new HashSet<int> { 2 });

        Assert.Equal(1, labeler.CachedCount);
    }

    [Fact]
    public void An_unknown_pid_has_no_labels()
    {
        Assert.Null(new ProcessLabeler("n", _root).Labels(4242));
    }

    [Theory]
    [InlineData("1 (bash) S 0 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 31337 12345 300", 31337UL)]
    [InlineData("1 (a) (b c) S 0 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 42 12345 300\n", 42UL)]
    [InlineData("1 ()) S 0 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 7 12345 300\n", 7UL)]
    [InlineData("1 (x) S 0 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0", null)]
    [InlineData("1 (x) S 0 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 -5 1", null)]
    [InlineData("no parenthesis", null)]
    public void Start_time_is_field_22_counted_after_the_last_parenthesis(string stat, ulong? expected)
    {
        Assert.Equal(expected, ProcessLabeler.ParseStartTime(Encoding.ASCII.GetBytes(stat)));
    }

    private void WriteProcess(int pid, string comm, ulong startTime, string? exe, string cgroup)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, pid.ToString(CultureInfo.InvariantCulture))).FullName;
        File.WriteAllText(Path.Combine(dir, "stat"),
            $"{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {startTime} 12345678 300 18446744073709551615\n");
        File.WriteAllText(Path.Combine(dir, "comm"), comm + "\n");
        File.WriteAllText(Path.Combine(dir, "cgroup"), cgroup);
        if (exe is not null)
            File.CreateSymbolicLink(Path.Combine(dir, "exe"), exe);
    }
}
