using ConvEngine.Inspect;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.Layers;

public class BatchNormTests
{
    /// <summary>Per-channel mean and biased variance of x [outer, C, inner], in double, computed directly.</summary>
    private static (double[] Mean, double[] Var) Stats(float[] x, int outer, int c, int inner)
    {
        var mean = new double[c]; var var = new double[c];
        int m = outer * inner;
        for (int ch = 0; ch < c; ch++)
        {
            double s = 0;
            for (int o = 0; o < outer; o++) for (int i = 0; i < inner; i++) s += x[(o * c + ch) * inner + i];
            mean[ch] = s / m;
            double v = 0;
            for (int o = 0; o < outer; o++) for (int i = 0; i < inner; i++) { double d = x[(o * c + ch) * inner + i] - mean[ch]; v += d * d; }
            var[ch] = v / m;
        }
        return (mean, var);
    }

    private static void SetAffine(BatchNormBase bn, Random rng)
    {
        bn.Weight.Value.CopyFrom(TestUtil.RandomArray(rng, bn.NumFeatures, 0.5f, 2f));
        bn.Bias.Value.CopyFrom(TestUtil.RandomArray(rng, bn.NumFeatures));
    }

    [Test]
    public void TrainForwardNormalisesWithBatchStatistics([Values(1, 3)] int n, [Values(1, 4)] int c, [Values(2, 5)] int hw)
    {
        var rng = new Random(n * 100 + c * 10 + hw);
        var bn = new BatchNorm2d(c, eps: 1e-3f);
        SetAffine(bn, rng);
        var x = TestUtil.RandomTensor(rng, n, c, hw, hw + 1);
        var y = bn.Forward(x).ToArray();
        var xs = x.ToArray(); int inner = hw * (hw + 1);
        var (mean, var) = Stats(xs, n, c, inner);
        var g = bn.Weight.Value.ToArray(); var b = bn.Bias.Value.ToArray();
        var expected = new float[xs.Length];
        for (int o = 0; o < n; o++) for (int ch = 0; ch < c; ch++) for (int i = 0; i < inner; i++)
        {
            int idx = (o * c + ch) * inner + i;
            expected[idx] = (float)((xs[idx] - mean[ch]) / Math.Sqrt(var[ch] + 1e-3) * g[ch] + b[ch]);
        }
        TestUtil.AssertClose(y, expected, 1e-4, 1e-5, "y");
    }

    [Test]
    public void RunningStatisticsFollowPyTorchsUpdate()
    {
        var rng = new Random(4);
        var bn = new BatchNorm2d(3, momentum: 0.3f);
        var rm = new double[3]; var rv = new double[] { 1, 1, 1 };
        for (int step = 0; step < 4; step++)
        {
            var x = Tensor.FromArray(TestUtil.RandomArray(rng, 2 * 3 * 2 * 3).Select(v => 2 * v + step).ToArray(), 2, 3, 2, 3);
            bn.Forward(x);
            var (mean, var) = Stats(x.ToArray(), 2, 3, 6);
            int m = 12;
            for (int c = 0; c < 3; c++)
            {
                rm[c] = 0.7 * rm[c] + 0.3 * mean[c];
                rv[c] = 0.7 * rv[c] + 0.3 * var[c] * m / (m - 1);
            }
        }
        TestUtil.AssertClose(bn.RunningMean.ToArray(), rm.Select(v => (float)v).ToArray(), 1e-5, 1e-6, "running_mean");
        TestUtil.AssertClose(bn.RunningVar.ToArray(), rv.Select(v => (float)v).ToArray(), 1e-5, 1e-6, "running_var");
        Assert.That(bn.NumBatchesTracked.Shape, Is.Empty, "num_batches_tracked has shape []");
        Assert.That(bn.NumBatchesTracked.ToArray(), Is.EqualTo(new[] { 4f }));
    }

