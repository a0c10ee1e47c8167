using Kiln.Api.Query;

namespace Kiln.Query;

/// <summary>
/// Applies Parca's <see cref="Filter"/> list to a <see cref="StackSet"/>, following parca pkg/query/columnquery.go:
/// string conditions compare case-insensitively; a stack filter keeps a sample when, for every set criterion, a
/// positive condition (equal, contains, starts_with) matches some frame or a negative one (not_*) holds for all
/// frames that carry the field; several stack filters must all hold. Frame filters drop the frames (lines) that
/// do not match all frame criteria but keep the sample. The deprecated filters are translated as Parca does:
/// function_name_stack_filter becomes a contains / not_contains function-name criterion.
/// </summary>
internal static class ProfileFilter
{
    public static void Apply(StackSet set, IReadOnlyList<Filter> filters)
    {
        if (filters.Count == 0)
        {
            return;
        }
        var stackCriteria = new List<FilterCriteria>();
        var frameCriteria = new List<FilterCriteria>();
        var binaryIncludes = new List<string>();
        foreach (var filter in filters)
        {
            switch (filter.FilterCase)
            {
                case Filter.FilterOneofCase.StackFilter:
                    AddStackFilter(filter.StackFilter, stackCriteria);
                    break;
                case Filter.FilterOneofCase.FrameFilter:
                    AddFrameFilter(filter.FrameFilter, frameCriteria, binaryIncludes);
                    break;
                case Filter.FilterOneofCase.None:
                    break;
                default:
                    throw new ArgumentException($"Unsupported filter kind {filter.FilterCase}.");
            }
        }

        var frames = set.Frames;
        if (frameCriteria.Count > 0 || binaryIncludes.Count > 0)
        {
            for (var f = 0; f < frames.Count; f++)
            {
                var frame = frames[f];
                var keep = true;
                foreach (var criteria in frameCriteria)
                {
                    if (!FrameMatches(set, frame, criteria))
                    {
                        keep = false;
                        break;
                    }
                }
                if (keep && binaryIncludes.Count > 0)
                {
                    keep = BinaryIncluded(set, frame, binaryIncludes);
                }
                if (!keep)
                {
                    set.DropFrame(f);
                }
            }
        }

        if (stackCriteria.Count == 0)
        {
            return;
        }
        // Each (criterion, field) is evaluated once per distinct frame; a sample then only combines cached answers.
        var checks = new List<FieldCheck>();
        foreach (var criteria in stackCriteria)
        {
            AddChecks(set, criteria, checks);
        }
        var buffer = new int[64];
        for (var s = 0; s < set.SampleCount; s++)
        {
            if (!set.IsSampleKept(s))
            {
                continue;
            }
            var n = set.CopyFrames(s, ref buffer, rootFirst: false);
            var stack = buffer.AsSpan(0, n);
            foreach (var check in checks)
            {
                if (!check.Holds(stack))
                {
                    set.DropSample(s);
                    break;
                }
            }
        }
    }

    /// <summary>
    /// One field of one stack criterion. <see cref="_state"/> holds per frame -1 (the frame lacks the field),
    /// 0 (condition fails) or 1 (condition holds).
    /// </summary>
    private sealed class FieldCheck(sbyte[] state, bool negative)
    {
        private readonly sbyte[] _state = state;
        private readonly bool _negative = negative;

        public bool Holds(ReadOnlySpan<int> frames)
        {
            foreach (var f in frames)
            {
                var v = _state[f];
                if (!_negative && v == 1)
                {
                    return true;
                }
                if (_negative && v == 0)
                {
                    return false;
                }
            }
            return _negative;
        }
    }

    private static void AddChecks(StackSet set, FilterCriteria criteria, List<FieldCheck> checks)
    {
        var frames = set.Frames;
        var strings = set.Strings;
        void AddString(StringCondition? condition, Func<FrameInfo, string?> field)
        {
            if (condition is null)
            {
                return;
            }
            var state = new sbyte[frames.Count];
            for (var f = 0; f < state.Length; f++)
            {
                var value = field(frames[f]);
                state[f] = value is null ? (sbyte)-1 : Matches(value, condition) ? (sbyte)1 : (sbyte)0;
            }
            checks.Add(new FieldCheck(state, IsNegative(condition)));
        }
        void AddNumber(NumberCondition? condition, Func<FrameInfo, ulong?> field)
        {
            if (condition is null)
            {
                return;
            }
            var state = new sbyte[frames.Count];
            for (var f = 0; f < state.Length; f++)
            {
                var value = field(frames[f]);
                state[f] = value is null ? (sbyte)-1 : Matches(value.Value, condition) ? (sbyte)1 : (sbyte)0;
            }
            checks.Add(new FieldCheck(state, condition.ConditionCase == NumberCondition.ConditionOneofCase.NotEqual));
        }

        AddString(criteria.FunctionName, f => f.Symbolized ? strings[f.Name] : null);
        AddString(criteria.SystemName, f => f.Symbolized ? strings[f.SystemName] : null);
        AddString(criteria.Filename, f => f.Symbolized ? strings[f.FileName] : null);
        AddString(criteria.Binary, f => f.Mapping >= 0 ? BaseName(strings[set.Mappings[f.Mapping].File]) : null);
        AddNumber(criteria.Address, f => f.Address);
        AddNumber(criteria.LineNumber, f => f.Symbolized ? (ulong)f.Line : null);
    }

