namespace Kiln.Profiles.Tests;

public class PprofViewPoolTests
{
    private static byte[] Profile(int samples)
    {
        var builder = new ProfileBuilder().AddSampleType("samples", "count");
        for (var i = 0; i < samples; i++)
        {
            builder.AddSample([new FrameSpec($"f{i}"), new FrameSpec("main")], [i + 1]);
        }
        return PprofCodec.Encode(builder.Build(), gzip: false);
    }

    [Fact]
    public void A_returned_view_is_handed_out_again_cleared_and_parses_the_next_profile()
    {
        var pool = new PprofViewPool();
        var view = pool.Rent();
        view.Parse(Profile(50));
        pool.Return(view);

        Assert.Equal(0, view.Samples.Length);
        Assert.Equal(0, view.StringCount);
        var again = pool.Rent();
        Assert.Same(view, again);
        again.Parse(Profile(3));
        Assert.Equal([1L, 2L, 3L], again.Samples.ToArray().Select(s => again.Values(s)[0]));
        Assert.Equal(["f0", "main", "f1", "f2"], again.Functions.ToArray().Select(f => again.String(f.Name)));
    }

    [Fact]
    public void A_view_grown_past_the_limit_or_beyond_the_pool_size_is_not_kept()
    {
        var pool = new PprofViewPool(maxViews: 1, maxRetainedBytes: 64 << 10);
        var big = pool.Rent();
        big.Parse(Profile(5_000));
        Assert.True(big.RetainedBytes > 64 << 10);
        pool.Return(big);
        Assert.NotSame(big, pool.Rent());

        var first = new PprofView();
        var second = new PprofView();
        pool.Return(first);
        pool.Return(second);
        Assert.Same(first, pool.Rent());
        Assert.NotSame(second, pool.Rent());
    }
}
