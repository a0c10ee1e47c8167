using Apache.Arrow;
using Apache.Arrow.Types;
using Kiln.Api.Query;
using Kiln.Profiles.Pprof;
using ReportType = Kiln.Api.Query.QueryRequest.Types.ReportType;

namespace Kiln.Query.Tests;

public class FlamegraphArrowTests
{
    // main→a→b 2 samples, main→c 1 sample.
    private static Profile Simple() => new TestProfile().Sample("main;a;b", 2).Sample("main;c", 1).Profile;

    private static (QueryResponse Response, ArrowRead Arrow) Build(Profile profile, ReportOptions? options = null, Profile? baseline = null)
    {
        var response = ReportBuilder.Build(ReportType.FlamegraphArrow, profile, baseline, options ?? new ReportOptions());
        Assert.Equal(QueryResponse.ReportOneofCase.FlamegraphArrow, response.ReportCase);
        return (response, new ArrowRead(response.FlamegraphArrow.Record.ToByteArray()));
    }

    [Fact]
    public void Schema_has_the_types_grafana_asserts_on()
    {
        var (_, arrow) = Build(Simple());
        var schema = arrow.Batch.Schema;
        var children = Assert.IsType<ListType>(schema.GetFieldByName("children").DataType);
        Assert.IsType<UInt32Type>(children.ValueDataType);
        Assert.IsType<UInt8Type>(schema.GetFieldByName("cumulative").DataType);
        foreach (var name in new[] { "mapping_file", "mapping_build_id", "function_name", "function_system_name", "function_file_name" })
        {
            var dict = Assert.IsType<DictionaryType>(schema.GetFieldByName(name).DataType);
            // A handful of strings: one-byte indices.
            Assert.IsType<Int8Type>(dict.IndexType);
            Assert.IsType<BinaryType>(dict.ValueType);
        }
        Assert.IsType<UInt64Type>(schema.GetFieldByName("location_address").DataType);
        Assert.IsType<BooleanType>(schema.GetFieldByName("labels_only").DataType);
        Assert.IsType<BooleanType>(schema.GetFieldByName("inlined").DataType);
        Assert.IsType<Int64Type>(schema.GetFieldByName("location_line").DataType);
        Assert.IsType<Int64Type>(schema.GetFieldByName("function_startline").DataType);
        Assert.IsType<Int32Type>(schema.GetFieldByName("parent").DataType);
        Assert.IsType<Int64Type>(schema.GetFieldByName("timestamp").DataType);
        Assert.IsType<Int8Type>(schema.GetFieldByName("diff").DataType);
        Assert.IsType<UInt8Type>(schema.GetFieldByName("depth").DataType);
        Assert.IsType<UInt8Type>(schema.GetFieldByName("value_offset").DataType);
        Assert.Equal(
            ["labels_only", "location_address", "mapping_file", "mapping_build_id", "location_line", "inlined",
             "function_startline", "function_name", "function_system_name", "function_file_name", "children", "parent",
             "cumulative", "flat", "diff", "timestamp", "depth", "value_offset"],
            schema.FieldsList.Select(f => f.Name));
    }

    [Fact]
    public void Known_profile_gives_exact_nodes()
    {
        var (response, a) = Build(Simple());
        Assert.Equal(3, response.Total);
        Assert.Equal(0, response.Filtered);
        Assert.Equal("count", response.FlamegraphArrow.Unit);
        Assert.Equal(4, response.FlamegraphArrow.Height);
        Assert.Equal(0, response.FlamegraphArrow.Trimmed);
        Assert.Equal(5, a.Rows);

        // Depth-first rows (a subtree follows its node); siblings by name: root, main, a, b, c.
        Assert.Null(a.Str("function_name", 0));
        Assert.Equal(3, a.Num("cumulative", 0));
        Assert.Equal(-1, a.Num("parent", 0));
        Assert.Equal(new long[] { 1 }, a.List("children", 0));
        Assert.Equal(new[] { "main", "a", "b", "c" }, Enumerable.Range(1, 4).Select(r => a.Str("function_name", r)));
        Assert.Equal(new long?[] { 3, 2, 2, 1 }, Enumerable.Range(1, 4).Select(r => a.Num("cumulative", r)));
        Assert.Equal(new long?[] { 0, 0, 0, 2, 1 }, Enumerable.Range(0, 5).Select(r => a.Num("flat", r)));
        Assert.Equal(new long[] { 2, 4 }, a.List("children", 1));
        Assert.Equal(new long[] { 3 }, a.List("children", 2));
        Assert.Empty(a.List("children", 3));
        Assert.Empty(a.List("children", 4));
        Assert.Equal(new long?[] { -1, 0, 1, 2, 1 }, Enumerable.Range(0, 5).Select(r => a.Num("parent", r)));
        Assert.Equal(new long?[] { 0, 1, 2, 3, 2 }, Enumerable.Range(0, 5).Select(r => a.Num("depth", r)));
        Assert.Equal(new long?[] { 0, 0, 0, 0, 2 }, Enumerable.Range(0, 5).Select(r => a.Num("value_offset", r)));
        Assert.Equal("/usr/bin/app", a.Str("mapping_file", 1));
        Assert.Equal("abc123", a.Str("mapping_build_id", 1));
        Assert.Equal("sys_main", a.Str("function_system_name", 1));
        Assert.Equal("main.c", a.Str("function_file_name", 1));
        Assert.Equal(5, a.Num("function_startline", 1));
        Assert.False(a.Bool("inlined", 1));
        Assert.False(a.Bool("labels_only", 1));
        Assert.Null(a.Num("location_address", 0));
        Assert.NotNull(a.Num("location_address", 1));
    }