    [Test]
    public void EvalUsesRunningStatisticsAndLeavesThemAlone()
    {
        var rng = new Random(5);
        var bn = new BatchNorm1d(4);
        SetAffine(bn, rng);
        bn.RunningMean.CopyFrom(TestUtil.RandomArray(rng, 4));
        bn.RunningVar.CopyFrom(TestUtil.RandomArray(rng, 4, 0.5f, 2f));
        bn.Eval();
        var rm = bn.RunningMean.ToArray(); var rv = bn.RunningVar.ToArray();
        var x = TestUtil.RandomTensor(rng, 1, 4); // one sample is fine in eval mode
        var y = bn.Forward(x).ToArray();
        var xs = x.ToArray(); var g = bn.Weight.Value.ToArray(); var b = bn.Bias.Value.ToArray();
        var expected = Enumerable.Range(0, 4).Select(c => (float)((xs[c] - rm[c]) / Math.Sqrt(rv[c] + 1e-5) * g[c] + b[c])).ToArray();
        TestUtil.AssertClose(y, expected, 1e-5, 1e-6, "y");
        Assert.That(bn.RunningMean.ToArray(), Is.EqualTo(rm));
        Assert.That(bn.RunningVar.ToArray(), Is.EqualTo(rv));
        Assert.That(bn.NumBatchesTracked.ToArray(), Is.EqualTo(new[] { 0f }));
    }

    private static IEnumerable<TestCaseData> GradCases()
    {
        yield return new TestCaseData(new Func<BatchNormBase>(() => new BatchNorm2d(3)), new[] { 2, 3, 3, 4 }).SetName("BatchNorm2d [2,3,3,4]");
        yield return new TestCaseData(new Func<BatchNormBase>(() => new BatchNorm2d(2)), new[] { 3, 2, 1, 1 }).SetName("BatchNorm2d [3,2,1,1]");
        yield return new TestCaseData(new Func<BatchNormBase>(() => new BatchNorm1d(5)), new[] { 4, 5 }).SetName("BatchNorm1d [4,5]");
        yield return new TestCaseData(new Func<BatchNormBase>(() => new BatchNorm1d(3)), new[] { 2, 3, 6 }).SetName("BatchNorm1d [2,3,6]");
    }

    [TestCaseSource(nameof(GradCases))]
    public void TrainGradientsMatchFiniteDifferences(Func<BatchNormBase> make, int[] shape)
    {
        var rng = new Random(11);
        var bn = make();
        SetAffine(bn, rng);
        var x = Tensor.FromArray(TestUtil.RandomArray(rng, shape.Aggregate(1, (p, d) => p * d), -2, 2), shape);
        var report = GradCheck.Check(bn, x, eps: 1e-2f, floor: 1e-2);
        Assert.That(report.MaxRelativeError, Is.LessThan(2e-2), report.ToString());
        // GradCheck restores the buffers after its many forwards; the first forward's update is gone too.
        Assert.That(bn.NumBatchesTracked.ToArray(), Is.EqualTo(new[] { 0f }));
    }

