using ConvEngine.Inspect;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.Layers;

public class PoolingTests
{
    /// <summary>A random permutation of distinct values spaced 0.05 apart: no ties, and a ±1e-3 nudge never changes an argmax.</summary>
    private static Tensor DistinctInput(Random rng, params int[] shape)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        var values = Enumerable.Range(0, n).Select(i => (i - n / 2) * 0.05f).OrderBy(_ => rng.Next()).ToArray();
        return Tensor.FromArray(values, shape);
    }

    // Independent definitions of the outputs, written from PyTorch's documentation (not through PoolGeometry).
    private static float[] MaxPoolByDefinition(float[] x, int n, int c, int h, int w, int k, int s, int p, out int oh, out int ow)
    {
        oh = (h + 2 * p - k) / s + 1; ow = (w + 2 * p - k) / s + 1;
        var y = new float[n * c * oh * ow];
        for (int pl = 0; pl < n * c; pl++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    float m = float.NegativeInfinity;
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++)
                        {
                            int r = i * s - p + a, q = j * s - p + b;
                            if (r >= 0 && r < h && q >= 0 && q < w) m = Math.Max(m, x[(pl * h + r) * w + q]);
                        }
                    y[(pl * oh + i) * ow + j] = m;
                }
        return y;
    }

    private static float[] AvgPoolByDefinition(float[] x, int n, int c, int h, int w, int k, int s, int p, bool includePad, out int oh, out int ow)
    {
        oh = (h + 2 * p - k) / s + 1; ow = (w + 2 * p - k) / s + 1;
        var y = new float[n * c * oh * ow];
        for (int pl = 0; pl < n * c; pl++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    double sum = 0; int real = 0, padded = 0;
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++)
                        {
                            int r = i * s - p + a, q = j * s - p + b;
                            // PyTorch counts padded cells only up to the padded border (h + p, w + p).
                            if (r < h + p && q < w + p) padded++;
                            if (r >= 0 && r < h && q >= 0 && q < w) { sum += x[(pl * h + r) * w + q]; real++; }
                        }
                    y[(pl * oh + i) * ow + j] = (float)(sum / (includePad ? padded : real));
                }
        return y;
    }

    [Test]
    public void MaxPoolForwardMatchesDefinition([Values(2, 3)] int k, [Values(1, 2)] int s, [Values(0, 1)] int p)
    {
        var rng = new Random(k * 100 + s * 10 + p);
        for (int t = 0; t < 4; t++)
        {
            int n = rng.Next(1, 3), c = rng.Next(1, 4), h = rng.Next(k, 12), w = rng.Next(k, 12);
            var x = TestUtil.RandomTensor(rng, n, c, h, w);
            var y = new MaxPool2d(k, s, p).Forward(x);
            var expected = MaxPoolByDefinition(x.ToArray(), n, c, h, w, k, s, p, out int oh, out int ow);
            Assert.That(y.Shape, Is.EqualTo(new[] { n, c, oh, ow }));
            Assert.That(y.ToArray(), Is.EqualTo(expected));
        }
    }

    [Test]
    public void AvgPoolForwardMatchesDefinition([Values(2, 3)] int k, [Values(1, 2)] int s, [Values(0, 1)] int p, [Values] bool includePad)
    {
        var rng = new Random(k * 100 + s * 10 + p + (includePad ? 7 : 0));
        for (int t = 0; t < 4; t++)
        {
            int n = rng.Next(1, 3), c = rng.Next(1, 4), h = rng.Next(k, 12), w = rng.Next(k, 12);
            var x = TestUtil.RandomTensor(rng, n, c, h, w);
            var y = new AvgPool2d(k, s, p, includePad).Forward(x);
            var expected = AvgPoolByDefinition(x.ToArray(), n, c, h, w, k, s, p, includePad, out int oh, out int ow);
            Assert.That(y.Shape, Is.EqualTo(new[] { n, c, oh, ow }));
            TestUtil.AssertClose(y.ToArray(), expected, 1e-6, 1e-7, $"k{k} s{s} p{p} include {includePad}");
        }
    }

    [Test]
    public void AdaptiveAvgPoolMatchesDefinition()
    {
        var rng = new Random(31);
        foreach (var (h, w, oh, ow) in new[] { (7, 5, 3, 2), (6, 6, 1, 1), (4, 9, 4, 9), (3, 4, 5, 6), (10, 7, 4, 3) })
        {
            var x = TestUtil.RandomTensor(rng, 2, 3, h, w);
            var pool = oh == ow ? new AdaptiveAvgPool2d(oh) : new AdaptiveAvgPool2d(oh, ow);
            var y = pool.Forward(x);
            Assert.That(y.Shape, Is.EqualTo(new[] { 2, 3, oh, ow }));
            var xs = x.ToArray(); var expected = new float[2 * 3 * oh * ow];
            for (int pl = 0; pl < 6; pl++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        int r0 = i * h / oh, r1 = (int)Math.Ceiling((i + 1) * h / (double)oh);
                        int c0 = j * w / ow, c1 = (int)Math.Ceiling((j + 1) * w / (double)ow);
                        double sum = 0;
                        for (int r = r0; r < r1; r++) for (int q = c0; q < c1; q++) sum += xs[(pl * h + r) * w + q];
                        expected[(pl * oh + i) * ow + j] = (float)(sum / ((r1 - r0) * (c1 - c0)));
                    }
            TestUtil.AssertClose(y.ToArray(), expected, 1e-6, 1e-7, $"{h}x{w} -> {oh}x{ow}");
        }
    }

    public static IEnumerable<TestCaseData> GradCases()
    {
        yield return new TestCaseData(new MaxPool2d(2), new[] { 2, 3, 6, 7 }).SetName("Grad_MaxPool_k2");
        yield return new TestCaseData(new MaxPool2d(3, 2, 1), new[] { 2, 2, 7, 6 }).SetName("Grad_MaxPool_k3s2p1_overlapping");
        yield return new TestCaseData(new MaxPool2d((2, 3), (1, 2), (1, 0)), new[] { 2, 2, 5, 7 }).SetName("Grad_MaxPool_rect");
        yield return new TestCaseData(new AvgPool2d(2), new[] { 2, 3, 6, 7 }).SetName("Grad_AvgPool_k2");
        yield return new TestCaseData(new AvgPool2d(3, 2, 1, countIncludePad: true), new[] { 2, 2, 7, 6 }).SetName("Grad_AvgPool_pad_include");
        yield return new TestCaseData(new AvgPool2d(3, 2, 1, countIncludePad: false), new[] { 2, 2, 7, 6 }).SetName("Grad_AvgPool_pad_exclude");
        yield return new TestCaseData(new AdaptiveAvgPool2d(3, 2), new[] { 2, 3, 7, 5 }).SetName("Grad_AdaptiveAvgPool_3x2");
        yield return new TestCaseData(new AdaptiveAvgPool2d(1), new[] { 3, 2, 4, 4 }).SetName("Grad_AdaptiveAvgPool_global");
    }

    [TestCaseSource(nameof(GradCases))]
    public void GradientsMatchFiniteDifferences(Module pool, int[] shape)
    {
        var rng = new Random(17);
        var x = DistinctInput(rng, shape);
        var y = pool.Forward(x);
        var upstream = TestUtil.RandomTensor(rng, y.Shape);
        // Max pooling: eps 1e-3 is far below the 0.05 spacing, so no nudge changes an argmax. Average pooling is linear, so
        // finite differences are exact up to rounding and a larger eps keeps float rounding of y out of the comparison.
        float eps = pool is MaxPool2d ? 1e-3f : 1e-2f;
        var report = GradCheck.Check(pool, x, upstream, eps: eps);
        Assert.That(report.Entries.Count, Is.EqualTo(1), "pooling has no parameters");
        Assert.That(report["input"].Checked, Is.EqualTo(x.Length));
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-2), report.ToString());
    }

    [Test]
    public void MaxPoolRoutesTiesToTheFirstMaximumAndNaNWins()
    {
        // One 2x3 plane, one 2x3 window: ties at (0,1) and (1,0) go to (0,1); a NaN takes everything.
        var pool = new MaxPool2d((2, 3));
        var x = Tensor.FromArray([0f, 5f, 1f, 5f, 2f, 3f], 1, 1, 2, 3);
        Assert.That(pool.Forward(x).ToArray(), Is.EqualTo(new[] { 5f }));
        Assert.That(pool.Backward(Tensor.FromArray([2f], 1, 1, 1, 1)).ToArray(), Is.EqualTo(new[] { 0f, 2f, 0f, 0f, 0f, 0f }));
        var xn = Tensor.FromArray([0f, 5f, 1f, 5f, float.NaN, 3f], 1, 1, 2, 3);
        Assert.That(float.IsNaN(pool.Forward(xn).ToArray()[0]), Is.True);
        Assert.That(pool.Backward(Tensor.FromArray([2f], 1, 1, 1, 1)).ToArray(), Is.EqualTo(new[] { 0f, 0f, 0f, 0f, 2f, 0f }));
    }

    [Test]
    public void BackwardTwiceReturnsTheSameDX()
    {
        var rng = new Random(8);
        foreach (var pool in new Module[] { new MaxPool2d(3, 2, 1), new AvgPool2d(3, 2, 1), new AdaptiveAvgPool2d(2, 3) })
        {
            var x = DistinctInput(rng, 2, 2, 7, 6);
            var y = pool.Forward(x);
            var dY = TestUtil.RandomTensor(rng, y.Shape);
            var dX1 = pool.Backward(dY).ToArray();
            var dX2 = pool.Backward(dY).ToArray();
            Assert.That(dX2, Is.EqualTo(dX1), pool.ToString());
            Assert.That(dX1.Any(v => v != 0), Is.True, pool.ToString());
        }
    }

    [Test]
    public void StrideDefaultsToKernelAndToStringFollowsPyTorch()
    {
        var m = new MaxPool2d(3);
        Assert.That(m.Stride, Is.EqualTo((3, 3)));
        Assert.That(m.ToString(), Is.EqualTo("MaxPool2d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)"));
        Assert.That(new MaxPool2d((2, 3)).Stride, Is.EqualTo((2, 3)));
        Assert.That(new AvgPool2d(2, 1, 1).ToString(), Is.EqualTo("AvgPool2d(kernel_size=2, stride=1, padding=1)"));
        Assert.That(new AvgPool2d(2, countIncludePad: false).ToString(), Is.EqualTo("AvgPool2d(kernel_size=2, stride=2, padding=0, count_include_pad=False)"));
        Assert.That(new AdaptiveAvgPool2d(1).ToString(), Is.EqualTo("AdaptiveAvgPool2d(output_size=1)"));
        Assert.That(new AdaptiveAvgPool2d(2, 3).ToString(), Is.EqualTo("AdaptiveAvgPool2d(output_size=(2, 3))"));
        Assert.That(new MaxPool2d(2).Parameters(), Is.Empty);
    }

    [Test]
    public void BadArgumentsNameTheArgumentAndTheValues()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MaxPool2d(3, 1, 2));
        Assert.That(ex!.ParamName, Is.EqualTo("padding"));
        Assert.That(ex.Message, Does.Contain("(2, 2)").And.Contain("(3, 3)"));
        ex = Assert.Throws<ArgumentException>(() => new AvgPool2d(2, 1, 2));
        Assert.That(ex!.ParamName, Is.EqualTo("padding"));
        var aor = Assert.Throws<ArgumentOutOfRangeException>(() => new MaxPool2d(2, 0));
        Assert.That(aor!.ParamName, Is.EqualTo("stride"));
        Assert.That(aor.Message, Does.Contain("(0, 0)"));
        aor = Assert.Throws<ArgumentOutOfRangeException>(() => new AvgPool2d(2, -1));
        Assert.That(aor!.ParamName, Is.EqualTo("stride"));
        Assert.That(aor.Message, Does.Contain("-1"));
        aor = Assert.Throws<ArgumentOutOfRangeException>(() => new MaxPool2d(0));
        Assert.That(aor!.ParamName, Is.EqualTo("kernelSize"));
        aor = Assert.Throws<ArgumentOutOfRangeException>(() => new AdaptiveAvgPool2d(0, 2));
        Assert.That(aor!.ParamName, Is.EqualTo("outH"));

        foreach (var pool in new Module[] { new MaxPool2d(2), new AvgPool2d(2), new AdaptiveAvgPool2d(2) })
        {
            ex = Assert.Throws<ArgumentException>(() => pool.Forward(Tensor.Zeros(3, 4, 4)));
            Assert.That(ex!.ParamName, Is.EqualTo("x"), pool.ToString());
            Assert.That(ex.Message, Does.Contain("[3, 4, 4]").And.Contain("rank-4"), pool.ToString());
            Assert.Throws<InvalidOperationException>(() => pool.Backward(Tensor.Zeros(1, 1, 1, 1)), pool.ToString());
        }
        ex = Assert.Throws<ArgumentException>(() => new MaxPool2d(5, 1, 1).Forward(Tensor.Zeros(1, 1, 2, 8)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("[1, 1, 2, 8]").And.Contain("(5, 5)").And.Contain("(4, 10)"));

        var mp = new MaxPool2d(2);
        mp.Forward(Tensor.Zeros(1, 2, 4, 4));
        ex = Assert.Throws<ArgumentException>(() => mp.Backward(Tensor.Zeros(1, 2, 2, 3)));
        Assert.That(ex!.ParamName, Is.EqualTo("dY"));
        Assert.That(ex.Message, Does.Contain("[1, 2, 2, 2]").And.Contain("[1, 2, 2, 3]"));
    }
}
