using ConvEngine.Kernels.Conv;
using ConvEngine.NN;
using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The strided kernel with the output channels in the lanes (Kernels/Conv/StridedLanesConv.cs) against the definition
/// summed in double (NaiveConv.Conv2dDirect): output channels from 1 to 9 blocks of 16 (groups of 4, 3, 2 and 1 blocks,
/// partial last blocks), column strides 1 to 4, row strides 1 to 3, kernels from 1x1 to 7x7 with KH ≠ KW, padding wider
/// than the kernel's reach on one side and none on the other, dilation on either axis, output rows split into tiles of
/// every width; with and without bias; an image either side of the batch left untouched; the same bits on 1, 2 and 3
/// threads. The streamed stores (whole 64-byte lines, rows carried from one to the next) at every offset of y within a
/// cache line, against the ordinary stores. Then Conv2d: ResNet's stem shape takes the kernel and agrees with the
/// reference device forward and backward.
/// </summary>
public class StridedLanesConvTests
{
    private static void RequireKernel()
    {
        if (!DirectConv.IsSupported) Assert.Ignore("The strided channel-lanes kernel needs AVX-512; this processor (or DOTNET_EnableAVX512=0) has none.");
    }

    // (images, C, H, W, Cout, KH, KW, sH, sW, pH, pW, dH, dW).
    private static IEnumerable<(int N, int C, int H, int W, int Co, int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW)> Shapes()
    {
        // Every block count 1..9 (groups 4+1, 4+2, 4+3, 4+4+1), a partial last block now and then, strides and kernels varied.
        for (int blocks = 1; blocks <= 9; blocks++)
        {
            int co = 16 * blocks - (blocks % 3 == 0 ? 5 : 0);
            int sw = 1 + blocks % 4, sh = 1 + blocks % 3, kh = 1 + blocks % 7, kw = 1 + (blocks * 3) % 7;
            yield return (1 + blocks % 3, 1 + blocks % 4, 9 + blocks, 13 + 3 * blocks, co, kh, kw, sh, sw, kh / 2, kw / 2, 1, 1);
        }
        // Rows of 1..25 outputs: tiles of every width below 6 (4 blocks), 8 (3), 12 (2 and 1).
        foreach (int co in new[] { 64, 48, 32, 16 })
            for (int ow = 1; ow <= 25; ow += co == 64 ? 1 : 3)
                yield return (2, 3, 5, 2 * ow + 1, co, 3, 3, 2, 2, 1, 1, 1, 1);
        yield return (2, 3, 30, 30, 64, 7, 7, 2, 2, 3, 3, 1, 1);    // the stem's kernel on a small image
        yield return (1, 2, 12, 12, 20, 3, 5, 2, 2, 4, 0, 1, 1);    // padding wider than the kernel's reach: rows of zeros
        yield return (2, 3, 17, 19, 24, 3, 3, 2, 3, 2, 2, 2, 3);    // dilation on both axes
        yield return (3, 4, 11, 11, 1, 2, 2, 2, 2, 0, 0, 1, 1);     // one output channel
    }

    [Test]
    public void MatchesTheDefinitionAndWritesOnlyItsImages([Values] bool withBias)
    {
        RequireKernel();
        var rng = new Random(withBias ? 51 : 53);
        foreach (var (n, c, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw) in Shapes())
        {
            var g = new ConvGeometry(c, h, w, kh, kw, sh, sw, ph, pw, dh, dw);
            string what = $"N{n} {c}x{h}x{w} -> {co} k{kh}x{kw} s{sh},{sw} p{ph},{pw} d{dh},{dw} ({g.OutH}x{g.OutW} out), bias {withBias}";
            Assert.That(StridedLanesConv.Applies(g), Is.True, what);
            var wt = TestUtil.RandomArray(rng, co * g.ColRows);
            float[]? bias = withBias ? TestUtil.RandomArray(rng, co) : null;
            int xImage = c * h * w, yImage = co * g.OutH * g.OutW;
            var x = TestUtil.RandomArray(rng, (n + 2) * xImage);
            var expected = NaiveConv.Conv2dDirect(x.AsSpan(xImage, n * xImage), n, c, h, w, wt, bias ?? [], co, kh, kw, sh, sw, ph, pw, dh, dw, 1,
                                                  PaddingMode.Zeros, out _, out _);
            TestUtil.AssertBatchKernel((dev, y) => StridedLanesConv.Forward(dev, wt, co, x, 1, n, g, y, bias), n, yImage, expected, what);
        }
    }

