namespace Kiln.Agent.Labels;

/// <summary>What a relabel rule does, as Prometheus's <c>relabel_configs</c> <c>action</c> names it.</summary>
public enum RelabelAction
{
    /// <summary>Sets <c>target_label</c> to the expanded replacement when the regex matches the joined source value (empty removes it).</summary>
    Replace,

    /// <summary>Drops the profile unless the regex matches the joined source value.</summary>
    Keep,

    /// <summary>Drops the profile when the regex matches the joined source value.</summary>
    Drop,

    /// <summary>Drops the profile unless the joined source value equals the value of <c>target_label</c>.</summary>
    KeepEqual,

    /// <summary>Drops the profile when the joined source value equals the value of <c>target_label</c>.</summary>
    DropEqual,

    /// <summary>Sets <c>target_label</c> to a hash of the joined source value modulo <c>modulus</c>.</summary>
    HashMod,

    /// <summary>Copies every label whose name matches the regex to the name the replacement expands to.</summary>
    LabelMap,

    /// <summary>Removes every label whose name matches the regex.</summary>
    LabelDrop,

    /// <summary>Removes every label whose name does not match the regex.</summary>
    LabelKeep,

    /// <summary>Sets <c>target_label</c> to the joined source value in lower case.</summary>
    Lowercase,

    /// <summary>Sets <c>target_label</c> to the joined source value in upper case.</summary>
    Uppercase,
}

/// <summary>
/// One validated relabeling step with Prometheus <c>relabel_config</c> semantics; the regex is compiled once here.
/// Construction throws <see cref="ArgumentException"/> whose message starts with the YAML field name at fault.
/// </summary>
public sealed class RelabelRule
{
    /// <summary>Default <c>separator</c>.</summary>
    public const string DefaultSeparator = ";";

    /// <summary>Default <c>regex</c>.</summary>
    public const string DefaultRegex = "(.*)";

    /// <summary>Default <c>replacement</c>.</summary>
    public const string DefaultReplacement = "$1";

    private static readonly string[] s_actionNames =
        ["replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase"];

    /// <summary>Validates the fields and compiles the regex.</summary>
    /// <param name="action">The action; the default is <see cref="RelabelAction.Replace"/>.</param>
    /// <param name="sourceLabels">Labels whose values are joined with <paramref name="separator"/> (a missing one counts as "").</param>
    /// <param name="separator">Joins the source values.</param>
    /// <param name="targetLabel">The label written (or compared, for keepequal/dropequal); may hold <c>$</c> references for replace.</param>
    /// <param name="regex">RE2 syntax, anchored at both ends.</param>
    /// <param name="modulus">For hashmod, at least 1.</param>
    /// <param name="replacement">The template expanded for replace and labelmap.</param>
    public RelabelRule(
        RelabelAction action = RelabelAction.Replace,
        IReadOnlyList<string>? sourceLabels = null,
        string separator = DefaultSeparator,
        string targetLabel = "",
        string regex = DefaultRegex,
        ulong modulus = 0,
        string replacement = DefaultReplacement)
    {
        if (!Enum.IsDefined(action))
            throw Field("action", $"unknown action {(int)action}");
        Action = action;
        SourceLabels = sourceLabels is null ? [] : [.. sourceLabels];
        Separator = separator;
        TargetLabel = targetLabel;
        Modulus = modulus;
        Replacement = replacement;
        try
        {
            Pattern = Re2Pattern.Compile(regex);
        }
        catch (ArgumentException e)
        {
            throw Field("regex", $"invalid regex \"{regex}\": {e.Message}");
        }
        Validate();
        TargetHasReferences = targetLabel.Contains('$', StringComparison.Ordinal);
    }

    /// <summary>The action.</summary>
    public RelabelAction Action { get; }

    /// <summary>The labels whose values are joined; empty when none.</summary>
    public IReadOnlyList<string> SourceLabels { get; }

    /// <summary>Joins the source values.</summary>
    public string Separator { get; }

    /// <summary>The target label, or "" when none.</summary>
    public string TargetLabel { get; }

    /// <summary>The regex as written, without the implicit anchors.</summary>
    public string Regex => Pattern.Pattern;

    /// <summary>The hashmod modulus; 0 when none.</summary>
    public ulong Modulus { get; }

    /// <summary>The replacement template.</summary>
    public string Replacement { get; }

    internal Re2Pattern Pattern { get; }

    // replace expands target_label only when it has references; most targets are plain names.
    internal bool TargetHasReferences { get; }

