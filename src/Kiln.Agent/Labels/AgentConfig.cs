using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Kiln.Agent.Labels;

/// <summary>
/// The agent's configuration file (<c>--config-path</c>), in Parca agent's format: a YAML mapping whose only key is
/// <c>relabel_configs</c>, a list of Prometheus relabel rules applied to every profile's labels.
/// </summary>
public sealed class AgentConfig
{
    private const string RelabelConfigsKey = "relabel_configs";

    private static readonly string[] s_ruleKeys = ["source_labels", "separator", "target_label", "regex", "modulus", "replacement", "action"];

    /// <summary>The empty configuration: no relabeling.</summary>
    public static AgentConfig Empty { get; } = new([]);

    private AgentConfig(IReadOnlyList<RelabelRule> relabelConfigs) => RelabelConfigs = relabelConfigs;

    /// <summary>The relabel rules in file order, validated and compiled.</summary>
    public IReadOnlyList<RelabelRule> RelabelConfigs { get; }

    /// <summary>
    /// Reads and validates the file at <paramref name="path"/>. Throws <see cref="ConfigException"/> naming the path
    /// and, for a bad rule, its line and column, index, field and value. An empty file has no rules.
    /// </summary>
    public static AgentConfig Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ConfigException($"{path}: config file not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"{path}: cannot read config file: {e.Message}", e);
        }
        return Parse(text, path);
    }

    /// <summary>Parses configuration text; <paramref name="source"/> names it in error messages (usually the file path).</summary>
    public static AgentConfig Parse(string yaml, string source)
    {
        var stream = new YamlStream();
        var parser = new PositionTrackingParser(new Parser(new StringReader(yaml)));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException e)
        {
            throw new ConfigException($"{source}:{e.Start.Line}:{e.Start.Column}: invalid YAML: {YamlReason(e)}", e);
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet's scanner fails this way on some malformed input (e.g. an unclosed flow sequence): report
            // it after the last construct that parsed.
            throw new ConfigException(
                $"{source}:{parser.LastGood.Line}:{parser.LastGood.Column}: invalid YAML: cannot parse what follows here " +
                "(an unclosed [ or {, or a bad indentation?)", e);
        }
        if (stream.Documents.Count == 0)
            return Empty;
        if (stream.Documents.Count > 1)
            throw Error(source, stream.Documents[1].RootNode, "expected one YAML document, found more");
        var root = stream.Documents[0].RootNode;
        if (IsNull(root))
            return Empty;
        if (root is not YamlMappingNode top)
            throw Error(source, root, $"expected a mapping with the key {RelabelConfigsKey} at the top level");

        IReadOnlyList<RelabelRule> rules = [];
        foreach (var (keyNode, valueNode) in top.Children)
        {
            var key = KeyName(source, keyNode, "the top level");
            if (key != RelabelConfigsKey)
                throw Error(source, keyNode, $"unknown field \"{key}\" at the top level; expected {RelabelConfigsKey}");
            rules = ParseRules(source, valueNode);
        }
        return new AgentConfig(rules);
    }

    private static List<RelabelRule> ParseRules(string source, YamlNode node)
    {
        if (IsNull(node))
            return [];
        if (node is not YamlSequenceNode list)
            throw Error(source, node, $"{RelabelConfigsKey} must be a list of rules");
        var rules = new List<RelabelRule>(list.Children.Count);
        for (var i = 0; i < list.Children.Count; i++)
            rules.Add(ParseRule(source, list.Children[i], $"{RelabelConfigsKey}[{i}]"));
        return rules;
    }

    private static RelabelRule ParseRule(string source, YamlNode node, string where)
    {
        if (node is not YamlMappingNode map)
            throw Error(source, node, $"{where}: expected a mapping of {string.Join(", ", s_ruleKeys)}");

        var fields = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        List<string>? sourceLabels = null;
        string separator = RelabelRule.DefaultSeparator, targetLabel = "", regex = RelabelRule.DefaultRegex;
        string replacement = RelabelRule.DefaultReplacement;
        ulong modulus = 0;
        var action = RelabelAction.Replace;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = KeyName(source, keyNode, where);
            fields[key] = value;
            var at = $"{where}.{key}";
            switch (key)
            {
                case "source_labels":
                    sourceLabels = StringList(source, value, at);
                    break;
                case "separator":
                    separator = Scalar(source, value, at);
                    break;
                case "target_label":
                    targetLabel = Scalar(source, value, at);
                    break;
                case "regex":
                    regex = Scalar(source, value, at);
                    break;
                case "replacement":
                    replacement = Scalar(source, value, at);
                    break;
                case "modulus":
                    var text = Scalar(source, value, at);
                    if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out modulus))
                        throw Error(source, value, $"{at}: \"{text}\" is not a non-negative integer");
                    break;
                case "action":
                    var name = Scalar(source, value, at);
                    if (!RelabelRule.TryParseAction(name, out action))
                        throw Error(source, value, $"{at}: unknown action \"{name}\"; expected one of {RelabelRule.ActionNames}");
                    break;
                default:
                    throw Error(source, keyNode, $"{where}: unknown field \"{key}\"; expected one of {string.Join(", ", s_ruleKeys)}");
            }
        }
        try
        {
            return new RelabelRule(action, sourceLabels, separator, targetLabel, regex, modulus, replacement);
        }
        catch (RelabelFieldException e)
        {
            // Point at the offending value when the file has it, else at the rule (a required field is missing).
            throw Error(source, fields.GetValueOrDefault(e.Field) ?? node, $"{where}.{e.Field}: {e.Reason}", e);
        }
    }

    private static string KeyName(string source, YamlNode key, string where) =>
        key is YamlScalarNode { Value: { } name } && !IsNull(key)
            ? name
            : throw Error(source, key, $"{where}: field names must be plain strings");

    // A field written with no value ("regex:") is refused rather than guessed at: "" and the default differ.
    private static string Scalar(string source, YamlNode node, string at)
    {
        if (IsNull(node))
            throw Error(source, node, $"{at}: no value; write '' for an empty string");
        if (node is not YamlScalarNode { Value: { } value })
            throw Error(source, node, $"{at}: expected a string, found a {Kind(node)}");
        return value;
    }

    private static List<string> StringList(string source, YamlNode node, string at)
    {
        if (IsNull(node))
            return [];
        if (node is not YamlSequenceNode list)
            throw Error(source, node, $"{at}: expected a list of label names, e.g. [comm], found a {Kind(node)}");
        var values = new List<string>(list.Children.Count);
        for (var i = 0; i < list.Children.Count; i++)
            values.Add(Scalar(source, list.Children[i], $"{at}[{i}]"));
        return values;
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode scalar
        && (scalar.Tag.ToString() == "tag:yaml.org,2002:null"
            || ((scalar.Style is ScalarStyle.Plain or ScalarStyle.Any) && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL"));

    private static string Kind(YamlNode node) => node switch
    {
        YamlMappingNode => "mapping",
        YamlSequenceNode => "list",
        _ => "scalar",
    };

    // YamlDotNet prefixes its messages with "(Line: l, Col: c, Idx: i) - (Line: …): "; the position is given separately.
    private static string YamlReason(YamlException e)
    {
        var message = e.Message;
        var prefix = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line:", StringComparison.Ordinal) && prefix >= 0 ? message[(prefix + 3)..] : message;
    }

    /// <summary>Remembers where the last successfully parsed event ended, for errors YamlDotNet reports without a position.</summary>
    private sealed class PositionTrackingParser(IParser inner) : IParser
    {
        public Mark LastGood { get; private set; } = Mark.Empty;

        public ParsingEvent Current => inner.Current!;

        public bool MoveNext()
        {
            var moved = inner.MoveNext();
            if (moved && inner.Current is { } current)
                LastGood = current.End;
            return moved;
        }
    }

    private static ConfigException Error(string source, YamlNode node, string message, Exception? inner = null) =>
        new($"{source}:{node.Start.Line}:{node.Start.Column}: {message}", inner);
}

/// <summary>The agent's configuration file is missing, unreadable or invalid; the message says where and why.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException()
    {
    }

    public ConfigException(string message)
        : base(message)
    {
    }

    public ConfigException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