    [Theory]
    [InlineData(128, typeof(Int8Type))]
    [InlineData(129, typeof(Int16Type))]
    [InlineData(32_768, typeof(Int16Type))]
    [InlineData(32_769, typeof(Int32Type))]
    public void Dictionary_indices_are_the_narrowest_signed_type_that_numbers_the_dictionary(int names, Type indexType)
    {
        // main plus names - 1 leaves under it: exactly `names` distinct function names.
        var profile = new TestProfile();
        for (var i = 1; i < names; i++)
        {
            profile.Sample($"main;f{i:D5}", i);
        }
        var (_, a) = Build(profile.Profile);
        var dict = Assert.IsType<DictionaryType>(a.Batch.Schema.GetFieldByName("function_name").DataType);
        Assert.IsType(indexType, dict.IndexType);
        Assert.Equal(names, ((DictionaryArray)a.Column("function_name")).Dictionary.Length);
        Assert.Null(a.Str("function_name", 0));
        Assert.Equal("main", a.Str("function_name", 1));
        // Siblings by name: the last row is the last name, whose index is the dictionary's last.
        Assert.Equal($"f{names - 1:D5}", a.Str("function_name", a.Rows - 1));
        Assert.Equal(names - 1, a.Num("cumulative", a.Rows - 1));
    }

    [Fact]
    public void Values_are_narrowed_to_the_smallest_unsigned_width()
    {
        var (_, small) = Build(new TestProfile().Sample("main;a", 300).Profile);
        Assert.IsType<UInt16Array>(small.Column("cumulative"));
        Assert.IsType<UInt16Array>(small.Column("flat"));
        Assert.IsType<UInt16Array>(small.Column("value_offset"));
        var (_, large) = Build(new TestProfile().Sample("main;a", 70_000).Profile);
        Assert.IsType<UInt32Array>(large.Column("cumulative"));
        Assert.Equal(70_000, large.Num("cumulative", 0));
        var (_, huge) = Build(new TestProfile().Sample("main", 5_000_000_000).Profile);
        Assert.IsType<UInt64Array>(huge.Column("cumulative"));
        Assert.Equal(5_000_000_000, huge.Num("cumulative", 1));
    }

    [Fact]
    public void Diff_scales_the_smaller_profile_unless_absolute()
    {
        var baseline = new TestProfile().Sample("main;a", 2).Sample("main;d", 1).Profile;
        var compared = new TestProfile().Sample("main;a", 3).Sample("main;c", 3).Profile;

        var (response, r) = Build(compared, baseline: baseline);
        Assert.Equal(6, response.Total);
        Assert.IsType<Int8Array>(r.Column("diff"));
        // total(b)=6, total(a)=3: the baseline's diff contribution is doubled.
        Assert.Equal(0, r.Num("diff", 0));
        Assert.Equal(6, r.Num("cumulative", 0));
        Assert.Equal(-1, r.Num("diff", r.RowOf("a")));
        Assert.Equal(3, r.Num("cumulative", r.RowOf("a")));
        Assert.Equal(3, r.Num("diff", r.RowOf("c")));
        Assert.Equal(0, r.Num("cumulative", r.RowOf("d")));
        Assert.Equal(-2, r.Num("diff", r.RowOf("d")));

        var (_, abs) = Build(compared, new ReportOptions { AbsoluteDiff = true }, baseline);
        Assert.Equal(3, abs.Num("diff", 0));
        Assert.Equal(1, abs.Num("diff", abs.RowOf("a")));
        Assert.Equal(-1, abs.Num("diff", abs.RowOf("d")));
        Assert.Equal(3, abs.Num("diff", abs.RowOf("main")));
    }

