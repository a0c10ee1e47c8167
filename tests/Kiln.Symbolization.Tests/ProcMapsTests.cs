namespace Kiln.Symbolization.Tests;

public class ProcMapsTests
{
    private const string Sample = """
        55d0c8a00000-55d0c8a2f000 r--p 00000000 08:01 1835036                    /usr/bin/bash
        55d0c8a2f000-55d0c8b0e000 r-xp 0002f000 08:01 1835036                    /usr/bin/bash
        55d0c9f1c000-55d0ca0a7000 rw-p 00000000 00:00 0                          [heap]
        7f2a1c000000-7f2a1c021000 rw-p 00000000 00:00 0 
        7f2a20000000-7f2a20010000 r-xp 00000000 00:01 4242                       /memfd:doublemapper (deleted)
        7f2a30000000-7f2a30001000 r-xp 00001000 fd:02 77                         /tmp/my lib.so (deleted)
        7ffd5b7f6000-7ffd5b7fa000 r--p 00000000 00:00 0                          [vvar]
        7ffd5b7fa000-7ffd5b7fc000 r-xp 00000000 00:00 0                          [vdso]
        ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
        garbage line
        """;

    [Fact]
    public void Parses_every_kind_of_line_and_skips_garbage()
    {
        var maps = ProcMaps.Parse(Sample);
        Assert.Equal(9, maps.Length);

        var text = maps[1];
        Assert.Equal(0x55d0c8a2f000UL, text.Start);
        Assert.Equal(0x55d0c8b0e000UL, text.End);
        Assert.Equal(MappingPermissions.Read | MappingPermissions.Execute, text.Permissions);
        Assert.Equal(0x2f000UL, text.Offset);
        Assert.Equal((8u, 1u, 1835036UL), (text.DeviceMajor, text.DeviceMinor, text.Inode));
        Assert.Equal("/usr/bin/bash", text.Path);
        Assert.True(text.IsFileBacked);

        Assert.True(maps[2].IsSpecial);
        Assert.False(maps[2].IsFileBacked);
        Assert.True(maps[3].IsAnonymous);

        var jit = maps[4];
        Assert.True(jit.IsDoubleMapper);
        Assert.True(jit.IsDeleted);
        Assert.False(jit.IsFileBacked);
        Assert.True(jit.IsExecutable);

        var deleted = maps[5];
        Assert.True(deleted.IsDeleted);
        Assert.Equal("/tmp/my lib.so", deleted.FilePath);
        Assert.Equal(0xfdu, deleted.DeviceMajor);

        Assert.Equal("[vdso]", maps[7].Path);
        Assert.Equal(0xffffffffff600000UL, maps[8].Start);
    }

    [Fact]
    public void Find_returns_the_containing_mapping_or_minus_one()
    {
        var maps = ProcMaps.Parse(Sample);
        Assert.Equal(1, ProcMaps.Find(maps, 0x55d0c8a2f000));
        Assert.Equal(1, ProcMaps.Find(maps, 0x55d0c8b0dfff));
        Assert.Equal(-1, ProcMaps.Find(maps, 0x55d0c8b0e000));
        Assert.Equal(4, ProcMaps.Find(maps, 0x7f2a20000123));
        Assert.Equal(-1, ProcMaps.Find(maps, 0x1000));
        Assert.Equal(-1, ProcMaps.Find([], 0x1000));
    }

    [Fact]
    public void Reads_this_process()
    {
        var maps = ProcMaps.Read(Environment.ProcessId);
        Assert.Contains(maps, m => m.IsExecutable && m.FilePath.EndsWith("libcoreclr.so", StringComparison.Ordinal));
        for (var i = 1; i < maps.Length; i++)
            Assert.True(maps[i - 1].Start < maps[i].Start);
    }

    [Fact]
    public void NSpid_of_a_process_in_the_root_namespace_is_its_pid()
    {
        Assert.Equal(Environment.ProcessId, ProcFs.ReadNamespacePid(Environment.ProcessId));
        Assert.NotNull(ProcFs.ReadStartTime(Environment.ProcessId));
        Assert.Null(ProcFs.ReadStartTime(int.MaxValue));
    }
}
