using System.IO.Compression;
using Kiln.Api.Query;
using Kiln.Profiles.Pprof;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Query.Tests;

public class ReportTests
{
    private static Profile Simple() => new TestProfile().Sample("main;a;b", 2).Sample("main;c", 1).Profile;

    [Fact]
    public void Top_lists_functions_by_flat_with_recursion_counted_once()
    {
        var profile = new TestProfile().Sample("main;a;b", 2).Sample("main;c", 1).Sample("main;f;f;f", 4).Profile;
        var response = ReportBuilder.Build(ReportType.Top, profile, null, new ReportOptions());
        var top = response.Top;
        Assert.Equal(7, response.Total);
        Assert.Equal("count", top.Unit);
        Assert.Equal(5, top.Reported);
        Assert.Equal(new[] { "f", "b", "c", "main", "a" }, top.List.Select(n => n.Meta.Function.Name));
        Assert.Equal(new long[] { 4, 2, 1, 0, 0 }, top.List.Select(n => n.Flat));
        Assert.Equal(new long[] { 4, 2, 1, 7, 2 }, top.List.Select(n => n.Cumulative));
        var main = top.List[3].Meta;
        Assert.Equal("/usr/bin/app", main.Mapping.File);
        Assert.Equal("abc123", main.Mapping.BuildId);
        Assert.Equal(main.Mapping.Id, main.Location.MappingId);
        Assert.Equal("sys_main", main.Function.SystemName);
        Assert.Equal("main.c", main.Function.Filename);
        Assert.Equal(main.Function.Id, main.Line.FunctionId);
        Assert.Single(main.Location.Lines);
    }

    [Fact]
    public void Top_diff_is_the_cumulative_difference()
    {
        var baseline = new TestProfile().Sample("main;a", 5).Profile;
        var compared = new TestProfile().Sample("main;a", 2).Sample("main;c", 3).Profile;
        var top = ReportBuilder.Build(ReportType.Top, compared, baseline, new ReportOptions()).Top;
        Assert.Equal(-3, top.List.Single(n => n.Meta.Function.Name == "a").Diff);
        Assert.Equal(3, top.List.Single(n => n.Meta.Function.Name == "c").Diff);
        Assert.Equal(0, top.List.Single(n => n.Meta.Function.Name == "main").Diff);
    }

    [Fact]
    public void Callgraph_has_function_nodes_and_call_edges()
    {
        var profile = new TestProfile().Sample("main;a;b", 2).Sample("main;c", 1).Sample("main;a;a", 1).Profile;
        var response = ReportBuilder.Build(ReportType.Callgraph, profile, null, new ReportOptions());
        var graph = response.Callgraph;
        Assert.Equal(4, response.Total);
        Assert.Equal(4, graph.Nodes.Count);
        var byId = graph.Nodes.ToDictionary(n => n.Id, n => n.Meta.Function.Name);
        var edges = graph.Edges.ToDictionary(e => byId[e.Source] + "->" + byId[e.Target], e => e.Cumulative);
        Assert.Equal(new Dictionary<string, long> { ["main->a"] = 3, ["a->b"] = 2, ["main->c"] = 1, ["a->a"] = 1 }, edges);
        var a = graph.Nodes.Single(n => n.Meta.Function.Name == "a");
        Assert.Equal(3, a.Cumulative);
        Assert.Equal(1, a.Flat);
#pragma warning disable CS0612, CS0618
        Assert.Equal(4, graph.Cumulative);
#pragma warning restore CS0612, CS0618
    }

    [Fact]
    public void Table_arrow_has_parca_columns_and_values()
    {
        var profile = new TestProfile().Sample("main;a;b", 2).Sample("main;c", 1).Sample("main;f;f", 4).Profile;
        var response = ReportBuilder.Build(ReportType.TableArrow, profile, null, new ReportOptions());
        Assert.Equal("count", response.TableArrow.Unit);
        var t = new ArrowRead(response.TableArrow.Record.ToByteArray());
        Assert.Equal(
            ["mapping_file", "mapping_build_id", "location_address", "location_line", "function_startline", "function_name",
             "function_system_name", "function_file_name", "cumulative", "cumulative_diff", "flat", "flat_diff", "callers", "callees"],
            t.Batch.Schema.FieldsList.Select(f => f.Name));
        Assert.Equal(5, t.Rows);
        var f = t.RowOf("f");
        Assert.Equal(0, f);
        Assert.Equal(4, t.Num("flat", f));
        Assert.Equal(4, t.Num("cumulative", f));
        var main = t.RowOf("main");
        Assert.Equal(7, t.Num("cumulative", main));
        Assert.Equal(0, t.Num("flat", main));
        Assert.Empty(t.List("callers", main));
        Assert.Equal(new long[] { t.RowOf("a"), t.RowOf("c"), f }.Order(), t.List("callees", main).Order());
        Assert.Equal(new long[] { main }, t.List("callers", t.RowOf("a")));
        Assert.Equal("/usr/bin/app", t.Str("mapping_file", main));
    }

