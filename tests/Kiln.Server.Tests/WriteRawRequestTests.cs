using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Kiln.Api.ProfileStore;
using Kiln.Api.Query;
using Kiln.Profiles;
using Kiln.Server.Ingest;
using Kiln.Server.Services;
using static Kiln.Server.Tests.SyntheticData;

namespace Kiln.Server.Tests;

/// <summary>An empty server of its own, so that what these tests write is all it holds.</summary>
public sealed class EmptyServerFixture : IAsyncLifetime
{
    public KilnProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await KilnProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }
}

/// <summary>
/// WriteRaw requests arrive three ways: native gRPC (read by <see cref="PooledWriteRawRequest"/>, profiles left as
/// slices of one pooled buffer), gRPC-Web, and JSON through the REST gateway. Each must store the same profile.
/// </summary>
public sealed class WriteRawRequestTests(EmptyServerFixture fixture) : IClassFixture<EmptyServerFixture>
{
    [Fact]
    public void Parse_reads_what_the_generated_parser_reads_with_profiles_as_slices_of_the_buffer()
    {
        var request = Request("synthetic", LabelsOf("a"), [1, 2, 3, 4, 5]);
        request.Series.Add(Request("other", LabelsOf("c"), [9, 8]).Series[0]);
        request.Series[1].Samples.Add(new RawSample { RawProfile = ByteString.CopyFrom(7, 7, 7) });
        request.Series[1].Samples[1].ExecutableInfo.Add(new ExecutableInfo { ElfType = 3, LoadSegment = new LoadSegment { Offset = 4096, Vaddr = 0x400000 } });
        request.Normalized = true;
        var bytes = request.ToByteArray();
        // The buffer is bigger than the request, like a pooled one.
        var buffer = new byte[bytes.Length + 100];
        bytes.CopyTo(buffer, 0);

        var parsed = PooledWriteRawRequest.Parse(buffer, bytes.Length);

        Assert.Equal(WriteRawRequest.Parser.ParseFrom(bytes), parsed);
        foreach (var sample in parsed.Series.SelectMany(s => s.Samples))
        {
            Assert.True(MemoryMarshal.TryGetArray(sample.RawProfile.Memory, out var segment));
            Assert.Same(buffer, segment.Array);
        }
    }

    [Fact]
    public void Parse_skips_fields_it_does_not_know()
    {
        var request = Request("synthetic", LabelsOf("a"), [1, 2, 3]);
        var bytes = request.ToByteArray();
        // Field 1 (the deprecated tenant, a string) and field 15 (a varint) in front.
        byte[] unknown = [0x0a, 0x01, (byte)'t', 0x78, 0x2a];

        var parsed = PooledWriteRawRequest.Parse([.. unknown, .. bytes], unknown.Length + bytes.Length);

        Assert.Equal(request, parsed);
    }

    [Fact]
    public void Parse_of_a_cut_request_throws_naming_the_byte()
    {
        var bytes = Request("synthetic", LabelsOf("a"), [1, 2, 3, 4, 5]).ToByteArray();

        var e = Assert.Throws<MalformedProtobufException>(() => PooledWriteRawRequest.Parse(bytes, bytes.Length - 3));

        Assert.InRange(e.Offset, 0, bytes.Length - 3);
        Assert.Contains("remain", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_service_binds_every_method_of_ProfileStoreService()
    {
        var binder = new RecordingBinder();

        ProfileStoreGrpcService.BindService(binder, null);

        Assert.Equal(ProfileStoreService.Descriptor.Methods.Select(m => m.Name), binder.Methods.Select(m => m.Name));
        Assert.All(binder.Methods, m => Assert.Equal(ProfileStoreService.Descriptor.FullName, m.ServiceName));
    }

    [Fact]
    public async Task WriteRaw_over_grpc_grpc_web_and_rest_stores_each_profile()
    {
        var t0 = NewEpoch();
        using (var channel = fixture.Server.GrpcChannel())
        {
            await new ProfileStoreService.ProfileStoreServiceClient(channel).WriteRawAsync(Request("synthetic", LabelsOf("a"), CpuProfile(t0, 10, 1)));
        }
        using (var channel = fixture.Server.GrpcWebChannel())
        {
            await new ProfileStoreService.ProfileStoreServiceClient(channel).WriteRawAsync(Request("synthetic", LabelsOf("b"), CpuProfile(t0, 20, 2)));
        }
        using (var http = fixture.Server.HttpClient())
        {
            var json = JsonFormatter.Default.Format(Request("synthetic", LabelsOf("c"), CpuProfile(t0, 30, 3)));
            using var content = new StringContent(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
            using var response = await http.PostAsync("/api/profiles/writeraw", content);
            Assert.True(response.IsSuccessStatusCode, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        using var query = fixture.Server.GrpcChannel();
        var range = await new QueryService.QueryServiceClient(query).QueryRangeAsync(new QueryRangeRequest
        {
            Query = $"{Count}{{}}", Start = At(t0, -60), End = At(t0, 60), SumBy = { "instance" },
        });
        var totals = range.Series.ToDictionary(s => s.Labelset.Labels.Single(l => l.Name == "instance").Value, s => s.Samples.Sum(p => p.Value));
        Assert.Equal(new Dictionary<string, long> { ["a"] = 11, ["b"] = 22, ["c"] = 33 }, totals);
    }

    private sealed class RecordingBinder : ServiceBinderBase
    {
        public List<IMethod> Methods { get; } = [];

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            Methods.Add(method);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            Methods.Add(method);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            Methods.Add(method);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            Methods.Add(method);
    }
}
