using ConvEngine.Kernels.Conv;
using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The channel-lanes direct convolution (Kernels/Conv/ChannelLanesConv.cs) against the definition summed in double
/// (NaiveConv.Conv2dDirect): every output width 1..12 (each its own unrolled kernel), odd and even output heights (a lone
/// last row), padding and dilation, 16 to 48 output channels, with and without bias, whole images per thread and tiles
/// shared by the threads; only its images written; the same bits on any thread count; and where DirectConv hands over.
/// </summary>
public class ChannelLanesConvTests
{
    private static void RequireKernel()
    {
        if (!DirectConv.IsSupported) Assert.Ignore("The channel-lanes kernel needs AVX-512; this processor (or DOTNET_EnableAVX512=0) has none.");
    }

    // (images, C, H, W, Cout, KH, KW, pad, dilation): widths 1..12 come from W and the kernel; then LeNet's second layer.
    private static IEnumerable<(int N, int C, int H, int W, int Co, int KH, int KW, int P, int D)> Shapes()
    {
        for (int ow = 1; ow <= ChannelLanesConv.MaxWidth; ow++)
        {
            // Alternate odd and even heights, padding 0..2, dilation 1 or 2, 16/32/48 channels, 1..4 images.
            int k = 1 + 2 * (ow % 3), p = ow % 3 == 1 ? 1 : 0, d = ow % 4 == 0 ? 2 : 1;
            int w = ow + d * (k - 1) - 2 * p, h = 1 + ow % 4 + d * (k - 1) - 2 * p;   // OW = ow, OH = 1 + ow % 4
            yield return (1 + ow % 4, 1 + ow % 5, h, w, 16 * (1 + ow % 3), k, k, p, d);
        }
        yield return (4, 6, 14, 14, 16, 5, 5, 0, 1);
    }

    [Test]
    public void MatchesTheDefinitionAndWritesOnlyItsImages([Values] bool withBias)
    {
        RequireKernel();
        var rng = new Random(withBias ? 23 : 29);
        foreach (var (n, c, h, w, co, kh, kw, p, d) in Shapes())
        {
            var g = new ConvGeometry(c, h, w, kh, kw, 1, 1, p, p, d, d);
            string what = $"N{n} {c}x{h}x{w} -> {co} k{kh}x{kw} p{p} d{d} ({g.OutH}x{g.OutW} out), bias {withBias}";
            Assert.That(ChannelLanesConv.Applies(g, co), Is.True, what);
            var wt = TestUtil.RandomArray(rng, co * g.ColRows);
            float[]? bias = withBias ? TestUtil.RandomArray(rng, co) : null;
            int xImage = c * h * w, yImage = co * g.OutH * g.OutW;
            // x and y hold one image before and one after the batch: the kernel reads and writes only images 1..n.
            var x = TestUtil.RandomArray(rng, (n + 2) * xImage);
            var expected = NaiveConv.Conv2dDirect(x.AsSpan(xImage, n * xImage), n, c, h, w, wt, bias ?? [], co, kh, kw, 1, 1, p, p, d, d, 1,
                                                  PaddingMode.Zeros, out _, out _);
            TestUtil.AssertBatchKernel((dev, y) => ChannelLanesConv.Forward(dev, wt, co, x, 1, n, g, y, bias), n, yImage, expected, what);
        }
    }

    [Test]
    public void DirectConvHandsOverSmallPlanesOfSixteenChannelBlocksOnly()
    {
        // LeNet's second layer: 100 outputs a channel against 144 computed columns in the shifted-rows kernel.
        var lenet = new ConvGeometry(6, 14, 14, 5, 5, 1, 1, 0, 0, 1, 1);
        Assert.That(ChannelLanesConv.Applies(lenet, 16), Is.True);
        Assert.That(ChannelLanesConv.Cost(lenet, 16), Is.LessThan(DirectConv.Cost(lenet, 16)));
        Assert.That(ChannelLanesConv.Applies(lenet, 12), Is.False, "not a multiple of 16 channels");
        Assert.That(ChannelLanesConv.Applies(new ConvGeometry(6, 17, 17, 5, 5, 1, 1, 0, 0, 1, 1), 16), Is.False, "13-pixel rows");
        Assert.That(ChannelLanesConv.Applies(new ConvGeometry(6, 14, 14, 5, 5, 2, 2, 0, 0, 1, 1), 16), Is.False, "stride 2");
        // A 28x28 "same" layer: rows too wide; the shifted-rows kernel keeps it.
        Assert.That(ChannelLanesConv.Applies(new ConvGeometry(32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1), 32), Is.False);
    }
}
