using ConvEngine.Kernels.Simd;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The SIMD element-wise kernels of CpuDevice against the naive twin (ReferenceDevice) for every length 0..257
/// (all vector/tail splits of every width) and a few large lengths that take the multi-threaded path.
/// </summary>
[Category("Simd")]
public class SimdKernelTests
{
    private static readonly int[] LargeLengths = { 1000, 4099, 65537, 70001, 200003 };
    private static IEnumerable<UnaryOp> AllOps() => Enum.GetValues<UnaryOp>();
    private static IEnumerable<int> AllLengths() => Enumerable.Range(0, 258).Concat(LargeLengths);

    private static readonly CpuDevice Cpu2 = new(2);
    private static readonly CpuDevice Cpu1 = new(1);
    private static readonly ReferenceDevice Ref = ReferenceDevice.Instance;

    private static float AlphaFor(UnaryOp op) => op switch
    {
        UnaryOp.LeakyRelu => 0.01f,
        UnaryOp.Elu => 1.3f,
        UnaryOp.Scale => -0.75f,
        UnaryOp.RsqrtPlus => 1e-5f,
        _ => 0f,
    };

    // exp-based ops are compared with an absolute tolerance of ~1e-5 (brief), the rest to float rounding.
    private static (double Rtol, double Atol) TolFor(UnaryOp op) => op switch
    {
        UnaryOp.Elu or UnaryOp.Sigmoid or UnaryOp.Tanh => (1e-5, 1e-5),
        _ => (1e-6, 1e-7),
    };

    /// <summary>Inputs in a range valid for the op, with saturating extremes sprinkled in for the exp-based ops.</summary>
    private static float[] Input(UnaryOp op, int n, int seed)
    {
        var rng = new Random(seed);
        if (op == UnaryOp.RsqrtPlus) return TestUtil.RandomArray(rng, n, 0f, 4f);
        var x = TestUtil.RandomArray(rng, n, -6f, 6f);
        float[] extremes = { -100f, 100f, -30f, 30f, 0f, -0f, 1e-7f, -1e-7f };
        for (int i = 0; i < extremes.Length && i * 37 < n; i++) x[i * 37] = extremes[i];
        return x;
    }

    [TestCaseSource(nameof(AllOps))]
    public void UnaryMatchesNaiveForEveryLength(UnaryOp op)
    {
        float alpha = AlphaFor(op);
        var (rtol, atol) = TolFor(op);
        foreach (int n in AllLengths())
        {
            var xs = Input(op, n, n);
            var expected = Tensor.Zeros(Ref, n);
            Ref.Unary(op, alpha, Tensor.FromArray(Ref, xs, n), expected);
            var dev = n > 60000 ? Cpu2 : Cpu1;
            var y = Tensor.Zeros(dev, n);
            dev.Unary(op, alpha, Tensor.FromArray(dev, xs, n), y);
            TestUtil.AssertClose(y.ToArray(), expected.ToArray(), rtol, atol, $"{op} n={n}");

            // In place (x and y the same tensor) must give the same values.
            var inPlace = Tensor.FromArray(dev, xs, n);
            dev.Unary(op, alpha, inPlace, inPlace);
            TestUtil.AssertClose(inPlace.ToArray(), expected.ToArray(), rtol, atol, $"{op} in place n={n}");
        }
    }

    [TestCaseSource(nameof(AllOps))]
    public void UnaryBackwardMatchesNaiveForEveryLength(UnaryOp op)
    {
        float alpha = AlphaFor(op);
        foreach (int n in AllLengths())
        {
            var xs = Input(op, n, 1000 + n);
            var ys = new float[n];
            Reference.NaiveElementwise.Unary(op, alpha, xs, ys);
            var gs = TestUtil.RandomArray(new Random(2000 + n), n);
            var expected = Tensor.Zeros(Ref, n);
            Ref.UnaryBackward(op, alpha, Tensor.FromArray(Ref, xs, n), Tensor.FromArray(Ref, ys, n), Tensor.FromArray(Ref, gs, n), expected);
            var dev = n > 60000 ? Cpu2 : Cpu1;
            var dX = Tensor.Zeros(dev, n);
            dev.UnaryBackward(op, alpha, Tensor.FromArray(dev, xs, n), Tensor.FromArray(dev, ys, n), Tensor.FromArray(dev, gs, n), dX);
            TestUtil.AssertClose(dX.ToArray(), expected.ToArray(), 1e-6, 1e-7, $"{op} backward n={n}");
        }
    }