    [Fact]
    public void Diff_uses_a_wider_signed_type_when_needed()
    {
        var baseline = new TestProfile().Sample("main;a", 1000).Profile;
        var compared = new TestProfile().Sample("main;c", 1000).Profile;
        var (_, r) = Build(compared, baseline: baseline);
        Assert.IsType<Int16Array>(r.Column("diff"));
        Assert.Equal(-1000, r.Num("diff", r.RowOf("a")));
    }

    [Fact]
    public void Inverted_stacks_put_the_leaf_at_the_root()
    {
        var (_, r) = Build(Simple(), new ReportOptions { InvertCallStack = true });
        Assert.Equal(6, r.Rows);
        // The root's children are the leaves, by name; under them their callers.
        var leaves = r.List("children", 0).Select(i => (int)i).ToArray();
        Assert.Equal(new[] { "b", "c" }, leaves.Select(i => r.Str("function_name", i)));
        Assert.Equal(new long?[] { 2, 1 }, leaves.Select(i => r.Num("cumulative", i)));
        var bCaller = (int)r.List("children", leaves[0]).Single();
        Assert.Equal("a", r.Str("function_name", bCaller));
        var bMain = (int)r.List("children", bCaller).Single();
        Assert.Equal("main", r.Str("function_name", bMain));
        Assert.Equal(2, r.Num("flat", bMain));
        var cMain = (int)r.List("children", leaves[1]).Single();
        Assert.Equal("main", r.Str("function_name", cMain));
        Assert.Equal(1, r.Num("flat", cMain));
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(3f)]
    public void Rows_form_one_consistent_tree(float trimThreshold)
    {
        // 400 random stacks of up to 9 frames over 8 names: many shared prefixes, many siblings.
        var random = new Random(7);
        var profile = new TestProfile();
        for (var i = 0; i < 400; i++)
        {
            var frames = Enumerable.Range(0, random.Next(1, 10)).Select(_ => "f" + random.Next(8));
            profile.Sample(string.Join(";", frames), random.Next(1, 50));
        }
        var (response, r) = Build(profile.Profile, new ReportOptions { NodeTrimThreshold = trimThreshold });
        long Num(string column, int row) => r.Num(column, row) ?? throw new InvalidOperationException($"{column} of row {row} is null");

        var seenAsChild = new int[r.Rows];
        long dropped = 0;
        for (var row = 0; row < r.Rows; row++)
        {
            var children = r.List("children", row).Select(c => (int)c).ToArray();
            var offset = Num("value_offset", row);
            foreach (var child in children)
            {
                seenAsChild[child]++;
                Assert.Equal(row, Num("parent", child));
                Assert.Equal(Num("depth", row) + 1, Num("depth", child));
                // Children lie side by side from their parent's left edge.
                Assert.Equal(offset, Num("value_offset", child));
                offset += Num("cumulative", child);
            }
            var inChildren = children.Sum(c => Num("cumulative", c));
            if (trimThreshold == 0)
            {
                Assert.Equal(Num("cumulative", row), Num("flat", row) + inChildren);
            }
            else
            {
                Assert.True(Num("cumulative", row) >= Num("flat", row) + inChildren, $"row {row} holds less than its children");
            }
            // What a kept row holds beyond its own and its kept children's value is its dropped children's.
            dropped += Num("cumulative", row) - Num("flat", row) - inChildren;
        }
        Assert.Equal(dropped, response.FlamegraphArrow.Trimmed);
        Assert.Equal(0, seenAsChild[0]);
        Assert.All(seenAsChild.Skip(1), n => Assert.Equal(1, n));
        Assert.Equal(Enumerable.Range(0, r.Rows).Max(row => Num("depth", row)) + 1, response.FlamegraphArrow.Height);
        Assert.Equal(trimThreshold > 0, response.FlamegraphArrow.Trimmed > 0);
    }

    [Fact]
    public void Trimming_drops_children_below_the_percentage_of_their_parent()
    {
        var (response, r) = Build(Simple(), new ReportOptions { NodeTrimThreshold = 50 });
        Assert.Equal(1, response.FlamegraphArrow.Trimmed);
        Assert.Equal(4, r.Rows);
        Assert.Equal(new[] { "main", "a", "b" }, Enumerable.Range(1, 3).Select(i => r.Str("function_name", i)));
        Assert.Equal(3, r.Num("cumulative", 0));
    }