    [Fact]
    public void Pprof_report_is_the_filtered_profile()
    {
        var options = new ReportOptions
        {
            Filters = [new Filter { StackFilter = new StackFilter { Criteria = new FilterCriteria { FunctionName = new StringCondition { Equal = "b" } } } }],
        };
        var response = ReportBuilder.Build(ReportType.Pprof, Simple(), null, options);
        Assert.Equal(2, response.Total);
        Assert.Equal(1, response.Filtered);
        using var gzip = new GZipStream(new MemoryStream(response.Pprof.ToByteArray()), CompressionMode.Decompress);
        var decoded = Profile.Parser.ParseFrom(gzip);
        var sample = Assert.Single(decoded.Sample);
        Assert.Equal(2, sample.Value.Single());
        string Name(ulong location) =>
            decoded.StringTable[(int)decoded.Function.Single(fn => fn.Id == decoded.Location.Single(l => l.Id == location).Line[0].FunctionId).Name];
        Assert.Equal(new[] { "b", "a", "main" }, sample.LocationId.Select(Name));
        Assert.Equal("samples", decoded.StringTable[(int)decoded.SampleType.Single().Type]);
    }

    [Fact]
    public void Profile_metadata_lists_mapping_files_and_label_keys()
    {
        var profile = new TestProfile().Sample("main", 1, ("thread_id", "1"), ("comm", "app")).Profile;
        var response = ReportBuilder.Build(ReportType.ProfileMetadata, profile, null, new ReportOptions());
        Assert.Equal(new[] { "/usr/bin/app" }, response.ProfileMetadata.MappingFiles);
        Assert.Equal(new[] { "comm", "thread_id" }, response.ProfileMetadata.Labels);
        Assert.Equal(0, response.Total);
    }

    [Theory]
    [InlineData(ReportType.Source)]
    [InlineData(ReportType.Flamechart)]
    [InlineData(ReportType.FlamegraphTable)]
    [InlineData((ReportType)0)]
    [InlineData((ReportType)42)]
    public void Unsupported_report_types_are_refused(ReportType type)
    {
        var ex = Assert.Throws<ArgumentException>(() => ReportBuilder.Build(type, Simple(), null, new ReportOptions()));
        Assert.False(string.IsNullOrEmpty(ex.Message));
    }

    [Fact]
    public void Sample_type_defaults_to_default_sample_type_then_the_last()
    {
        var t = new TestProfile("alloc_objects", "count");
        t.Profile.SampleType.Add(new Kiln.Profiles.Pprof.ValueType { Type = t.Str("alloc_space"), Unit = t.Str("bytes") });
        t.Sample("main", 1);
        t.Profile.Sample[0].Value.Add(4096);
        Assert.Equal(4096, ReportBuilder.Build(ReportType.Top, t.Profile, null, new ReportOptions()).Total);
        Assert.Equal("bytes", ReportBuilder.Build(ReportType.Top, t.Profile, null, new ReportOptions()).Top.Unit);
        t.Profile.DefaultSampleType = t.Str("alloc_objects");
        Assert.Equal(1, ReportBuilder.Build(ReportType.Top, t.Profile, null, new ReportOptions()).Total);
        Assert.Equal(4096, ReportBuilder.Build(ReportType.Top, t.Profile, null, new ReportOptions { SampleTypeIndex = 1 }).Total);
        Assert.Throws<ArgumentException>(() => ReportBuilder.Build(ReportType.Top, t.Profile, null, new ReportOptions { SampleTypeIndex = 2 }));
    }
}
