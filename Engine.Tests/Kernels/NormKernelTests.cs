using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>CpuDevice's SIMD batch-norm kernels against the naive twins of ReferenceDevice.</summary>
[Category("Simd")]
public class NormKernelTests
{
    // (outer, channels, inner): odd sizes, vector tails, inner = 1 (BatchNorm1d on [N, C]), rows longer than one block.
    private static readonly (int Outer, int Channels, int Inner)[] Shapes =
    [
        (1, 1, 2), (2, 1, 1), (2, 3, 1), (5, 7, 1), (64, 33, 1), (3, 2, 3), (2, 4, 7), (4, 3, 8), (3, 5, 9), (2, 6, 15),
        (2, 2, 16), (3, 3, 17), (1, 4, 31), (2, 3, 33), (5, 2, 49), (2, 8, 63), (4, 4, 64), (3, 2, 65), (2, 3, 100),
        (2, 2, 511), (2, 2, 513), (1, 3, 1030), (8, 16, 196), (4, 64, 144), (2, 5, 4099), (1100, 33, 1), (700, 17, 5),
    ];

    private static IEnumerable<TestCaseData> Cases() => Shapes.Select(s => new TestCaseData(s.Outer, s.Channels, s.Inner));

    private static (Tensor Cpu, Tensor Ref) Pair(float[] data, params int[] shape) =>
        (Tensor.FromArray(CpuDevice.Default, data, shape), Tensor.FromArray(ReferenceDevice.Instance, data, shape));

    private static float[] Data(Random rng, int length, float offset = 0, float scale = 1) =>
        TestUtil.RandomArray(rng, length).Select(v => offset + scale * v).ToArray();

    /// <summary>Tolerance: relative 1e-5 of each element plus 1e-5 of the tensor's largest magnitude (for values that cancel to ~0).</summary>
    private static void Close(Tensor actual, Tensor expected, string what, double termScale = 0)
    {
        var e = expected.ToArray();
        double scale = Math.Max(termScale, e.Length == 0 ? 0 : e.Max(v => Math.Abs((double)v)));
        TestUtil.AssertClose(actual.ToArray(), e, 1e-5, 1e-5 * scale + 1e-12, what);
    }

    [TestCaseSource(nameof(Cases))]
    public void StatisticsMatchNaive(int outer, int channels, int inner)
    {
        var rng = new Random(outer * 7919 + channels * 31 + inner);
        // An offset makes the mean large relative to the spread: the variance must not lose it to cancellation.
        var (xc, xr) = Pair(Data(rng, outer * channels * inner, 3f, 2f), outer, channels, inner);
        var (mc, mr) = Pair(new float[channels], channels);
        var (vc, vr) = Pair(new float[channels], channels);
        CpuDevice.Default.BatchNormStatistics(xc, outer, channels, inner, mc, vc);
        ReferenceDevice.Instance.BatchNormStatistics(xr, outer, channels, inner, mr, vr);
        Close(mc, mr, "mean");
        Close(vc, vr, "variance");
    }

    [TestCaseSource(nameof(Cases))]
    public void ForwardMatchesNaive(int outer, int channels, int inner)
    {
        var rng = new Random(outer * 7919 + channels * 31 + inner + 1);
        int n = outer * channels * inner;
        var (xc, xr) = Pair(Data(rng, n, 0.5f, 3f), outer, channels, inner);
        var (mc, mr) = Pair(Data(rng, channels), channels);
        var (ic, ir) = Pair(Data(rng, channels, 1.5f), channels);
        var (gc, gr) = Pair(Data(rng, channels, 0, 2), channels);
        var (bc, br) = Pair(Data(rng, channels), channels);
        var (yc, yr) = Pair(new float[n], outer, channels, inner);
        CpuDevice.Default.BatchNormForward(xc, mc, ic, gc, bc, outer, channels, inner, yc);
        ReferenceDevice.Instance.BatchNormForward(xr, mr, ir, gr, br, outer, channels, inner, yr);
        Close(yc, yr, "y");
    }

