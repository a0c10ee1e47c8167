using Kiln.Api.Query;
using Kiln.Profiles.Pprof;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Query.Tests;

public class FilterTests
{
    private static Profile Simple() => new TestProfile().Sample("main;a;b", 2).Sample("main;c", 1).Profile;

    private static Filter Stack(FilterCriteria criteria) => new() { StackFilter = new StackFilter { Criteria = criteria } };

    private static Filter Frame(FilterCriteria criteria) => new() { FrameFilter = new FrameFilter { Criteria = criteria } };

    private static (QueryResponse Response, ArrowRead Arrow) Run(params Filter[] filters)
    {
        var response = ReportBuilder.Build(ReportType.FlamegraphArrow, Simple(), null, new ReportOptions { Filters = filters });
        return (response, new ArrowRead(response.FlamegraphArrow.Record.ToByteArray()));
    }

    private static string?[] Names(ArrowRead a) => Enumerable.Range(1, a.Rows - 1).Select(r => a.Str("function_name", r)).ToArray();

    [Fact]
    public void Stack_filter_contains_keeps_matching_stacks_and_reports_filtered()
    {
        var (response, a) = Run(Stack(new FilterCriteria { FunctionName = new StringCondition { Contains = "C" } }));
        Assert.Equal(1, response.Total);
        Assert.Equal(2, response.Filtered);
        Assert.Equal(new[] { "main", "c" }, Names(a));
        Assert.Equal(1, a.Num("cumulative", 0));
    }

    [Fact]
    public void Stack_filter_negative_condition_must_hold_for_every_frame()
    {
        var (response, a) = Run(Stack(new FilterCriteria { FunctionName = new StringCondition { NotEqual = "b" } }));
        Assert.Equal(1, response.Total);
        Assert.Equal(new[] { "main", "c" }, Names(a));
    }

    [Fact]
    public void Stack_filter_requires_every_set_criterion()
    {
        var (response, _) = Run(Stack(new FilterCriteria
        {
            FunctionName = new StringCondition { StartsWith = "ma" },
            Binary = new StringCondition { Equal = "other" },
        }));
        Assert.Equal(0, response.Total);
        Assert.Equal(3, response.Filtered);

        var (kept, _) = Run(Stack(new FilterCriteria
        {
            FunctionName = new StringCondition { Equal = "b" },
            Binary = new StringCondition { Equal = "app" },
        }));
        Assert.Equal(2, kept.Total);
    }

    [Fact]
    public void Deprecated_function_name_stack_filter_supports_exclude()
    {
#pragma warning disable CS0612, CS0618
        var include = new Filter { StackFilter = new StackFilter { FunctionNameStackFilter = new FunctionNameStackFilter { FunctionToFilter = "b" } } };
        var exclude = new Filter { StackFilter = new StackFilter { FunctionNameStackFilter = new FunctionNameStackFilter { FunctionToFilter = "b", Exclude = true } } };
#pragma warning restore CS0612, CS0618
        Assert.Equal(2, Run(include).Response.Total);
        Assert.Equal(1, Run(exclude).Response.Total);
    }

    [Fact]
    public void Frame_filter_removes_frames_but_keeps_samples()
    {
        var (response, a) = Run(Frame(new FilterCriteria { FunctionName = new StringCondition { NotEqual = "a" } }));
        Assert.Equal(3, response.Total);
        Assert.Equal(0, response.Filtered);
        Assert.Equal(new[] { "main", "b", "c" }, Names(a));
        Assert.Equal(2, a.Num("flat", a.RowOf("b")));
        Assert.Equal(1, a.Num("depth", a.RowOf("main")));
        Assert.Equal(2, a.Num("depth", a.RowOf("b")));
    }

    [Fact]
    public void Deprecated_binary_frame_filter_keeps_frames_of_listed_binaries()
    {
#pragma warning disable CS0612, CS0618
        var keepApp = new Filter { FrameFilter = new FrameFilter { BinaryFrameFilter = new BinaryFrameFilter { IncludeBinaries = { "libc", "app" } } } };
        var keepLibc = new Filter { FrameFilter = new FrameFilter { BinaryFrameFilter = new BinaryFrameFilter { IncludeBinaries = { "libc" } } } };
#pragma warning restore CS0612, CS0618
        var (response, a) = Run(keepApp);
        Assert.Equal(3, response.Total);
        Assert.Equal(5, a.Rows);
        var (_, none) = Run(keepLibc);
        Assert.Equal(1, none.Rows);
        Assert.Equal(3, none.Num("cumulative", 0));
    }

    [Fact]
    public void Address_and_line_conditions_match_numbers()
    {
        var profile = new TestProfile().Sample("main;a@2000", 1).Sample("main;c", 5).Profile;
        var options = new ReportOptions { Filters = [Stack(new FilterCriteria { Address = new NumberCondition { Equal = 0x2000 } })] };
        Assert.Equal(1, ReportBuilder.Build(ReportType.Top, profile, null, options).Total);

        var line = profile.Location.First(l => l.Address == 0x2000).Line[0].Line_;
        var byLine = new ReportOptions { Filters = [Stack(new FilterCriteria { LineNumber = new NumberCondition { NotEqual = (ulong)line } })] };
        Assert.Equal(5, ReportBuilder.Build(ReportType.Top, profile, null, byLine).Total);
    }
}
