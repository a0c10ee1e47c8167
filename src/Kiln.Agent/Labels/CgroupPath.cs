using System.Buffers;

namespace Kiln.Agent.Labels;

/// <summary>
/// Reads a process's cgroup path from /proc/PID/cgroup and recognises the container runtime and systemd unit in it.
/// Pure string functions: no file access, so every form can be tested from fixtures.
/// </summary>
public static class CgroupPath
{
    private const int ContainerIdLength = 64;

    private static readonly SearchValues<char> s_lowerHex = SearchValues.Create("0123456789abcdef");

    // Scope-unit prefixes that runtimes give a container's own cgroup (systemd cgroup driver), all "<prefix><64hex>.scope".
    private static readonly string[] s_containerScopePrefixes = ["docker-", "cri-containerd-", "crio-", "libpod-"];

    // Scopes of a runtime's per-container monitor (conmon): not a container, and too many distinct names to be a unit label.
    private static readonly string[] s_monitorScopePrefixes = ["crio-conmon-", "libpod-conmon-"];

    /// <summary>
    /// The process's cgroup path from the content of /proc/PID/cgroup, or null when there is no line.
    /// The cgroup v2 line (<c>0::/path</c>) wins, unless it is the root while a v1 hierarchy has a deeper path
    /// (hybrid hosts where a runtime manages only v1); among v1 lines <c>name=systemd</c>, then <c>cpu</c>, then the first.
    /// </summary>
    public static string? Parse(string content)
    {
        string? unified = null, systemd = null, cpu = null, first = null;
        foreach (var rawLine in content.AsSpan().EnumerateLines())
        {
            var line = rawLine.TrimEnd('\r');
            // hierarchy-ID:controller-list:path — the path itself may contain ':'.
            var c1 = line.IndexOf(':');
            if (c1 < 0)
                continue;
            var c2 = line[(c1 + 1)..].IndexOf(':');
            if (c2 < 0)
                continue;
            var hierarchy = line[..c1];
            var controllers = line.Slice(c1 + 1, c2);
            var path = line[(c1 + c2 + 2)..];
            if (path.IsEmpty)
                continue;
            if (hierarchy.SequenceEqual("0") && controllers.IsEmpty)
            {
                unified ??= path.ToString();
                continue;
            }
            first ??= path.ToString();
            foreach (var range in controllers.Split(','))
            {
                var controller = controllers[range];
                if (systemd is null && controller.SequenceEqual("name=systemd"))
                    systemd = path.ToString();
                else if (cpu is null && controller.SequenceEqual("cpu"))
                    cpu = path.ToString();
            }
        }
        var v1 = systemd ?? cpu ?? first;
        if (unified is null)
            return v1;
        return unified == "/" && v1 is not null && v1 != "/" ? v1 : unified;
    }

    /// <summary>
    /// The 64-hex container id in a cgroup path, or null. Recognises docker (<c>/docker/ID</c>, <c>docker-ID.scope</c>),
    /// containerd and Kubernetes (<c>/kubepods/…/ID</c>, <c>cri-containerd-ID.scope</c>, <c>…:cri-containerd:ID</c>),
    /// CRI-O (<c>crio-ID.scope</c>; <c>crio-conmon-ID.scope</c> is the monitor, not a container) and podman
    /// (<c>libpod-ID.scope</c>). The innermost container wins when containers nest (kind, docker-in-docker).
    /// </summary>
    public static string? ContainerId(string path)
    {
        var rest = path.AsSpan();
        while (!rest.IsEmpty)
        {
            var slash = rest.LastIndexOf('/');
            var component = rest[(slash + 1)..];
            rest = slash < 0 ? [] : rest[..slash];
            if (TryContainerId(component, out var id))
                return id.ToString();
        }
        return null;
    }

    /// <summary>
    /// The systemd unit the process runs in: the last <c>*.service</c>, <c>*.scope</c> or <c>*.socket</c> component of the
    /// path, e.g. <c>ssh.service</c> or <c>session-3.scope</c>. Null when there is none, and for processes inside a
    /// container (the unit above a container is the runtime's, not the process's); container and conmon scopes are never units.
    /// </summary>
    public static string? SystemdUnit(string path)
    {
        var rest = path.AsSpan();
        while (!rest.IsEmpty)
        {
            var slash = rest.LastIndexOf('/');
            var component = rest[(slash + 1)..];
            rest = slash < 0 ? [] : rest[..slash];
            if (TryContainerId(component, out _))
                return null;
            if (IsMonitorScope(component))
                continue;
            if (IsUnit(component, ".service") || IsUnit(component, ".scope") || IsUnit(component, ".socket"))
                return component.ToString();
        }
        return null;
    }

    private static bool TryContainerId(ReadOnlySpan<char> component, out ReadOnlySpan<char> id)
    {
        id = default;
        if (IsMonitorScope(component))
            return false;
        if (IsHexId(component))
        {
            id = component;
            return true;
        }
        // cgroup v1 with the systemd driver: "kubepods-…-pod<uid>.slice:cri-containerd:<id>" (also "docker:" and "crio:").
        var colon = component.LastIndexOf(':');
        if (colon >= 0 && IsHexId(component[(colon + 1)..]))
        {
            id = component[(colon + 1)..];
            return true;
        }
        if (!component.EndsWith(".scope", StringComparison.Ordinal))
            return false;
        var stem = component[..^".scope".Length];
        foreach (var prefix in s_containerScopePrefixes)
        {
            if (stem.StartsWith(prefix, StringComparison.Ordinal) && IsHexId(stem[prefix.Length..]))
            {
                id = stem[prefix.Length..];
                return true;
            }
        }
        return false;
    }

    private static bool IsUnit(ReadOnlySpan<char> component, string suffix) =>
        component.Length > suffix.Length && component.EndsWith(suffix, StringComparison.Ordinal);

    private static bool IsMonitorScope(ReadOnlySpan<char> component)
    {
        foreach (var prefix in s_monitorScopePrefixes)
        {
            if (component.StartsWith(prefix, StringComparison.Ordinal))
                return true;
        }
        return false;
    }

    // Runtimes write ids as lowercase hex; requiring it keeps unit names that happen to be 64 characters long out.
    private static bool IsHexId(ReadOnlySpan<char> s) =>
        s.Length == ContainerIdLength && !s.ContainsAnyExcept(s_lowerHex);
}