    [TestCaseSource(nameof(GradCases))]
    public void EvalGradientsMatchFiniteDifferences(Func<BatchNormBase> make, int[] shape)
    {
        var rng = new Random(12);
        var bn = make();
        SetAffine(bn, rng);
        bn.RunningMean.CopyFrom(TestUtil.RandomArray(rng, bn.NumFeatures));
        bn.RunningVar.CopyFrom(TestUtil.RandomArray(rng, bn.NumFeatures, 0.5f, 2f));
        bn.Eval();
        var x = Tensor.FromArray(TestUtil.RandomArray(rng, shape.Aggregate(1, (p, d) => p * d), -2, 2), shape);
        var report = GradCheck.Check(bn, x, eps: 1e-2f);
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-2), report.ToString());
    }

    [Test]
    public void BackwardUsesTheModeOfTheForward()
    {
        var rng = new Random(13);
        var bn = new BatchNorm2d(2);
        var x = TestUtil.RandomTensor(rng, 3, 2, 2, 2);
        var dY = TestUtil.RandomTensor(rng, 3, 2, 2, 2);
        bn.Forward(x);
        bn.Eval(); // switching after the forward must not change what Backward computes
        var dX = bn.Backward(dY).ToArray();
        // Batch statistics: every channel's dX sums to zero (the mean's gradient cancels); fixed statistics would not.
        for (int c = 0; c < 2; c++)
        {
            double s = 0;
            for (int o = 0; o < 3; o++) for (int i = 0; i < 4; i++) s += dX[(o * 2 + c) * 4 + i];
            Assert.That(Math.Abs(s), Is.LessThan(1e-4), $"channel {c}");
        }
    }

    [Test]
    public void BackwardTwiceAccumulatesParameterGradients()
    {
        var rng = new Random(14);
        var bn = new BatchNorm2d(3);
        var x = TestUtil.RandomTensor(rng, 2, 3, 2, 2);
        var dY = TestUtil.RandomTensor(rng, 2, 3, 2, 2);
        bn.Forward(x);
        var dX1 = bn.Backward(dY).ToArray();
        var g1 = bn.Weight.Grad.ToArray(); var b1 = bn.Bias.Grad.ToArray();
        var dX2 = bn.Backward(dY).ToArray();
        TestUtil.AssertClose(dX2, dX1, what: "dX is the same");
        TestUtil.AssertClose(bn.Weight.Grad.ToArray(), g1.Select(v => 2 * v).ToArray(), what: "dγ doubled");
        TestUtil.AssertClose(bn.Bias.Grad.ToArray(), b1.Select(v => 2 * v).ToArray(), what: "dβ doubled");
        bn.ZeroGrad();
        Assert.That(bn.Weight.Grad.ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void NamesAndInitialValuesFollowPyTorch()
    {
        var net = new Sequential(new BatchNorm2d(3));
        Assert.That(net.StateDict().Keys, Is.EquivalentTo(new[] { "0.weight", "0.bias", "0.running_mean", "0.running_var", "0.num_batches_tracked" }));
        var bn = (BatchNorm2d)net[0];
        Assert.That(bn.Weight.Value.ToArray(), Is.All.EqualTo(1f));
        Assert.That(bn.Bias.Value.ToArray(), Is.All.EqualTo(0f));
        Assert.That(bn.RunningMean.ToArray(), Is.All.EqualTo(0f));
        Assert.That(bn.RunningVar.ToArray(), Is.All.EqualTo(1f));
    }

    [Test]
    public void BadInputsAreRejected()
    {
        var bn2 = new BatchNorm2d(3);
        var ex = Assert.Throws<ArgumentException>(() => bn2.Forward(Tensor.Zeros(2, 3, 4)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("[2, 3, 4]"));
        ex = Assert.Throws<ArgumentException>(() => bn2.Forward(Tensor.Zeros(2, 4, 2, 2)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("3").And.Contain("[2, 4, 2, 2]"));
        ex = Assert.Throws<ArgumentException>(() => bn2.Forward(Tensor.Zeros(1, 3, 1, 1)));
        Assert.That(ex!.Message, Does.Contain("more than 1 value per channel"));
        var bn1 = new BatchNorm1d(3);
        ex = Assert.Throws<ArgumentException>(() => bn1.Forward(Tensor.Zeros(1, 3)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.Throws<ArgumentException>(() => bn1.Forward(Tensor.Zeros(2, 3, 1, 1)));
        Assert.Throws<InvalidOperationException>(() => new BatchNorm1d(2).Backward(Tensor.Zeros(2, 2)));
        bn1.Forward(Tensor.Zeros(2, 3));
        ex = Assert.Throws<ArgumentException>(() => bn1.Backward(Tensor.Zeros(3, 3)));
        Assert.That(ex!.ParamName, Is.EqualTo("dY"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm2d(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm2d(2, momentum: 1.5f));
    }

    [Test]
    public void CpuAndReferenceDevicesAgree()
    {
        var rng = new Random(15);
        var data = TestUtil.RandomArray(rng, 4 * 3 * 5 * 5, -3, 3);
        var dy = TestUtil.RandomArray(rng, data.Length);
        float[][] Run(IDevice d)
        {
            var bn = new BatchNorm2d(3, device: d);
            var y = bn.Forward(Tensor.FromArray(d, data, 4, 3, 5, 5));
            var dX = bn.Backward(Tensor.FromArray(d, dy, 4, 3, 5, 5));
            return [y.ToArray(), dX.ToArray(), bn.Weight.Grad.ToArray(), bn.Bias.Grad.ToArray(), bn.RunningMean.ToArray(), bn.RunningVar.ToArray()];
        }
        var a = Run(CpuDevice.Default); var b = Run(ReferenceDevice.Instance);
        for (int i = 0; i < a.Length; i++) TestUtil.AssertClose(a[i], b[i], 1e-4, 1e-5, $"output {i}");
    }
}
