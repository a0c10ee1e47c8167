using Kiln.Agent.Labels;
using Kiln.Profiles;

namespace Kiln.Agent.Tests.Labels;

public class RelabelerTests
{
    private static readonly LabelSet s_process = LabelSet.From(
        ("node", "node-a"), ("pid", "1234"), ("comm", "bash"), ("executable", "/usr/bin/bash"),
        ("cgroup", "/system.slice/ssh.service"), ("systemd_unit", "ssh.service"));

    private static LabelSet? Apply(LabelSet labels, params RelabelRule[] rules) => Relabeler.Apply(labels, rules);

    [Fact]
    public void No_rules_return_the_same_set()
    {
        Assert.Same(s_process, Relabeler.Apply(s_process, []));
    }

    [Fact]
    public void Rules_that_change_nothing_return_the_same_set()
    {
        Assert.Same(s_process, Apply(s_process,
            new RelabelRule(RelabelAction.Keep, ["comm"], regex: "bash"),
            new RelabelRule(RelabelAction.Replace, ["comm"], targetLabel: "comm")));
    }

    [Fact]
    public void Replace_sets_the_target_from_the_expanded_replacement()
    {
        var rule = new RelabelRule(RelabelAction.Replace, ["systemd_unit"], targetLabel: "service", regex: @"(.*)\.service", replacement: "$1");

        var result = Apply(s_process, rule);

        Assert.Equal("ssh", result!.Get("service"));
        Assert.Equal(s_process.Count + 1, result.Count);
    }

    [Fact]
    public void Replace_with_default_regex_and_replacement_copies_the_value()
    {
        var labels = Apply(s_process, new RelabelRule(sourceLabels: ["comm"], targetLabel: "job"));

        Assert.Equal("bash", labels!.Get("job"));
    }

    [Fact]
    public void Replace_joins_sources_with_the_separator()
    {
        var labels = LabelSet.From(("a", "foo"), ("b", "bar"));

        var result = Apply(labels, new RelabelRule(sourceLabels: ["a", "b"], targetLabel: "d", regex: "f(.*);(.*)r", replacement: "a${1}b${2}"));

        Assert.Equal("aoobba", result!.Get("d"));
    }

    [Fact]
    public void Missing_source_labels_join_as_empty_strings()
    {
        var labels = LabelSet.From(("a", "foo"), ("b", "bar"));

        var result = Apply(labels, new RelabelRule(sourceLabels: ["a", "missing", "b"], separator: "|", targetLabel: "joined"));

        Assert.Equal("foo||bar", result!.Get("joined"));
    }

    [Fact]
    public void Replace_without_a_match_changes_nothing()
    {
        var rule = new RelabelRule(sourceLabels: ["comm"], targetLabel: "comm", regex: "zsh", replacement: "shell");

        Assert.Same(s_process, Apply(s_process, rule));
    }

    [Fact]
    public void Replace_is_anchored()
    {
        var labels = LabelSet.From(("comm", "foobar"));

        Assert.Same(labels, Apply(labels, new RelabelRule(sourceLabels: ["comm"], targetLabel: "x", regex: "foo", replacement: "hit")));
        Assert.Same(labels, Apply(labels, new RelabelRule(sourceLabels: ["comm"], targetLabel: "x", regex: "bar", replacement: "hit")));
        Assert.Equal("hit", Apply(labels, new RelabelRule(sourceLabels: ["comm"], targetLabel: "x", regex: "foo.*", replacement: "hit"))!.Get("x"));
    }

    [Fact]
    public void Replace_with_an_empty_result_removes_the_target()
    {
        var result = Apply(s_process, new RelabelRule(sourceLabels: ["comm"], targetLabel: "cgroup", regex: ".*", replacement: ""));

        Assert.Equal(s_process.Without("cgroup"), result);
    }

    [Fact]
    public void Replace_without_sources_sets_a_static_label()
    {
        var result = Apply(s_process, new RelabelRule(targetLabel: "env", replacement: "prod"));

        Assert.Equal("prod", result!.Get("env"));
    }

    [Fact]
    public void Replace_expands_the_target_label()
    {
        var labels = LabelSet.From(("kv", "team=payments"));

        var result = Apply(labels, new RelabelRule(sourceLabels: ["kv"], targetLabel: "label_$1", regex: "(.+)=(.+)", replacement: "$2"));

        Assert.Equal("payments", result!.Get("label_team"));
    }

