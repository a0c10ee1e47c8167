using Kiln.Agent.Labels;
using Kiln.Profiles;

namespace Kiln.Agent.Tests.Labels;

public sealed class AgentConfigTests : IDisposable
{
    private const string ActionList = "replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase";
    private const string RuleKeys = "source_labels, separator, target_label, regex, modulus, replacement, action";

    private readonly string _dir = Directory.CreateTempSubdirectory("kiln-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_documented_example_loads_and_applies()
    {
        var path = Write("agent.yaml", """
            relabel_configs:
              - source_labels: [comm]
                regex: 'kworker.*'
                action: drop
              - source_labels: [systemd_unit]
                target_label: service
                regex: '(.*)\.service'
                replacement: '$1'
            """);

        var rules = AgentConfig.Load(path).RelabelConfigs;

        Assert.Equal(2, rules.Count);
        Assert.Equal(RelabelAction.Drop, rules[0].Action);
        Assert.Equal(["comm"], rules[0].SourceLabels);
        Assert.Equal("kworker.*", rules[0].Regex);
        Assert.Equal(RelabelAction.Replace, rules[1].Action);
        Assert.Equal("service", rules[1].TargetLabel);
        Assert.Equal(@"(.*)\.service", rules[1].Regex);
        Assert.Equal("$1", rules[1].Replacement);
        Assert.Equal(";", rules[1].Separator);
        Assert.Null(Relabeler.Apply(LabelSet.From(("comm", "kworker/3:0")), rules));
        Assert.Equal(LabelSet.From(("comm", "sshd"), ("systemd_unit", "ssh.service"), ("service", "ssh")),
            Relabeler.Apply(LabelSet.From(("comm", "sshd"), ("systemd_unit", "ssh.service")), rules));
    }

    [Fact]
    public void Every_field_is_read()
    {
        var rule = Parse("""
            relabel_configs:
              - source_labels: [comm, pid]
                separator: '/'
                target_label: shard
                regex: '(.+)'
                modulus: 8
                replacement: 'x'
                action: HashMod
            """).RelabelConfigs.Single();

        Assert.Equal(RelabelAction.HashMod, rule.Action);
        Assert.Equal(["comm", "pid"], rule.SourceLabels);
        Assert.Equal("/", rule.Separator);
        Assert.Equal("shard", rule.TargetLabel);
        Assert.Equal("(.+)", rule.Regex);
        Assert.Equal(8UL, rule.Modulus);
        Assert.Equal("x", rule.Replacement);
    }

    [Fact]
    public void Defaults_are_prometheus_defaults()
    {
        var rule = Parse("relabel_configs:\n  - target_label: env\n").RelabelConfigs.Single();

        Assert.Equal(RelabelAction.Replace, rule.Action);
        Assert.Empty(rule.SourceLabels);
        Assert.Equal(";", rule.Separator);
        Assert.Equal("(.*)", rule.Regex);
        Assert.Equal("$1", rule.Replacement);
        Assert.Equal(0UL, rule.Modulus);
    }

    [Fact]
    public void An_explicit_empty_replacement_is_kept()
    {
        var rules = Parse("relabel_configs:\n  - target_label: cgroup\n    replacement: ''\n").RelabelConfigs;

        Assert.Equal("", rules[0].Replacement);
        Assert.Equal(LabelSet.From(("comm", "a")), Relabeler.Apply(LabelSet.From(("comm", "a"), ("cgroup", "/x")), rules));
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n")]
    [InlineData("# only a comment\n")]
    [InlineData("---\n")]
    [InlineData("relabel_configs:\n")]
    [InlineData("relabel_configs: []\n")]
    [InlineData("relabel_configs: ~\n")]
    public void Empty_configs_have_no_rules(string yaml)
    {
        var path = Write("empty.yaml", yaml);

        Assert.Empty(AgentConfig.Load(path).RelabelConfigs);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var path = Path.Combine(_dir, "nope", "agent.yaml");

        var e = Assert.Throws<ConfigException>(() => AgentConfig.Load(path));

        Assert.Equal($"{path}: config file not found", e.Message);
    }

    [Fact]
    public void Errors_from_a_file_name_its_path()
    {
        var path = Write("bad.yaml", "relabel_configs:\n  - action: nope\n");

        var e = Assert.Throws<ConfigException>(() => AgentConfig.Load(path));

        Assert.Equal($"{path}:2:13: relabel_configs[0].action: unknown action \"nope\"; expected one of {ActionList}", e.Message);
    }

    [Fact]
    public void Bad_regex_names_rule_field_value_and_reason()
    {
        Assert.Equal(
            "agent.yaml:3:12: relabel_configs[0].regex: invalid regex \"(\": Not enough )'s",
            Error("""
                relabel_configs:
                  - source_labels: [comm]
                    regex: '('
                """));
    }

    [Fact]
    public void Regex_features_outside_re2_are_refused()
    {
        Assert.StartsWith(
            "agent.yaml:2:12: relabel_configs[0].regex: invalid regex \"(a)\\1\": not supported by RE2 syntax",
            Error("relabel_configs:\n  - regex: '(a)\\1'\n    action: keep\n"));
        Assert.Equal(
            "agent.yaml:2:12: relabel_configs[0].regex: invalid regex \"foo(?=bar)\": invalid or unsupported Perl syntax: \"(?=\"",
            Error("relabel_configs:\n  - regex: 'foo(?=bar)'\n    action: keep\n"));
    }

    [Fact]
    public void Unknown_action_names_the_rule_index()
    {
        Assert.Equal(
            $"agent.yaml:6:13: relabel_configs[2].action: unknown action \"frobnicate\"; expected one of {ActionList}",
            Error("""
                relabel_configs:
                  - target_label: a
                    replacement: b
                  - action: keep
                    source_labels: [comm]
                  - action: frobnicate
                """));
    }

    [Fact]
    public void Action_names_ignore_case()
    {
        Assert.Equal(RelabelAction.LabelDrop, Parse("relabel_configs:\n  - action: LabelDrop\n    regex: x\n").RelabelConfigs[0].Action);
    }

    [Fact]
    public void Hashmod_without_modulus_is_refused()
    {
        Assert.Equal(
            "agent.yaml:2:5: relabel_configs[0].modulus: action hashmod requires a modulus of at least 1",
            Error("""
                relabel_configs:
                  - action: hashmod
                    source_labels: [pid]
                    target_label: shard
                """));
        Assert.Equal(
            "agent.yaml:5:14: relabel_configs[0].modulus: action hashmod requires a modulus of at least 1",
            Error("""
                relabel_configs:
                  - action: hashmod
                    source_labels: [pid]
                    target_label: shard
                    modulus: 0
                """));
    }

    [Fact]
    public void Modulus_must_be_a_number()
    {
        Assert.Equal(
            "agent.yaml:2:14: relabel_configs[0].modulus: \"-3\" is not a non-negative integer",
            Error("relabel_configs:\n  - modulus: -3\n    action: hashmod\n    target_label: s\n"));
    }

    [Theory]
    [InlineData("replace")]
    [InlineData("hashmod")]
    [InlineData("lowercase")]
    [InlineData("uppercase")]
    [InlineData("keepequal")]
    [InlineData("dropequal")]
    public void Actions_that_write_or_compare_need_target_label(string action)
    {
        Assert.Equal(
            $"agent.yaml:2:5: relabel_configs[0].target_label: action {action} requires target_label",
            Error($"relabel_configs:\n  - action: {action}\n    source_labels: [comm]\n{(action == "hashmod" ? "    modulus: 4\n" : "")}"));
    }

    [Fact]
    public void Invalid_target_label_is_refused_with_its_value()
    {
        Assert.Equal(
            "agent.yaml:3:19: relabel_configs[0].target_label: \"foo-bar\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, may contain $1 or ${name} references)",
            Error("relabel_configs:\n  - source_labels: [comm]\n    target_label: foo-bar\n"));
        Assert.Equal(
            "agent.yaml:3:19: relabel_configs[0].target_label: \"${1}\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)",
            Error("relabel_configs:\n  - action: lowercase\n    target_label: ${1}\n"));
        Assert.Equal(
            "agent.yaml:2:19: relabel_configs[0].target_label: \"1st\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, may contain $1 or ${name} references)",
            Error("relabel_configs:\n  - target_label: 1st\n"));
    }

    [Fact]
    public void Invalid_source_label_is_refused()
    {
        Assert.Equal(
            "agent.yaml:2:20: relabel_configs[0].source_labels: \"foo-bar\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)",
            Error("relabel_configs:\n  - source_labels: [comm, foo-bar]\n    action: keep\n"));
    }

    [Fact]
    public void Labelmap_replacement_must_make_a_label_name()
    {
        Assert.Equal(
            "agent.yaml:4:18: relabel_configs[0].replacement: \"foo-$1\" is not a valid label name for action labelmap ([a-zA-Z_][a-zA-Z0-9_]*, may contain $1 or ${name} references)",
            Error("relabel_configs:\n  - action: labelmap\n    regex: 'x_(.*)'\n    replacement: foo-$1\n"));
    }

    [Fact]
    public void Labeldrop_and_keepequal_refuse_fields_they_do_not_take()
    {
        Assert.Equal(
            "agent.yaml:3:20: relabel_configs[0].source_labels: not allowed with action labeldrop, which takes only regex",
            Error("relabel_configs:\n  - action: labeldrop\n    source_labels: [comm]\n    regex: cgroup\n"));
        Assert.Equal(
            "agent.yaml:4:18: relabel_configs[0].replacement: not allowed with action labelkeep, which takes only regex",
            Error("relabel_configs:\n  - action: labelkeep\n    regex: comm\n    replacement: x\n"));
        Assert.Equal(
            "agent.yaml:5:12: relabel_configs[0].regex: not allowed with action keepequal, which takes only source_labels and target_label",
            Error("relabel_configs:\n  - action: keepequal\n    source_labels: [a]\n    target_label: b\n    regex: x\n"));
    }

    [Fact]
    public void Unknown_rule_fields_are_refused()
    {
        Assert.Equal(
            $"agent.yaml:2:5: relabel_configs[0]: unknown field \"source_label\"; expected one of {RuleKeys}",
            Error("relabel_configs:\n  - source_label: [comm]\n    action: drop\n"));
    }

    [Fact]
    public void Unknown_top_level_fields_are_refused()
    {
        Assert.Equal(
            "agent.yaml:2:1: unknown field \"scrape_configs\" at the top level; expected relabel_configs",
            Error("relabel_configs: []\nscrape_configs: []\n"));
    }

    [Fact]
    public void Yaml_syntax_errors_carry_line_and_column()
    {
        var message = Error("relabel_configs:\n  - source_labels: [comm\n    action: drop\n");

        Assert.Matches(@"^agent\.yaml:\d+:\d+: invalid YAML: \S", message);
        Assert.DoesNotContain("(Line:", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_indentation_is_a_syntax_error_at_its_line()
    {
        Assert.StartsWith("agent.yaml:3:", Error("relabel_configs:\n  - action: drop\n   regex: x\n"));
    }

    [Fact]
    public void Duplicate_keys_are_refused()
    {
        Assert.StartsWith("agent.yaml:3:", Error("relabel_configs:\n  - action: drop\n    action: keep\n"));
    }

    [Fact]
    public void Wrong_shapes_are_named()
    {
        Assert.Equal(
            "agent.yaml:1:1: expected a mapping with the key relabel_configs at the top level",
            Error("- action: drop\n"));
        Assert.Equal(
            "agent.yaml:1:18: relabel_configs must be a list of rules",
            Error("relabel_configs: drop\n"));
        Assert.Equal(
            $"agent.yaml:2:5: relabel_configs[0]: expected a mapping of {RuleKeys}",
            Error("relabel_configs:\n  - drop\n"));
        Assert.Equal(
            "agent.yaml:2:20: relabel_configs[0].source_labels: expected a list of label names, e.g. [comm], found a scalar",
            Error("relabel_configs:\n  - source_labels: comm\n"));
        Assert.Equal(
            "agent.yaml:2:12: relabel_configs[0].regex: expected a string, found a list",
            Error("relabel_configs:\n  - regex: [a]\n"));
    }

    [Fact]
    public void A_field_without_a_value_is_refused()
    {
        Assert.Equal(
            "agent.yaml:3:11: relabel_configs[0].regex: no value; write '' for an empty string",
            Error("relabel_configs:\n  - action: drop\n    regex:\n    source_labels: [comm]\n"));
    }

    [Fact]
    public void A_second_document_is_refused()
    {
        Assert.Equal(
            "agent.yaml:3:1: expected one YAML document, found more",
            Error("relabel_configs: []\n---\nrelabel_configs: []\n"));
    }

    private static AgentConfig Parse(string yaml) => AgentConfig.Parse(yaml, "agent.yaml");

    private static string Error(string yaml) => Assert.Throws<ConfigException>(() => Parse(yaml)).Message;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }
}
