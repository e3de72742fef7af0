using ConvEngine.Kernels.Conv;
using ConvEngine.NN;
using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The strided 1x1 kernel with the output channels in the lanes (Kernels/Conv/PointwiseConv.cs) against the definition
/// summed in double (NaiveConv.Conv2dDirect): output channels from 1 to 13 blocks of 16 (groups of 4, 3, 2 and 1 blocks,
/// partial last blocks), output rows whose last tile holds every pixel count below the tile width, column strides 1 and
/// 2, row strides 1 to 3, odd input sizes; with and without bias; an image either side of the batch left untouched; the
/// same bits on 1, 2 and 3 threads. Then Conv2d: strided 1x1 layers take the kernel and agree with the implicit GEMM.
/// </summary>
public class PointwiseConvTests
{
    private static void RequireKernel()
    {
        if (!DirectConv.IsSupported) Assert.Ignore("The pointwise kernel needs AVX-512; this processor (or DOTNET_EnableAVX512=0) has none.");
    }

    // (images, C, H, W, Cout, sH, sW).
    private static IEnumerable<(int N, int C, int H, int W, int Co, int SH, int SW)> Shapes()
    {
        // Every block count 1..13 (groups 4+1, 4+2, 4+3, ...), each with an output width whose last tile is partial.
        for (int blocks = 1; blocks <= 13; blocks++)
        {
            int co = 16 * blocks - (blocks % 3 == 0 ? 5 : 0);                         // a partial last block now and then
            int tile = PointwiseConv.PixelsPerTile(Math.Min(PointwiseConv.MaxBlocks, blocks));
            int ow = tile + 1 + blocks % tile;                                         // one full tile and a partial one
            int sw = 1 + blocks % 2, sh = 1 + blocks % 3;
            yield return (1 + blocks % 3, 1 + blocks % 7, 2 + sh * 2, sw * (ow - 1) + 1 + blocks % 2, co, sh, sw);
        }
        // Every partial-tile width below 6 with 4 blocks, below 8 with 3, below 12 with 2 and 1 (each one row).
        foreach (var (co, tile) in new[] { (64, 6), (48, 8), (32, 12), (16, 12) })
            for (int last = 1; last < tile; last++)
                yield return (2, 3, 3, 2 * (tile + last) - 1, co, 2, 2);
        yield return (8, 64, 56, 56, 128, 2, 2);                                      // ResNet-18's first projection, 8 images
        yield return (3, 5, 9, 9, 1, 2, 2);                                           // one output channel
    }

    [Test]
    public void MatchesTheDefinitionAndWritesOnlyItsImages([Values] bool withBias)
    {
        RequireKernel();
        var rng = new Random(withBias ? 41 : 43);
        foreach (var (n, c, h, w, co, sh, sw) in Shapes())
        {
            var g = new ConvGeometry(c, h, w, 1, 1, sh, sw, 0, 0, 1, 1);
            string what = $"N{n} {c}x{h}x{w} -> {co} s{sh},{sw} ({g.OutH}x{g.OutW} out), bias {withBias}";
            Assert.That(PointwiseConv.Applies(g), Is.True, what);
            var wt = TestUtil.RandomArray(rng, co * c);
            float[]? bias = withBias ? TestUtil.RandomArray(rng, co) : null;
            int xImage = c * h * w, yImage = co * g.OutH * g.OutW;
            var x = TestUtil.RandomArray(rng, (n + 2) * xImage);
            var expected = NaiveConv.Conv2dDirect(x.AsSpan(xImage, n * xImage), n, c, h, w, wt, bias ?? [], co, 1, 1, sh, sw, 0, 0, 1, 1, 1,
                                                  PaddingMode.Zeros, out _, out _);
            TestUtil.AssertBatchKernel((dev, y) => PointwiseConv.Forward(dev, wt, co, x, 1, n, g, y, bias), n, yImage, expected, what);
        }
    }

    [Test]
    public void AppliesToUnpaddedOneByOneKernelsWithColumnStrideOneOrTwo()
    {
        RequireKernel();
        Assert.That(PointwiseConv.Applies(new ConvGeometry(64, 56, 56, 1, 1, 2, 2, 0, 0, 1, 1)), Is.True);
        Assert.That(PointwiseConv.Applies(new ConvGeometry(64, 56, 56, 1, 1, 3, 1, 0, 0, 1, 1)), Is.True, "any row stride");
        Assert.That(PointwiseConv.Applies(new ConvGeometry(64, 56, 56, 1, 1, 2, 3, 0, 0, 1, 1)), Is.False, "column stride 3");
        Assert.That(PointwiseConv.Applies(new ConvGeometry(64, 56, 56, 1, 1, 2, 2, 1, 1, 1, 1)), Is.False, "padding");
        Assert.That(PointwiseConv.Applies(new ConvGeometry(64, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1)), Is.False, "3x3");
        var dev = new CpuDevice(1);
        var g = new ConvGeometry(4, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1);
        var ex = Assert.Throws<ArgumentException>(() => dev.ConvPointwise(new Tensor(dev, 4 * 36), 4, new Tensor(dev, 4 * 64), 0, 1, g, new Tensor(dev, 64)));
        Assert.That(ex!.ParamName, Is.EqualTo("g"));
        Assert.That(ex.Message, Does.Contain("1x1"));
    }

    [Test]
    public void Conv2dTakesItForStridedOneByOneLayersAndAgreesWithTheGemm([Values(1, 2)] int threads)
    {
        RequireKernel();
        var dev = new CpuDevice(threads);
        var rng = new Random(47);
        foreach (var (n, c, h, w, co, s) in new[] { (4, 16, 14, 14, 40, 2), (3, 8, 9, 11, 16, 2), (2, 32, 15, 15, 64, 3) })
        {
            var x = Tensor.FromArray(dev, TestUtil.RandomArray(rng, n * c * h * w), n, c, h, w);
            var fast = new Conv2d(c, co, 1, s, 0, device: dev, seed: 3);
            var gemm = new Conv2d(c, co, 1, s, 0, device: dev, seed: 3) { PointwiseKernel = false };
            var reference = new Conv2d(c, co, 1, s, 0, device: ReferenceDevice.Instance, seed: 3);
            var expected = reference.Forward(Tensor.FromArray(ReferenceDevice.Instance, x.ToArray(), n, c, h, w)).ToArray();
            string what = $"N{n} {c}x{h}x{w} -> {co} s{s}, {threads} threads";
            TestUtil.AssertClose(fast.Forward(x).ToArray(), expected, 1e-4, 1e-5, what + ", pointwise kernel");
            TestUtil.AssertClose(gemm.Forward(x).ToArray(), expected, 1e-4, 1e-5, what + ", implicit GEMM");
            // Its backward is the implicit GEMM's, unchanged: dX and dW against the reference.
            var dy = TestUtil.RandomArray(rng, n * co * ((h - 1) / s + 1) * ((w - 1) / s + 1));
            var dx = fast.Backward(Tensor.FromArray(dev, dy, n, co, (h - 1) / s + 1, (w - 1) / s + 1)).ToArray();
            var dxRef = reference.Backward(Tensor.FromArray(ReferenceDevice.Instance, dy, n, co, (h - 1) / s + 1, (w - 1) / s + 1)).ToArray();
            TestUtil.AssertClose(dx, dxRef, 1e-4, 1e-5, what + ", dX");
            TestUtil.AssertClose(fast.Weight.Grad!.ToArray(), reference.Weight.Grad!.ToArray(), 1e-4, 1e-4, what + ", dW");
        }
    }
}