    /// <summary>The configuration name of <paramref name="action"/>, e.g. <c>keepequal</c>.</summary>
    public static string ActionName(RelabelAction action) => s_actionNames[(int)action];

    /// <summary>Parses a configuration action name, ignoring case as Prometheus does.</summary>
    public static bool TryParseAction(string name, out RelabelAction action)
    {
        for (var i = 0; i < s_actionNames.Length; i++)
        {
            if (string.Equals(s_actionNames[i], name, StringComparison.OrdinalIgnoreCase))
            {
                action = (RelabelAction)i;
                return true;
            }
        }
        action = default;
        return false;
    }

    /// <summary>The action names a configuration may use, comma-separated, for error messages.</summary>
    public static string ActionNames => string.Join(", ", s_actionNames);

    private void Validate()
    {
        var name = ActionName(Action);
        foreach (var label in SourceLabels)
        {
            if (!LabelNames.IsValid(label))
                throw Field("source_labels", $"\"{label}\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)");
        }
        switch (Action)
        {
            case RelabelAction.Replace:
                RequireTarget(name);
                if (!Re2Pattern.IsLabelNameTemplate(TargetLabel))
                    throw Field("target_label", $"\"{TargetLabel}\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, may contain $1 or ${{name}} references)");
                break;
            case RelabelAction.HashMod:
                RequireTarget(name);
                RequirePlainTarget();
                if (Modulus == 0)
                    throw Field("modulus", "action hashmod requires a modulus of at least 1");
                break;
            case RelabelAction.Lowercase or RelabelAction.Uppercase:
                RequireTarget(name);
                RequirePlainTarget();
                break;
            case RelabelAction.KeepEqual or RelabelAction.DropEqual:
                RequireTarget(name);
                RequirePlainTarget();
                RejectNonDefault(name, "source_labels and target_label", regex: true, separator: false, replacement: true, modulus: true);
                break;
            case RelabelAction.LabelMap:
                if (!Re2Pattern.IsLabelNameTemplate(Replacement))
                    throw Field("replacement", $"\"{Replacement}\" is not a valid label name for action labelmap ([a-zA-Z_][a-zA-Z0-9_]*, may contain $1 or ${{name}} references)");
                break;
            case RelabelAction.LabelDrop or RelabelAction.LabelKeep:
                if (SourceLabels.Count > 0)
                    throw Field("source_labels", $"not allowed with action {name}, which takes only regex");
                if (TargetLabel.Length > 0)
                    throw Field("target_label", $"not allowed with action {name}, which takes only regex");
                RejectNonDefault(name, "regex", regex: false, separator: true, replacement: true, modulus: true);
                break;
            default:
                break;
        }
    }

    private void RequireTarget(string action)
    {
        if (TargetLabel.Length == 0)
            throw Field("target_label", $"action {action} requires target_label");
    }

    private void RequirePlainTarget()
    {
        if (!LabelNames.IsValid(TargetLabel))
            throw Field("target_label", $"\"{TargetLabel}\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    }

    private void RejectNonDefault(string action, string allowed, bool regex, bool separator, bool replacement, bool modulus)
    {
        var only = $"not allowed with action {action}, which takes only {allowed}";
        if (regex && Regex != DefaultRegex)
            throw Field("regex", only);
        if (separator && Separator != DefaultSeparator)
            throw Field("separator", only);
        if (replacement && Replacement != DefaultReplacement)
            throw Field("replacement", only);
        if (modulus && Modulus != 0)
            throw Field("modulus", only);
    }

    private static RelabelFieldException Field(string field, string reason) => new(field, reason);
}

/// <summary>A relabel rule field is invalid; <see cref="Exception.Message"/> is "field: reason".</summary>
public sealed class RelabelFieldException : ArgumentException
{
    /// <summary>Creates the exception for <paramref name="field"/> (the YAML key) and <paramref name="reason"/>.</summary>
    public RelabelFieldException(string field, string reason)
        : base($"{field}: {reason}")
    {
        Field = field;
        Reason = reason;
    }

    public RelabelFieldException()
    {
        Field = "";
        Reason = "";
    }

    public RelabelFieldException(string message)
        : base(message)
    {
        Field = "";
        Reason = message;
    }

    public RelabelFieldException(string message, Exception innerException)
        : base(message, innerException)
    {
        Field = "";
        Reason = message;
    }

    /// <summary>The YAML key at fault, e.g. <c>regex</c>.</summary>
    public string Field { get; }

    /// <summary>What is wrong with it, naming the bad value.</summary>
    public string Reason { get; }
}
