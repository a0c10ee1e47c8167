namespace Kiln.Symbolization;

/// <summary>Permission bits of a memory mapping, as the <c>rwxp</c>/<c>rwxs</c> column of /proc/PID/maps shows them.</summary>
[Flags]
public enum MappingPermissions : byte
{
    None = 0,
    Read = 1,
    Write = 2,
    Execute = 4,
    Shared = 8,
}

/// <summary>One line of /proc/PID/maps. <see cref="Path"/> is empty for anonymous memory and keeps
/// the kernel's text otherwise (including a trailing <c> (deleted)</c>, which <see cref="IsDeleted"/> reports).</summary>
public sealed record Mapping(
    ulong Start,
    ulong End,
    MappingPermissions Permissions,
    ulong Offset,
    uint DeviceMajor,
    uint DeviceMinor,
    ulong Inode,
    string Path)
{
    private const string DeletedSuffix = " (deleted)";

    public bool IsExecutable => (Permissions & MappingPermissions.Execute) != 0;

    public bool IsAnonymous => Path.Length == 0;

    /// <summary>Kernel-provided regions such as <c>[vdso]</c>, <c>[heap]</c>, <c>[stack]</c>.</summary>
    public bool IsSpecial => Path.Length > 0 && Path[0] == '[';

    public bool IsDeleted => Path.EndsWith(DeletedSuffix, StringComparison.Ordinal);

    /// <summary>The path without the <c> (deleted)</c> suffix.</summary>
    public string FilePath => IsDeleted ? Path[..^DeletedSuffix.Length] : Path;

    /// <summary>.NET's executable view of W^X-mapped JIT code (<c>/memfd:doublemapper (deleted)</c>).</summary>
    public bool IsDoubleMapper => Path.StartsWith("/memfd:doublemapper", StringComparison.Ordinal);

    /// <summary>True when the mapping is backed by a regular file that can be opened (not anonymous, special or memfd).</summary>
    public bool IsFileBacked => Path.Length > 0 && Path[0] == '/' && !Path.StartsWith("/memfd:", StringComparison.Ordinal) && Inode != 0;

    public ulong Size => End - Start;

    public bool Contains(ulong address) => address >= Start && address < End;
}