    [Test]
    public void StreamedRowsMatchTheOrdinaryStoresAtEveryOffsetWithinALine([Values(1, 2)] int threads)
    {
        RequireKernel();
        var dev = new CpuDevice(threads);
        var rng = new Random(57 + threads);
        // Rows of 16 and 32 outputs (whole vectors); 3 images of 5 and 9 rows, so bands of one image meet in a line;
        // three and four channel blocks; the bias.
        foreach (var (n, c, h, w, co, k, s, p) in new[] { (3, 3, 10, 32, 64, 3, 2, 1), (2, 2, 17, 64, 48, 7, 2, 3), (1, 3, 9, 16, 16, 1, 1, 0) })
        {
            var g = new ConvGeometry(c, h, w, k, k, s, s, p, p, 1, 1);
            Assert.That(g.OutW % 16, Is.EqualTo(0));
            var wt = TestUtil.RandomArray(rng, co * g.ColRows);
            var bias = TestUtil.RandomArray(rng, co);
            var x = TestUtil.RandomArray(rng, n * c * h * w);
            int yLength = n * co * g.OutH * g.OutW;
            var ordinary = new float[yLength];
            StridedLanesConv.Forward(dev, wt, co, x, 0, n, g, ordinary, 0, bias, long.MaxValue);
            var expected = NaiveConv.Conv2dDirect(x, n, c, h, w, wt, bias, co, k, k, s, s, p, p, 1, 1, 1, PaddingMode.Zeros, out _, out _);
            TestUtil.AssertClose(ordinary, expected, 1e-4, 1e-5, $"{n}x{c}x{h}x{w} -> {co}, ordinary stores");
            for (int offset = 0; offset < 16; offset++)
            {
                string what = $"{n}x{c}x{h}x{w} -> {co}, streamed at offset {offset}, {threads} threads";
                var y = new float[offset + yLength + 16];
                Array.Fill(y, float.NaN);
                StridedLanesConv.Forward(dev, wt, co, x, 0, n, g, y, offset, bias, 0);
                Assert.That(y.AsSpan(offset, yLength).ToArray(), Is.EqualTo(ordinary), what);
                Assert.That(y.Take(offset).Concat(y.Skip(offset + yLength)).All(float.IsNaN), Is.True, $"{what}: nothing written outside the batch");
            }
        }
    }

    [Test]
    public void AppliesToColumnStridesOneToFour()
    {
        RequireKernel();
        Assert.That(StridedLanesConv.Applies(new ConvGeometry(3, 224, 224, 7, 7, 2, 2, 3, 3, 1, 1)), Is.True);
        Assert.That(StridedLanesConv.Applies(new ConvGeometry(3, 224, 224, 11, 11, 4, 4, 2, 2, 1, 1)), Is.True, "column stride 4");
        Assert.That(StridedLanesConv.Applies(new ConvGeometry(3, 224, 224, 7, 7, 2, 5, 3, 3, 1, 1)), Is.False, "column stride 5");
        var dev = new CpuDevice(1);
        var g = new ConvGeometry(3, 20, 20, 3, 3, 5, 5, 1, 1, 1, 1);
        var ex = Assert.Throws<ArgumentException>(() => dev.ConvStridedLanes(new Tensor(dev, 4 * 27), 4, new Tensor(dev, 3 * 400), 0, 1, g, new Tensor(dev, 4 * 16)));
        Assert.That(ex!.ParamName, Is.EqualTo("g"));
        Assert.That(ex.Message, Does.Contain("column stride"));
    }

    [Test]
    public void Conv2dTakesItForStridedLayersWithFewTapsAndAgreesWithTheReference([Values(1, 2)] int threads)
    {
        RequireKernel();
        var dev = new CpuDevice(threads);
        var rng = new Random(61);
        foreach (var (n, c, h, co, k, s, p) in new[] { (2, 3, 64, 64, 7, 2, 3), (3, 3, 21, 20, 3, 2, 1), (2, 7, 15, 24, 5, 3, 2) })
        {
            var x = Tensor.FromArray(dev, TestUtil.RandomArray(rng, n * c * h * h), n, c, h, h);
            var fast = new Conv2d(c, co, k, s, p, device: dev, seed: 5);
            var other = new Conv2d(c, co, k, s, p, device: dev, seed: 5) { StridedLanesKernel = false };
            var reference = new Conv2d(c, co, k, s, p, device: ReferenceDevice.Instance, seed: 5);
            var expected = reference.Forward(Tensor.FromArray(ReferenceDevice.Instance, x.ToArray(), n, c, h, h)).ToArray();
            string what = $"N{n} {c}x{h}x{h} -> {co} k{k} s{s} p{p}, {threads} threads";
            Assert.That(Conv2d.StridedLanesMaxTaps, Is.GreaterThanOrEqualTo(c * k * k), what + ": few enough taps");
            TestUtil.AssertClose(fast.Forward(x).ToArray(), expected, 1e-4, 1e-5, what + ", strided channel-lanes kernel");
            TestUtil.AssertClose(other.Forward(x).ToArray(), expected, 1e-4, 1e-5, what + ", without it");
            // Its backward is the one the layer had before, unchanged: dX and dW against the reference.
            int o = (h + 2 * p - k) / s + 1;
            var dy = TestUtil.RandomArray(rng, n * co * o * o);
            var dx = fast.Backward(Tensor.FromArray(dev, dy, n, co, o, o)).ToArray();
            var dxRef = reference.Backward(Tensor.FromArray(ReferenceDevice.Instance, dy, n, co, o, o)).ToArray();
            TestUtil.AssertClose(dx, dxRef, 1e-4, 1e-5, what + ", dX");
            TestUtil.AssertClose(fast.Weight.Grad!.ToArray(), reference.Weight.Grad!.ToArray(), 1e-4, 1e-4, what + ", dW");
        }
    }
}
