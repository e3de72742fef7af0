using ConvEngine.Kernels.Conv;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The direct and Winograd kernels add the bias as they store y (no second pass over y). Each output must be exactly the
/// unbiased output plus the bias in float, the value the separate AddChannelBias pass gives, on geometries whose tiles are
/// cut at the row and channel edges; and Conv2d must add the bias once, never twice or not at all, on each path.
/// </summary>
public class FusedBiasTests
{
    // (images, C, H, W, Cout, kernel, stride, pad): cut 48-column tiles and 8-channel panels, strided phase planes, a stem.
    private static readonly (int N, int C, int H, int W, int Co, int K, int S, int P)[] DirectShapes =
    [
        (2, 3, 9, 11, 13, 3, 1, 1), (1, 6, 14, 14, 16, 5, 1, 0), (3, 5, 11, 13, 9, 1, 2, 0), (2, 3, 23, 22, 10, 7, 2, 3),
        (5, 4, 30, 61, 7, 3, 1, 1), (2, 3, 9, 101, 12, 7, 2, 3),
    ];

    private static readonly (int N, int C, int H, int W, int Co, int P)[] WinogradShapes =
    [
        (2, 3, 5, 7, 5, 1), (3, 17, 9, 10, 13, 1), (2, 64, 14, 35, 130, 1), (1, 8, 30, 33, 70, 0),
    ];

    private static float[] PlusBias(float[] y, float[] bias, int n, int co)
    {
        var r = (float[])y.Clone();
        int plane = y.Length / (n * co);
        for (int i = 0; i < r.Length; i++) r[i] += bias[i / plane % co];
        return r;
    }

    [Test]
    public void DirectKernelAddsTheBiasExactly([Values(1, 2)] int threads)
    {
        if (!DirectConv.IsSupported) Assert.Ignore("The direct kernel needs AVX-512; this processor (or DOTNET_EnableAVX512=0) has none.");
        var dev = new CpuDevice(threads);
        var rng = new Random(3);
        foreach (var (n, c, h, w, co, k, s, p) in DirectShapes)
        {
            var g = new ConvGeometry(c, h, w, k, k, s, s, p, p, 1, 1);
            var x = Tensor.FromArray(dev, TestUtil.RandomArray(rng, n * c * h * w), n * c * h * w);
            var wt = Tensor.FromArray(dev, TestUtil.RandomArray(rng, co * c * k * k), co * c * k * k);
            var bias = TestUtil.RandomArray(rng, co);
            int len = n * co * g.OutH * g.OutW;
            var plain = new Tensor(dev, len);
            var biased = new Tensor(dev, len);
            dev.ConvDirect(wt, co, x, 0, n, g, plain);
            dev.ConvDirect(wt, co, x, 0, n, g, biased, Tensor.FromArray(dev, bias, co));
            Assert.That(biased.ToArray(), Is.EqualTo(PlusBias(plain.ToArray(), bias, n, co)), $"N{n} {c}x{h}x{w} -> {co} k{k} s{s} p{p}");
        }
    }

    [Test]
    public void WinogradKernelAddsTheBiasExactly([Values(1, 2)] int threads)
    {
        if (!Winograd.IsSupported) Assert.Ignore("The Winograd kernel needs AVX-512; this processor (or DOTNET_EnableAVX512=0) has none.");
        var dev = new CpuDevice(threads);
        var rng = new Random(4);
        foreach (var (n, c, h, w, co, p) in WinogradShapes)
        {
            var g = new ConvGeometry(c, h, w, 3, 3, 1, 1, p, p, 1, 1);
            var x = Tensor.FromArray(dev, TestUtil.RandomArray(rng, n * c * h * w), n * c * h * w);
            var wt = Tensor.FromArray(dev, TestUtil.RandomArray(rng, co * c * 9), co * c * 9);
            var bias = TestUtil.RandomArray(rng, co);
            int len = n * co * g.OutH * g.OutW;
            var plain = new Tensor(dev, len);
            var biased = new Tensor(dev, len);
            dev.ConvWinograd(wt, c * 9, 9, false, co, x, 0, n, g, plain);
            dev.ConvWinograd(wt, c * 9, 9, false, co, x, 0, n, g, biased, Tensor.FromArray(dev, bias, co));
            Assert.That(biased.ToArray(), Is.EqualTo(PlusBias(plain.ToArray(), bias, n, co)), $"N{n} {c}x{h}x{w} -> {co} p{p}");
        }
    }