    private static void AddStackFilter(StackFilter filter, List<FilterCriteria> criteria)
    {
        switch (filter.FilterCase)
        {
            case StackFilter.FilterOneofCase.Criteria:
                criteria.Add(filter.Criteria);
                break;
#pragma warning disable CS0612, CS0618 // The deprecated filter is still sent by older Parca UIs.
            case StackFilter.FilterOneofCase.FunctionNameStackFilter:
                var legacy = filter.FunctionNameStackFilter;
                var condition = legacy.Exclude
                    ? new StringCondition { NotContains = legacy.FunctionToFilter }
                    : new StringCondition { Contains = legacy.FunctionToFilter };
#pragma warning restore CS0612, CS0618
                criteria.Add(new FilterCriteria { FunctionName = condition });
                break;
            case StackFilter.FilterOneofCase.None:
                break;
            default:
                throw new ArgumentException($"Unsupported stack filter kind {filter.FilterCase}.");
        }
    }

    private static void AddFrameFilter(FrameFilter filter, List<FilterCriteria> criteria, List<string> binaryIncludes)
    {
        switch (filter.FilterCase)
        {
            case FrameFilter.FilterOneofCase.Criteria:
                criteria.Add(filter.Criteria);
                break;
#pragma warning disable CS0612, CS0618 // The deprecated filter is still sent by older Parca UIs.
            case FrameFilter.FilterOneofCase.BinaryFrameFilter:
                // Parca turns every listed binary into its own (AND-ed) contains criterion, so two binaries can
                // never both match; "include these binaries" is honoured here as a union instead.
                binaryIncludes.AddRange(filter.BinaryFrameFilter.IncludeBinaries);
#pragma warning restore CS0612, CS0618
                break;
            case FrameFilter.FilterOneofCase.None:
                break;
            default:
                throw new ArgumentException($"Unsupported frame filter kind {filter.FilterCase}.");
        }
    }

    private static bool BinaryIncluded(StackSet set, FrameInfo frame, List<string> includes)
    {
        if (frame.Mapping < 0)
        {
            return false;
        }
        var binary = BaseName(set.Strings[set.Mappings[frame.Mapping].File]);
        foreach (var include in includes)
        {
            if (binary.Contains(include, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Frame filter: every set field must match; fields a frame cannot have (names of an unsymbolized frame) are skipped.</summary>
    private static bool FrameMatches(StackSet set, FrameInfo frame, FilterCriteria criteria)
    {
        var strings = set.Strings;
        if (frame.Symbolized)
        {
            if (criteria.FunctionName is { } fn && !Matches(strings[frame.Name], fn))
            {
                return false;
            }
            if (criteria.SystemName is { } sys && !Matches(strings[frame.SystemName], sys))
            {
                return false;
            }
            if (criteria.Filename is { } file && !Matches(strings[frame.FileName], file))
            {
                return false;
            }
            if (criteria.LineNumber is { } line && !Matches((ulong)frame.Line, line))
            {
                return false;
            }
        }
        if (criteria.Binary is { } bin && frame.Mapping >= 0
            && !Matches(BaseName(strings[set.Mappings[frame.Mapping].File]), bin))
        {
            return false;
        }
        if (criteria.Address is { } address && !Matches(frame.Address, address))
        {
            return false;
        }
        return true;
    }

    internal static string BaseName(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash >= 0 ? path[(slash + 1)..] : path;
    }

    internal static bool IsNegative(StringCondition condition) => condition.ConditionCase is
        StringCondition.ConditionOneofCase.NotEqual or
        StringCondition.ConditionOneofCase.NotContains or
        StringCondition.ConditionOneofCase.NotStartsWith;

    internal static bool Matches(string value, StringCondition condition) => condition.ConditionCase switch
    {
        StringCondition.ConditionOneofCase.Equal => value.Equals(condition.Equal, StringComparison.OrdinalIgnoreCase),
        StringCondition.ConditionOneofCase.NotEqual => !value.Equals(condition.NotEqual, StringComparison.OrdinalIgnoreCase),
        StringCondition.ConditionOneofCase.Contains => value.Contains(condition.Contains, StringComparison.OrdinalIgnoreCase),
        StringCondition.ConditionOneofCase.NotContains => !value.Contains(condition.NotContains, StringComparison.OrdinalIgnoreCase),
        StringCondition.ConditionOneofCase.StartsWith => value.StartsWith(condition.StartsWith, StringComparison.OrdinalIgnoreCase),
        StringCondition.ConditionOneofCase.NotStartsWith => !value.StartsWith(condition.NotStartsWith, StringComparison.OrdinalIgnoreCase),
        _ => true,
    };

    internal static bool Matches(ulong value, NumberCondition condition) => condition.ConditionCase switch
    {
        NumberCondition.ConditionOneofCase.Equal => value == condition.Equal,
        NumberCondition.ConditionOneofCase.NotEqual => value != condition.NotEqual,
        _ => true,
    };
}