    [Test]
    public void AddMultiplyAxpbyMatchNaiveForEveryLength()
    {
        foreach (int n in AllLengths())
        {
            var rng = new Random(n);
            float[] a = TestUtil.RandomArray(rng, n), b = TestUtil.RandomArray(rng, n);
            var dev = n > 60000 ? Cpu2 : Cpu1;
            foreach (bool multiply in new[] { false, true })
            {
                var expected = Tensor.Zeros(Ref, n);
                var actual = Tensor.Zeros(dev, n);
                if (multiply) { Ref.Multiply(T(Ref, a), T(Ref, b), expected); dev.Multiply(T(dev, a), T(dev, b), actual); }
                else { Ref.Add(T(Ref, a), T(Ref, b), expected); dev.Add(T(dev, a), T(dev, b), actual); }
                TestUtil.AssertClose(actual.ToArray(), expected.ToArray(), 1e-7, 0, $"{(multiply ? "Multiply" : "Add")} n={n}");
            }

            // Axpby with beta ≠ 0, and with beta = 0 where y holds NaN that must not be read.
            var yRef = T(Ref, b); Ref.Axpby(0.7f, T(Ref, a), -1.25f, yRef);
            var yDev = T(dev, b); dev.Axpby(0.7f, T(dev, a), -1.25f, yDev);
            TestUtil.AssertClose(yDev.ToArray(), yRef.ToArray(), 1e-6, 1e-7, $"Axpby n={n}");
            var nan = Enumerable.Repeat(float.NaN, n).ToArray();
            var y0 = T(dev, nan); dev.Axpby(2f, T(dev, a), 0f, y0);
            TestUtil.AssertClose(y0.ToArray(), a.Select(v => 2f * v).ToArray(), 0, 0, $"Axpby beta=0 n={n}");
        }
    }

    [Test]
    public void SumAndSumOfSquaresMatchNaiveForEveryLength()
    {
        foreach (int n in AllLengths())
        {
            var a = TestUtil.RandomArray(new Random(n), n, -2f, 3f);
            var dev = n > 60000 ? Cpu2 : Cpu1;
            double sum = dev.Sum(T(dev, a)), sumRef = Ref.Sum(T(Ref, a));
            double sq = dev.SumOfSquares(T(dev, a)), sqRef = Ref.SumOfSquares(T(Ref, a));
            double scale = a.Sum(v => Math.Abs((double)v)) + 1;
            Assert.That(sum, Is.EqualTo(sumRef).Within(1e-12 * scale), $"Sum n={n}");
            Assert.That(sq, Is.EqualTo(sqRef).Within(1e-12 * (sqRef + 1)), $"SumOfSquares n={n}");
        }
    }

    [Test]
    public void ReductionsDoNotDependOnThreadCount()
    {
        var a = TestUtil.RandomArray(new Random(9), 300_001);
        double s1 = Cpu1.Sum(T(Cpu1, a)), s2 = Cpu2.Sum(T(Cpu2, a)), s2b = Cpu2.Sum(T(Cpu2, a));
        Assert.That(s2b, Is.EqualTo(s2), "same thread count: bitwise");
        Assert.That(s1, Is.EqualTo(s2), "fixed chunking: 1 and 2 threads agree bitwise");
        Assert.That(Cpu1.SumOfSquares(T(Cpu1, a)), Is.EqualTo(Cpu2.SumOfSquares(T(Cpu2, a))));
    }

    [Test]
    public void FillSetsEveryElement([Values(0, 1, 15, 17, 257, 70001)] int n)
    {
        var t = T(Cpu2, TestUtil.RandomArray(new Random(n), n));
        Cpu2.Fill(t, 3.5f);
        Assert.That(t.ToArray(), Is.All.EqualTo(3.5f));
    }