    [Fact]
    public void Group_by_label_adds_label_rows_under_the_root()
    {
        var profile = new TestProfile()
            .Sample("main;a", 2, ("comm", "web"), ("thread_id", "1"))
            .Sample("main;a", 3, ("comm", "web"), ("thread_id", "2"))
            .Sample("main;b", 4, ("comm", "api"))
            .Sample("main;c", 1)
            .Profile;
        var (_, r) = Build(profile, new ReportOptions { GroupBy = ["function_name", "labels.comm"] });
        var dict = Assert.IsType<DictionaryType>(r.Batch.Schema.GetFieldByName("labels.comm").DataType);
        Assert.IsType<BinaryType>(dict.ValueType);
        // Root children: label rows (api, web) first, then the unlabeled main.
        var (api, web, main) = r.List("children", 0).Select(i => (int)i).ToArray() switch
        {
            [var x, var y, var z] => (x, y, z),
            var other => throw new InvalidOperationException($"root has {other.Length} children, expected 3"),
        };
        Assert.True(r.Bool("labels_only", api));
        Assert.Equal("api", r.Str("labels.comm", api));
        Assert.Equal(4, r.Num("cumulative", api));
        Assert.True(r.Bool("labels_only", web));
        Assert.Equal("web", r.Str("labels.comm", web));
        Assert.Equal(5, r.Num("cumulative", web));
        Assert.Null(r.Str("function_name", web));
        Assert.False(r.Bool("labels_only", main));
        Assert.Equal("main", r.Str("function_name", main));
        Assert.Null(r.Str("labels.comm", main));
        Assert.Equal(1, r.Num("cumulative", main));
        // The web row's main merges both thread ids.
        var webMain = (int)r.List("children", web)[0];
        Assert.Equal(5, r.Num("cumulative", webMain));
        Assert.Equal("web", r.Str("labels.comm", webMain));
        Assert.Equal(2, r.Num("depth", webMain));
    }

    [Fact]
    public void Same_function_at_different_addresses_merges_and_nulls_the_address()
    {
        var profile = new TestProfile().Sample("main;a@2000", 1).Sample("main;a@3000", 1).Profile;
        var (_, r) = Build(profile);
        Assert.Equal(3, r.Rows);
        var a = r.RowOf("a");
        Assert.Equal(2, r.Num("cumulative", a));
        Assert.Null(r.Num("location_address", a));
        Assert.Null(r.Num("location_line", a));
        Assert.Equal("main.c", r.Str("function_file_name", r.RowOf("main")));
    }

    [Fact]
    public void Group_by_address_keeps_locations_apart()
    {
        var profile = new TestProfile().Sample("main;a@2000", 1).Sample("main;a@3000", 1).Profile;
        var (_, r) = Build(profile, new ReportOptions { GroupBy = ["location_address"] });
        Assert.Equal(4, r.Rows);
        Assert.Equal(0x2000, r.Num("location_address", 2));
        Assert.Equal(0x3000, r.Num("location_address", 3));
    }

    [Fact]
    public void Unsymbolized_frames_merge_by_address_without_a_name()
    {
        var profile = new TestProfile().Sample("main;0x4242", 1).Sample("main;0x4242", 2).Profile;
        var (_, r) = Build(profile);
        Assert.Equal(3, r.Rows);
        Assert.Null(r.Str("function_name", 2));
        Assert.Equal(0x4242, r.Num("location_address", 2));
        Assert.Equal(3, r.Num("cumulative", 2));
    }

    [Fact]
    public void Inlined_lines_become_frames_with_the_caller_first()
    {
        var t = new TestProfile();
        var location = new Location { Id = 99, MappingId = 1, Address = 0x5000 };
        location.Line.Add(new Line { FunctionId = t.Function("inner"), Line_ = 3 });
        location.Line.Add(new Line { FunctionId = t.Function("outer"), Line_ = 7 });
        t.Profile.Location.Add(location);
        var sample = new Sample();
        sample.LocationId.Add(99);
        sample.LocationId.Add(t.Location("main"));
        sample.Value.Add(4);
        t.Profile.Sample.Add(sample);
        var (_, r) = Build(t.Profile);
        Assert.Equal(new[] { "main", "outer", "inner" }, Enumerable.Range(1, 3).Select(i => r.Str("function_name", i)));
        Assert.False(r.Bool("inlined", 2));
        Assert.True(r.Bool("inlined", 3));
        Assert.Equal(4, r.Num("flat", 3));
    }

    [Fact]
    public void Unknown_group_by_field_is_refused()
    {
        var ex = Assert.Throws<ArgumentException>(() => Build(Simple(), new ReportOptions { GroupBy = ["bogus"] }));
        Assert.Contains("bogus", ex.Message, StringComparison.Ordinal);
    }
}
