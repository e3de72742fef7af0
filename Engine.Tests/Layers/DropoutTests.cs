using ConvEngine.Inspect;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.Layers;

public class DropoutTests
{
    /// <summary>Dropout whose mask is fixed: the stream counter is set back before every forward, so GradCheck sees one function.</summary>
    private sealed class FixedMaskDropout(Dropout inner) : Module
    {
        protected override Tensor ForwardCore(Tensor x) { inner.Step = 7; return inner.Forward(x); }
        protected override Tensor BackwardCore(Tensor dY) => inner.Backward(dY);
    }

    private static float[] ExpectedMask(ulong seed, ulong stream, float p, float keep, int n) =>
        Enumerable.Range(0, n).Select(i => Rng.Uniform(seed, stream, (ulong)i) >= p ? keep : 0f).ToArray();

    [Test]
    public void TrainAndEvalFollowTheMode([Values] DropoutMode mode, [Values(0f, 0.3f, 0.75f)] float p)
    {
        var rng = new Random(1);
        var x = TestUtil.RandomTensor(rng, 4, 3, 5, 5);
        var xs = x.ToArray();
        var drop = new Dropout(p, mode, seed: 42);
        float keep = mode == DropoutMode.UpscaleInTrain ? 1f / (1f - p) : 1f;
        var mask = ExpectedMask(42, 0, p, keep, xs.Length);
        var y = drop.Forward(x).ToArray();
        TestUtil.AssertClose(y, xs.Zip(mask, (a, m) => a * m).ToArray(), 1e-6, 0, "train output");
        Assert.That(drop.Step, Is.EqualTo(1UL));
        drop.Eval();
        float evalFactor = mode == DropoutMode.UpscaleInTrain ? 1f : 1f - p;
        var ye = drop.Forward(x).ToArray();
        TestUtil.AssertClose(ye, xs.Select(v => v * evalFactor).ToArray(), 1e-6, 0, "eval output");
        Assert.That(drop.Step, Is.EqualTo(1UL), "eval forwards do not advance the stream");
        var dY = TestUtil.RandomTensor(rng, 4, 3, 5, 5);
        TestUtil.AssertClose(drop.Backward(dY).ToArray(), dY.ToArray().Select(v => v * evalFactor).ToArray(), 1e-6, 0, "eval dX");
    }

    [Test]
    public void KeepFractionIsAboutOneMinusP()
    {
        var drop = new Dropout(0.3f, seed: 3);
        var y = drop.Forward(Tensor.FromArray(Enumerable.Repeat(1f, 100_000).ToArray(), 100_000)).ToArray();
        double kept = y.Count(v => v != 0) / 100_000.0;
        Assert.That(kept, Is.EqualTo(0.7).Within(0.01));
        Assert.That(y.Where(v => v != 0), Is.All.EqualTo(1f / 0.7f));
    }

    [Test]
    public void MasksChangePerStepAndReplayWhenTheCounterIsSetBack()
    {
        var x = Tensor.FromArray(Enumerable.Repeat(1f, 256).ToArray(), 256);
        var drop = new Dropout(0.5f, seed: 9);
        var y0 = drop.Forward(x).ToArray();
        var y1 = drop.Forward(x).ToArray();
        Assert.That(y1, Is.Not.EqualTo(y0));
        drop.Step = 0;
        Assert.That(drop.Forward(x).ToArray(), Is.EqualTo(y0));
        Assert.That(new Dropout(0.5f, seed: 10).Forward(x).ToArray(), Is.Not.EqualTo(y0), "another seed, another mask");
    }

    [Test]
    public void TrainBackwardIsDyTimesTheMask([Values] DropoutMode mode)
    {
        var rng = new Random(2);
        var drop = new Dropout(0.4f, mode, seed: 5) { Step = 3 };
        var x = TestUtil.RandomTensor(rng, 3, 7);
        drop.Forward(x);
        var dY = TestUtil.RandomTensor(rng, 3, 7);
        float keep = mode == DropoutMode.UpscaleInTrain ? 1f / 0.6f : 1f;
        var mask = ExpectedMask(5, 3, 0.4f, keep, 21);
        var dX = drop.Backward(dY).ToArray();
        TestUtil.AssertClose(dX, dY.ToArray().Zip(mask, (a, m) => a * m).ToArray(), 1e-6, 0, "dX");
        TestUtil.AssertClose(drop.Backward(dY).ToArray(), dX, 0, 0, "Backward twice gives the same dX");
    }

    [Test]
    public void GradientsMatchFiniteDifferencesWithAFixedMask([Values] DropoutMode mode)
    {
        var module = new FixedMaskDropout(new Dropout(0.5f, mode, seed: 1));
        var report = GradCheck.Check(module, TestUtil.RandomTensor(new Random(3), 2, 3, 4));
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-3), report.ToString());
    }

    [Test]
    public void POfOneZeroesEverythingInTraining()
    {
        var drop = new Dropout(1f);
        var x = TestUtil.RandomTensor(new Random(4), 5, 5);
        var y = drop.Forward(x).ToArray();
        Assert.That(y, Is.All.EqualTo(0f));
        Assert.That(y.Any(float.IsNaN), Is.False);
        Assert.That(drop.Backward(x).ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void BadArgumentsAreRejected()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(-0.1f))!.ParamName, Is.EqualTo("p"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(1.5f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(float.NaN));
        Assert.Throws<InvalidOperationException>(() => new Dropout().Backward(Tensor.Zeros(2)));
        var drop = new Dropout();
        drop.Forward(Tensor.Zeros(2, 3));
        Assert.That(Assert.Throws<ArgumentException>(() => drop.Backward(Tensor.Zeros(3, 2)))!.ParamName, Is.EqualTo("dY"));
    }
}
