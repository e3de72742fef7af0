using ConvEngine.Kernels.Conv;
using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The channel-lanes direct convolution (Kernels/Conv/ChannelLanesConv.cs) against the definition summed in double
/// (NaiveConv.Conv2dDirect): every output width 1..12 (each its own unrolled kernel), odd and even output heights (a lone
/// last row), padding and dilation, 16 to 48 output channels, with and without bias, whole images per thread and tiles
/// shared by the threads; only its images written; the same bits on any thread count; and where DirectConv hands over.
/// Steps over input rows (kernels of 1 to 5 columns, dilation 1 along the rows) and over single taps (the rest) both.
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

    // (images, C, H, W, Cout, KH, KW, pH, pW, dH, dW): every output width 1..12 with each row-kernel width 1..5 in turn,
    // KH ≠ KW, dilation along the columns only or along both; then kernels of 6 and 7 columns and dilation along the rows
    // only (steps over single taps). Output heights 1..4 give a lone last row and stores of 2·OW pixels: 16 through the
    // 16 x 16 transpose, then groups of 4 with a masked last group (2·OW = 18, 22) or a full one (20, 24).
    private static IEnumerable<(int N, int C, int H, int W, int Co, int KH, int KW, int PH, int PW, int DH, int DW)> RowShapes()
    {
        for (int ow = 1; ow <= ChannelLanesConv.MaxWidth; ow++)
        {
            int kw = 1 + ow % ChannelLanesConv.MaxRowKernelWidth, kh = 1 + (ow + 2) % 4, dh = 1 + ow % 2, ph = ow % 2, pw = (ow / 2) % 2;
            int oh = 1 + (ow + 1) % 4;
            yield return (1 + ow % 3, 1 + ow % 4, oh + dh * (kh - 1) - 2 * ph, ow + kw - 1 - 2 * pw, 16 * (1 + ow % 2), kh, kw, ph, pw, dh, 1);
        }
        yield return (2, 3, 12, 15, 32, 2, 6, 0, 1, 1, 1);
        yield return (3, 2, 9, 16, 16, 3, 7, 1, 0, 1, 1);
        yield return (2, 3, 10, 14, 16, 3, 3, 0, 1, 1, 2);
    }

    [Test]
    public void RowKernelMatchesTheDefinitionForEveryKernelWidth([Values] bool withBias)
    {
        RequireKernel();
        var rng = new Random(withBias ? 31 : 37);
        foreach (var (n, c, h, w, co, kh, kw, ph, pw, dh, dw) in RowShapes()) CheckAgainstTheDefinition(rng, withBias, n, c, h, w, co, kh, kw, ph, pw, dh, dw);
    }

    [Test]
    public void MatchesTheDefinitionAndWritesOnlyItsImages([Values] bool withBias)
    {
        RequireKernel();
        var rng = new Random(withBias ? 23 : 29);
        foreach (var (n, c, h, w, co, kh, kw, p, d) in Shapes()) CheckAgainstTheDefinition(rng, withBias, n, c, h, w, co, kh, kw, p, p, d, d);
    }

    // One geometry: the kernel on images 1..n of a batch with one image either side, against NaiveConv.Conv2dDirect.
    private static void CheckAgainstTheDefinition(Random rng, bool withBias, int n, int c, int h, int w, int co, int kh, int kw,
                                                  int ph, int pw, int dh, int dw)
    {
        var g = new ConvGeometry(c, h, w, kh, kw, 1, 1, ph, pw, dh, dw);
        string what = $"N{n} {c}x{h}x{w} -> {co} k{kh}x{kw} p{ph},{pw} d{dh},{dw} ({g.OutH}x{g.OutW} out), bias {withBias}";
        Assert.That(ChannelLanesConv.Applies(g, co), Is.True, what);
        var wt = TestUtil.RandomArray(rng, co * g.ColRows);
        float[]? bias = withBias ? TestUtil.RandomArray(rng, co) : null;
        int xImage = c * h * w, yImage = co * g.OutH * g.OutW;
        // x and y hold one image before and one after the batch: the kernel reads and writes only images 1..n.
        var x = TestUtil.RandomArray(rng, (n + 2) * xImage);
        var expected = NaiveConv.Conv2dDirect(x.AsSpan(xImage, n * xImage), n, c, h, w, wt, bias ?? [], co, kh, kw, 1, 1, ph, pw, dh, dw, 1,
                                              PaddingMode.Zeros, out _, out _);
        TestUtil.AssertBatchKernel((dev, y) => ChannelLanesConv.Forward(dev, wt, co, x, 1, n, g, y, bias), n, yImage, expected, what);
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