    [Test]
    public void Conv2dAddsTheBiasOnceOnEveryPath([Values("direct", "winograd", "gemm")] string path)
    {
        // The same layer with and without its bias: y differs by exactly the bias on every output.
        var dev = new CpuDevice(2);
        var x = Tensor.FromArray(dev, TestUtil.RandomArray(new Random(5), 2 * 32 * 12 * 12), 2, 32, 12, 12);
        var with = new Conv2d(32, 40, 3, 1, 1, device: dev, seed: 8);
        var without = new Conv2d(32, 40, 3, 1, 1, bias: false, device: dev, seed: 8);
        Assert.That(without.Weight.Value.ToArray(), Is.EqualTo(with.Weight.Value.ToArray()), "same seed, same weights");
        var bias = TestUtil.RandomArray(new Random(6), 40);
        with.Bias!.Value.CopyFrom(bias);
        foreach (var conv in new[] { with, without })
        {
            conv.ForceWinograd = path == "winograd";
            conv.WinogradKernel = path == "winograd";
            conv.DirectKernel = path == "direct";
        }
        if (path != "gemm" && !DirectConv.IsSupported) Assert.Ignore("The direct and Winograd kernels need AVX-512.");
        var yWith = with.Forward(x).ToArray();
        var yWithout = without.Forward(x).ToArray();
        Assert.That(yWith, Is.EqualTo(PlusBias(yWithout, bias, 2, 40)));
    }

    // (images, C, H·W, Cout, kernel, stride, pad): LeNet's two convolutions, a 7x7/2 stem with cut rows, an odd plane.
    private static readonly (int N, int C, int H, int Co, int K, int S, int P)[] DirectGradShapes =
    [
        (5, 1, 28, 6, 5, 1, 2), (4, 6, 14, 16, 5, 1, 0), (3, 3, 23, 48, 7, 2, 3), (2, 5, 13, 24, 3, 1, 1),
    ];

    [Test]
    public void BiasGradientFromTheDirectWeightGradientIsChannelDotsBits([Values(1, 2)] int threads)
    {
        // Where the direct weight gradient runs, its copy of dY sums the planes for the bias gradient. Bias.Grad must get
        // exactly what ChannelDot adds (the same double sums in the same order), accumulated over two backward calls
        // onto a nonzero gradient; the same layer with the direct weight gradient switched off goes through ChannelDot.
        if (!DirectConv.IsSupported) Assert.Ignore("The direct kernel needs AVX-512; this processor (or DOTNET_EnableAVX512=0) has none.");
        var dev = new CpuDevice(threads);
        var rng = new Random(9);
        foreach (var (n, c, h, co, k, s, p) in DirectGradShapes)
        {
            var x = Tensor.FromArray(dev, TestUtil.RandomArray(rng, n * c * h * h), n, c, h, h);
            var start = TestUtil.RandomArray(rng, co);
            float[]? reference = null;
            foreach (bool fused in new[] { false, true })
            {
                var conv = new Conv2d(c, co, k, s, p, device: dev, seed: 3) { DirectWeightGradient = fused };
                conv.Bias!.Grad.CopyFrom(start);
                var y = conv.Forward(x);
                var dY = Tensor.FromArray(dev, TestUtil.RandomArray(new Random(10), y.Length), y.Shape);
                conv.Backward(dY);
                conv.Backward(dY);
                var db = conv.Bias.Grad.ToArray();
                if (!fused)
                {
                    var expected = Tensor.FromArray(dev, start, co);
                    dev.ChannelDot(dY, null, n, co, y.Length / (n * co), expected, accumulate: true);
                    dev.ChannelDot(dY, null, n, co, y.Length / (n * co), expected, accumulate: true);
                    Assert.That(db, Is.EqualTo(expected.ToArray()), $"ChannelDot path, N{n} {c}x{h}x{h} -> {co} k{k} s{s} p{p}");
                    reference = db;
                }
                else Assert.That(db, Is.EqualTo(reference), $"direct dW path, {threads} threads, N{n} {c}x{h}x{h} -> {co} k{k} s{s} p{p}");
            }
        }
    }
}