    [Fact]
    public void Replace_to_an_invalid_expanded_target_is_skipped()
    {
        var labels = LabelSet.From(("kv", "1team=payments"));

        Assert.Same(labels, Apply(labels, new RelabelRule(sourceLabels: ["kv"], targetLabel: "${1}", regex: "(.+)=(.+)", replacement: "$2")));
        Assert.Same(labels, Apply(labels, new RelabelRule(sourceLabels: ["kv"], targetLabel: "${3}", regex: "(.+)=(.+)", replacement: "$2")));
    }

    [Theory]
    [InlineData("$1x", null)]
    [InlineData("${1}x", "bashx")]
    [InlineData("$1_suffix", null)]
    [InlineData("${1}_suffix", "bash_suffix")]
    [InlineData("$$1", "$1")]
    [InlineData("pre-$1", "pre-bash")]
    public void Replacement_expands_like_go(string replacement, string? expected)
    {
        var result = Apply(s_process, new RelabelRule(sourceLabels: ["comm"], targetLabel: "out", regex: "(.*)", replacement: replacement));

        Assert.Equal(expected ?? "", result!.Get("out"));
        Assert.Equal(expected is not null, result.Any(l => l.Name == "out"));
    }

    [Fact]
    public void Keep_drops_sets_that_do_not_match()
    {
        Assert.Same(s_process, Apply(s_process, new RelabelRule(RelabelAction.Keep, ["comm"], regex: "bash|zsh")));
        Assert.Null(Apply(s_process, new RelabelRule(RelabelAction.Keep, ["comm"], regex: "zsh")));
        Assert.Null(Apply(s_process, new RelabelRule(RelabelAction.Keep, ["comm"], regex: "bas")));
    }

    [Fact]
    public void Drop_drops_sets_that_match()
    {
        var kworker = LabelSet.From(("comm", "kworker/0:1H"), ("pid", "12"));

        Assert.Null(Apply(kworker, new RelabelRule(RelabelAction.Drop, ["comm"], regex: "kworker.*")));
        Assert.Same(s_process, Apply(s_process, new RelabelRule(RelabelAction.Drop, ["comm"], regex: "kworker.*")));
        Assert.Same(kworker, Apply(kworker, new RelabelRule(RelabelAction.Drop, ["comm"], regex: "kworker")));
    }

    [Fact]
    public void Drop_on_a_missing_label_matches_the_empty_string()
    {
        Assert.Null(Apply(s_process, new RelabelRule(RelabelAction.Drop, ["container_id"], regex: "")));
        Assert.Null(Apply(s_process, new RelabelRule(RelabelAction.Keep, ["container_id"], regex: ".+")));
    }

    [Fact]
    public void Keepequal_and_dropequal_compare_with_the_target_label()
    {
        var same = LabelSet.From(("a", "x"), ("b", "x"));
        var different = LabelSet.From(("a", "x"), ("b", "y"));

        Assert.Same(same, Apply(same, new RelabelRule(RelabelAction.KeepEqual, ["a"], targetLabel: "b")));
        Assert.Null(Apply(different, new RelabelRule(RelabelAction.KeepEqual, ["a"], targetLabel: "b")));
        Assert.Null(Apply(same, new RelabelRule(RelabelAction.DropEqual, ["a"], targetLabel: "b")));
        Assert.Same(different, Apply(different, new RelabelRule(RelabelAction.DropEqual, ["a"], targetLabel: "b")));
        // A missing target is "", equal to a missing source.
        Assert.Null(Apply(same, new RelabelRule(RelabelAction.DropEqual, ["nope"], targetLabel: "none")));
    }

    [Fact]
    public void Keepequal_compares_the_joined_sources()
    {
        var labels = LabelSet.From(("a", "x"), ("b", "y"), ("ab", "x;y"));

        Assert.Same(labels, Apply(labels, new RelabelRule(RelabelAction.KeepEqual, ["a", "b"], targetLabel: "ab")));
    }

