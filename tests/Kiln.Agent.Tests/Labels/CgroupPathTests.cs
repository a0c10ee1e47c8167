using Kiln.Agent.Labels;

namespace Kiln.Agent.Tests.Labels;

public class CgroupPathTests
{
    private const string Id = "cdfe9ad58b46226d63eb322dacd35f4f7ac38096180c87258c142e4bca9a3cf5";
    private const string OuterId = "ca590ca39e31b41e4cb75e55cfcff8850fc4ecd55b6c4fb59c006123f982429a";

    [Fact]
    public void Cgroup_v2_line_is_the_path()
    {
        Assert.Equal("/system.slice/ssh.service", CgroupPath.Parse("0::/system.slice/ssh.service\n"));
    }

    [Fact]
    public void Cgroup_v2_line_wins_over_v1_lines_in_hybrid_mode()
    {
        const string content = """
            12:cpu,cpuacct:/system.slice/docker.service
            1:name=systemd:/system.slice/docker.service
            0::/system.slice/cron.service
            """;
        Assert.Equal("/system.slice/cron.service", CgroupPath.Parse(content));
    }

    [Fact]
    public void Root_v2_line_yields_to_a_deeper_v1_path()
    {
        var content = $"""
            4:cpu,cpuacct:/docker/{Id}
            1:name=systemd:/docker/{Id}
            0::/
            """;
        Assert.Equal($"/docker/{Id}", CgroupPath.Parse(content));
    }

    [Fact]
    public void V1_prefers_name_systemd_then_cpu_then_the_first_line()
    {
        const string withSystemd = """
            11:memory:/mem
            4:cpu,cpuacct:/cpu
            1:name=systemd:/user.slice/user-0.slice/session-3.scope
            """;
        Assert.Equal("/user.slice/user-0.slice/session-3.scope", CgroupPath.Parse(withSystemd));

        const string withCpu = """
            11:memory:/mem
            4:cpuacct,cpu:/cpu
            """;
        Assert.Equal("/cpu", CgroupPath.Parse(withCpu));

        Assert.Equal("/mem", CgroupPath.Parse("11:memory:/mem\n3:blkio:/blk\n"));
    }

    [Fact]
    public void Cpuset_is_not_cpu()
    {
        Assert.Equal("/first", CgroupPath.Parse("5:cpuset:/first\n6:memory:/second\n"));
    }

    [Fact]
    public void Path_may_contain_colons()
    {
        Assert.Equal($"/system.slice/containerd.service/kubepods-pod1.slice:cri-containerd:{Id}",
            CgroupPath.Parse($"0::/system.slice/containerd.service/kubepods-pod1.slice:cri-containerd:{Id}\n"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    [InlineData("garbage")]
    public void No_usable_line_gives_null(string content)
    {
        Assert.Null(CgroupPath.Parse(content));
    }

    [Theory]
    [InlineData("/docker/" + Id)]
    [InlineData("/system.slice/docker-" + Id + ".scope")]
    [InlineData("/kubepods/besteffort/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/" + Id)]
    [InlineData("/kubepods/" + Id)]
    [InlineData("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-" + Id + ".scope")]
    [InlineData("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a.slice/crio-" + Id + ".scope")]
    [InlineData("/system.slice/containerd.service/kubepods-burstable-pod0f1e.slice:cri-containerd:" + Id)]
    [InlineData("/machine.slice/libpod-" + Id + ".scope")]
    [InlineData("/machine.slice/libpod-" + Id + ".scope/container")]
    [InlineData("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + Id + ".scope")]
    [InlineData("/system.slice/docker-" + Id + ".scope/init.scope")]
    [InlineData("/docker/" + OuterId + "/kubepods/besteffort/pod1/" + Id)]
    public void Container_ids_are_found_in_every_runtime_form(string path)
    {
        Assert.Equal(Id, CgroupPath.ContainerId(path));
    }

    [Theory]
    [InlineData("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e.slice/crio-conmon-" + Id + ".scope")]
    [InlineData("/machine.slice/libpod-conmon-" + Id + ".scope")]
    [InlineData("/system.slice/docker.service")]
    [InlineData("/user.slice/user-0.slice/session-3.scope")]
    [InlineData("/")]
    [InlineData("")]
    [InlineData("/docker/" + "CDFE9AD58B46226D63EB322DACD35F4F7AC38096180C87258C142E4BCA9A3CF5")]
    [InlineData("/docker/cdfe9ad58b46226d63eb322dacd35f4f7ac38096180c87258c142e4bca9a3cf")]
    [InlineData("/system.slice/docker-cdfe9ad5.scope")]
    public void Non_containers_have_no_container_id(string path)
    {
        Assert.Null(CgroupPath.ContainerId(path));
    }

    [Theory]
    [InlineData("/system.slice/ssh.service", "ssh.service")]
    [InlineData("/user.slice/user-0.slice/session-3.scope", "session-3.scope")]
    [InlineData("/system.slice/docker.socket", "docker.socket")]
    [InlineData("/init.scope", "init.scope")]
    [InlineData("/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox-1234.scope", "app-firefox-1234.scope")]
    [InlineData("/user.slice/user-1000.slice/user@1000.service/app.slice", "user@1000.service")]
    [InlineData("/docker/" + OuterId + "/system.slice/kubelet.service", "kubelet.service")]
    [InlineData("/kubepods.slice/kubepods-pod0f1e.slice/crio-conmon-" + Id + ".scope", null)]
    [InlineData("/system.slice/docker-" + Id + ".scope", null)]
    [InlineData("/system.slice/containerd.service/kubepods-burstable-pod0f1e.slice:cri-containerd:" + Id, null)]
    [InlineData("/kubepods/besteffort/pod1/" + Id, null)]
    [InlineData("/user.slice", null)]
    [InlineData("/", null)]
    [InlineData("/system.slice/.service", null)]
    public void Systemd_unit_is_the_last_unit_outside_any_container(string path, string? unit)
    {
        Assert.Equal(unit, CgroupPath.SystemdUnit(path));
    }
}