    [Test]
    public void ChannelOpsMatchNaiveOnRandomShapes()
    {
        var rng = new Random(42);
        var shapes = new List<(int O, int C, int I)> { (1, 1, 1), (3, 5, 1), (7, 13, 1), (2, 3, 17), (4, 64, 300), (1, 1, 70001), (5, 257, 1), (2, 9, 49), (64, 1000, 1) };
        while (shapes.Count < 25) shapes.Add((rng.Next(1, 6), rng.Next(1, 40), rng.Next(1, 300)));
        foreach (var (o, c, i) in shapes)
        {
            int n = o * c * i;
            string what = $"[{o},{c},{i}]";
            float[] x = TestUtil.RandomArray(rng, n), x2 = TestUtil.RandomArray(rng, n), ch = TestUtil.RandomArray(rng, c);
            var dev = Cpu2;

            var yRef = T(Ref, x); Ref.AddChannelBias(yRef, T(Ref, ch), o, c, i);
            var yDev = T(dev, x); dev.AddChannelBias(yDev, T(dev, ch), o, c, i);
            TestUtil.AssertClose(yDev.ToArray(), yRef.ToArray(), 1e-7, 0, $"AddChannelBias {what}");

            var sRef = Tensor.Zeros(Ref, n); Ref.ChannelScale(T(Ref, x), T(Ref, ch), o, c, i, sRef);
            var sDev = Tensor.Zeros(dev, n); dev.ChannelScale(T(dev, x), T(dev, ch), o, c, i, sDev);
            TestUtil.AssertClose(sDev.ToArray(), sRef.ToArray(), 1e-7, 0, $"ChannelScale {what}");
            var inPlace = T(dev, x); dev.ChannelScale(inPlace, T(dev, ch), o, c, i, inPlace);
            TestUtil.AssertClose(inPlace.ToArray(), sRef.ToArray(), 1e-7, 0, $"ChannelScale in place {what}");

            foreach (bool withB in new[] { false, true })
                foreach (bool acc in new[] { false, true })
                {
                    var rRef = T(Ref, ch); Ref.ChannelDot(T(Ref, x), withB ? T(Ref, x2) : null, o, c, i, rRef, acc);
                    var rDev = T(dev, ch); dev.ChannelDot(T(dev, x), withB ? T(dev, x2) : null, o, c, i, rDev, acc);
                    TestUtil.AssertClose(rDev.ToArray(), rRef.ToArray(), 1e-5, 1e-5, $"ChannelDot b={withB} acc={acc} {what}");
                }
        }
    }

    [Test]
    public void DriverMatchesScalarOpsDirectly()
    {
        // The driver on raw spans (no device): every op's vector form agrees with its own scalar form.
        foreach (int n in new[] { 0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 255, 257 })
        {
            var x = TestUtil.RandomArray(new Random(n), n, -3f, 3f);
            var y = new float[n];
            SimdDriver.Map(x, y, new TanhOp());
            for (int i = 0; i < n; i++) Assert.That(y[i], Is.EqualTo(new TanhOp().Invoke(x[i])).Within(1e-6), $"tanh n={n} i={i}");
            SimdDriver.Map2(x, x, y, new AxpbyOp(2f, 3f));
            for (int i = 0; i < n; i++) Assert.That(y[i], Is.EqualTo(5f * x[i]).Within(1e-5), $"axpby n={n} i={i}");
        }
        TestContext.Out.WriteLine($"SIMD width in this process: {SimdDriver.Width}");
    }

    [Test]
    public void LengthMismatchNamesArgument()
    {
        var ex = Assert.Throws<ArgumentException>(() => Cpu1.Add(Tensor.Zeros(Cpu1, 5), Tensor.Zeros(Cpu1, 4), Tensor.Zeros(Cpu1, 5)));
        Assert.That(ex!.ParamName, Is.EqualTo("b"));
        Assert.That(ex.Message, Does.Contain("4").And.Contain("5"));
        ex = Assert.Throws<ArgumentException>(() => Cpu1.Unary(UnaryOp.Relu, 0, Tensor.Zeros(Cpu1, 5), Tensor.Zeros(Cpu1, 6)));
        Assert.That(ex!.ParamName, Is.EqualTo("y"));
        ex = Assert.Throws<ArgumentException>(() => Cpu1.UnaryBackward(UnaryOp.Relu, 0, Tensor.Zeros(Cpu1, 5), Tensor.Zeros(Cpu1, 5), Tensor.Zeros(Cpu1, 3), Tensor.Zeros(Cpu1, 5)));
        Assert.That(ex!.ParamName, Is.EqualTo("dY"));
        ex = Assert.Throws<ArgumentException>(() => Cpu1.AddChannelBias(Tensor.Zeros(Cpu1, 12), Tensor.Zeros(Cpu1, 2), 2, 3, 2));
        Assert.That(ex!.ParamName, Is.EqualTo("bias"));
    }

    private static Tensor T(IDevice d, float[] data) => Tensor.FromArray(d, (float[])data.Clone(), data.Length);
}