    [Fact]
    public void Hashmod_takes_the_low_8_bytes_of_md5_big_endian()
    {
        // Expected values from python3: int.from_bytes(hashlib.md5(s).digest()[8:], 'big') % m
        var foo = LabelSet.From(("comm", "foo"));
        Assert.Equal("696", Apply(foo, new RelabelRule(RelabelAction.HashMod, ["comm"], targetLabel: "shard", modulus: 1000))!.Get("shard"));

        var joined = Apply(s_process, new RelabelRule(RelabelAction.HashMod, ["comm", "pid"], targetLabel: "shard", modulus: 16));
        Assert.Equal("15", joined!.Get("shard"));

        Assert.Equal("1", Apply(foo, new RelabelRule(RelabelAction.HashMod, ["missing"], targetLabel: "shard", modulus: 7))!.Get("shard"));
        Assert.Equal(97848089864209780UL, Relabeler.HashMod("systemd", ulong.MaxValue));
    }

    [Fact]
    public void Hashmod_of_a_long_value_hashes_all_of_it()
    {
        var value = new string('é', 1000);
        Assert.Equal(Relabeler.HashMod(value, ulong.MaxValue), Relabeler.HashMod(value, ulong.MaxValue));
        Assert.NotEqual(Relabeler.HashMod(value, ulong.MaxValue), Relabeler.HashMod(value + "x", ulong.MaxValue));
    }

    [Fact]
    public void Labelmap_copies_matching_labels_to_the_expanded_name()
    {
        var result = Apply(s_process, new RelabelRule(RelabelAction.LabelMap, regex: "(comm|pid)", replacement: "process_$1"));

        Assert.Equal("bash", result!.Get("process_comm"));
        Assert.Equal("1234", result.Get("process_pid"));
        Assert.Equal("bash", result.Get("comm"));
        Assert.Equal(s_process.Count + 2, result.Count);
    }

    [Fact]
    public void Labelmap_is_anchored_and_skips_invalid_names()
    {
        var labels = LabelSet.From(("__meta_unit", "a"), ("x__meta_y", "b"));

        var result = Apply(labels, new RelabelRule(RelabelAction.LabelMap, regex: "__meta_(.*)"));

        Assert.Equal(LabelSet.From(("__meta_unit", "a"), ("x__meta_y", "b"), ("unit", "a")), result);
        var digits = LabelSet.From(("x_1", "v"));
        Assert.Same(digits, Apply(digits, new RelabelRule(RelabelAction.LabelMap, regex: "x_(.*)", replacement: "$1")));
    }

    [Fact]
    public void Labeldrop_removes_matching_names()
    {
        var result = Apply(s_process, new RelabelRule(RelabelAction.LabelDrop, regex: "cgroup|systemd_.*"));

        Assert.Equal(s_process.Without("cgroup", "systemd_unit"), result);
        Assert.Same(s_process, Apply(s_process, new RelabelRule(RelabelAction.LabelDrop, regex: "systemd")));
    }

    [Fact]
    public void Labelkeep_removes_names_that_do_not_match()
    {
        var result = Apply(s_process, new RelabelRule(RelabelAction.LabelKeep, regex: "node|pid|comm"));

        Assert.Equal(LabelSet.From(("node", "node-a"), ("pid", "1234"), ("comm", "bash")), result);
    }

    [Fact]
    public void Lowercase_and_uppercase_write_the_target()
    {
        var labels = LabelSet.From(("a", "MiXeD"), ("b", "Two"));

        Assert.Equal("mixed", Apply(labels, new RelabelRule(RelabelAction.Lowercase, ["a"], targetLabel: "lower"))!.Get("lower"));
        Assert.Equal("MIXED;TWO", Apply(labels, new RelabelRule(RelabelAction.Uppercase, ["a", "b"], targetLabel: "a"))!.Get("a"));
        Assert.Equal(LabelSet.From(("b", "Two")), Apply(labels, new RelabelRule(RelabelAction.Lowercase, ["missing"], targetLabel: "a")));
    }

    [Fact]
    public void Rules_run_in_order_on_the_result_of_the_previous_ones()
    {
        var rules = new[]
        {
            new RelabelRule(sourceLabels: ["systemd_unit"], targetLabel: "service", regex: @"(.*)\.service"),
            new RelabelRule(RelabelAction.Keep, ["service"], regex: "ssh"),
            new RelabelRule(RelabelAction.LabelDrop, regex: "cgroup|systemd_unit|executable"),
        };

        var result = Relabeler.Apply(s_process, rules);

        Assert.Equal(LabelSet.From(("node", "node-a"), ("pid", "1234"), ("comm", "bash"), ("service", "ssh")), result);
        Assert.Null(Relabeler.Apply(LabelSet.From(("comm", "cron")), rules));
    }
}