    [TestCaseSource(nameof(Cases))]
    public void BackwardMatchesNaive(int outer, int channels, int inner)
    {
        foreach (bool batch in new[] { true, false })
        {
            var rng = new Random(outer * 7919 + channels * 31 + inner + 2);
            int n = outer * channels * inner;
            var xs = Data(rng, n, 1f, 2f);
            var (xc, xr) = Pair(xs, outer, channels, inner);
            var (dyc, dyr) = Pair(Data(rng, n), outer, channels, inner);
            var (mc, mr) = Pair(new float[channels], channels);
            var (vc, vr) = Pair(new float[channels], channels);
            ReferenceDevice.Instance.BatchNormStatistics(xr, outer, channels, inner, mr, vr);
            mc.CopyFrom(mr.ToArray());
            var inv = vr.ToArray().Select(v => 1f / MathF.Sqrt(v + 1e-5f)).ToArray();
            var (ic, ir) = Pair(inv, channels);
            var (gc, gr) = Pair(Data(rng, channels, 0, 2), channels);
            // Gradients accumulate: start both from the same non-zero values.
            var start = Data(rng, channels);
            var (dgc, dgr) = Pair(start, channels);
            var (dbc, dbr) = Pair(start, channels);
            var (dxc, dxr) = Pair(Enumerable.Repeat(float.NaN, n).ToArray(), outer, channels, inner);
            CpuDevice.Default.BatchNormBackward(xc, dyc, mc, ic, gc, outer, channels, inner, batch, dxc, dgc, dbc);
            ReferenceDevice.Instance.BatchNormBackward(xr, dyr, mr, ir, gr, outer, channels, inner, batch, dxr, dgr, dbr);
            // dX is a difference of terms of size |γ·invStd·dY| that cancel (exactly so when M = 2): measure the error against them.
            var dys = dyr.ToArray(); var gs = gr.ToArray();
            double terms = Enumerable.Range(0, n).Max(i => Math.Abs((double)dys[i] * gs[i / inner % channels] * inv[i / inner % channels]));
            Close(dxc, dxr, $"dX (batch statistics {batch})", terms);
            Close(dgc, dgr, $"dGamma (batch statistics {batch})");
            Close(dbc, dbr, $"dBeta (batch statistics {batch})");
        }
    }

    [TestCase(8, 24, 300), TestCase(2000, 33, 1), TestCase(700, 20, 3)] // large enough to take the threaded paths
    public void ResultsDoNotDependOnTheThreadCount(int outer, int channels, int inner)
    {
        int n = outer * channels * inner;
        var rng = new Random(9);
        var xs = Data(rng, n, 2f);
        var dys = Data(rng, n);
        float[] Run(CpuDevice d)
        {
            var x = Tensor.FromArray(d, xs, outer, channels, inner);
            var dy = Tensor.FromArray(d, dys, outer, channels, inner);
            Tensor m = new(d, channels), v = new(d, channels), inv = new(d, channels), g = new(d, channels), b = new(d, channels);
            d.Fill(g, 1.5f); d.Fill(b, 0.25f);
            d.BatchNormStatistics(x, outer, channels, inner, m, v);
            d.Unary(UnaryOp.RsqrtPlus, 1e-5f, v, inv);
            var y = x.ZerosLike();
            d.BatchNormForward(x, m, inv, g, b, outer, channels, inner, y);
            var dx = x.ZerosLike();
            Tensor dg = new(d, channels), db = new(d, channels);
            d.BatchNormBackward(x, dy, m, inv, g, outer, channels, inner, true, dx, dg, db);
            return [.. m.ToArray(), .. v.ToArray(), .. y.ToArray(), .. dx.ToArray(), .. dg.ToArray(), .. db.ToArray()];
        }
        var one = Run(new CpuDevice(1));
        Assert.That(Run(new CpuDevice(2)), Is.EqualTo(one));
        Assert.That(Run(new CpuDevice(3)), Is.EqualTo(one));
    }

    [Test]
    public void ShortTensorsAreRejectedWithTheArgumentName()
    {
        var d = CpuDevice.Default;
        var ex = Assert.Throws<ArgumentException>(() => d.BatchNormStatistics(new Tensor(d, 2, 3, 4), 2, 3, 5, new Tensor(d, 3), new Tensor(d, 3)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        ex = Assert.Throws<ArgumentException>(() => d.BatchNormStatistics(new Tensor(d, 2, 3, 4), 2, 3, 4, new Tensor(d, 2), new Tensor(d, 3)));
        Assert.That(ex!.ParamName, Is.EqualTo("mean"));
    }
}
