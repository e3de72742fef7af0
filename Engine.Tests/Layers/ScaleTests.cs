using ConvEngine.Inspect;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.Layers;

public class ScaleTests
{
    [Test]
    public void ScaleMultipliesAndItsGradientIsTheFactor([Values(-0.5f, 0f, 0.2f, 3f)] float factor)
    {
        var rng = new Random(1);
        var s = new Scale(factor);
        var x = TestUtil.RandomTensor(rng, 2, 3, 4);
        TestUtil.AssertClose(s.Forward(x).ToArray(), x.ToArray().Select(v => factor * v).ToArray(), 1e-6, 0, "y");
        var dY = TestUtil.RandomTensor(rng, 2, 3, 4);
        TestUtil.AssertClose(s.Backward(dY).ToArray(), dY.ToArray().Select(v => factor * v).ToArray(), 1e-6, 0, "dX");
        var report = GradCheck.Check(s, x);
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-3), report.ToString());
    }

    [Test]
    public void ScaleRejectsBadUse()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Scale(float.NaN));
        Assert.Throws<InvalidOperationException>(() => new Scale(2).Backward(Tensor.Zeros(2)));
        var s = new Scale(2);
        s.Forward(Tensor.Zeros(2, 2));
        Assert.That(Assert.Throws<ArgumentException>(() => s.Backward(Tensor.Zeros(4)))!.ParamName, Is.EqualTo("dY"));
    }

    [Test]
    public void LearnableScaleMultipliesPerChannel([Values(2, 3, 4)] int rank)
    {
        var rng = new Random(rank);
        var ls = new LearnableScale(3, init: 0.5f);
        Assert.That(ls.Weight.Value.ToArray(), Is.All.EqualTo(0.5f));
        ls.Weight.Value.CopyFrom(new[] { 2f, -1f, 0.25f });
        int[] shape = rank switch { 2 => [4, 3], 3 => [2, 3, 5], _ => [2, 3, 2, 3] };
        var x = TestUtil.RandomTensor(rng, shape);
        var xs = x.ToArray();
        int inner = xs.Length / (shape[0] * 3);
        var s = new[] { 2f, -1f, 0.25f };
        var expected = xs.Select((v, i) => v * s[i / inner % 3]).ToArray();
        TestUtil.AssertClose(ls.Forward(x).ToArray(), expected, 1e-6, 0, "y");
    }

    [Test]
    public void LearnableScaleGradientsMatchFiniteDifferences()
    {
        var rng = new Random(3);
        var ls = new LearnableScale(3);
        ls.Weight.Value.CopyFrom(TestUtil.RandomArray(rng, 3));
        var report = GradCheck.Check(ls, TestUtil.RandomTensor(rng, 2, 3, 2, 3));
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-2), report.ToString());
        Assert.That(report.Entries.Select(e => e.Name), Is.EqualTo(new[] { "input", "weight" }));
    }

    [Test]
    public void LearnableScaleAccumulatesItsGradient()
    {
        var rng = new Random(4);
        var ls = new LearnableScale(2);
        var x = TestUtil.RandomTensor(rng, 3, 2, 4);
        var dY = TestUtil.RandomTensor(rng, 3, 2, 4);
        ls.Forward(x);
        var dX1 = ls.Backward(dY).ToArray();
        var g1 = ls.Weight.Grad.ToArray();
        var xs = x.ToArray(); var dys = dY.ToArray();
        for (int c = 0; c < 2; c++)
        {
            double expect = 0;
            for (int n = 0; n < 3; n++) for (int i = 0; i < 4; i++) expect += xs[(n * 2 + c) * 4 + i] * dys[(n * 2 + c) * 4 + i];
            Assert.That(g1[c], Is.EqualTo(expect).Within(1e-5));
        }
        TestUtil.AssertClose(ls.Backward(dY).ToArray(), dX1, 0, 0, "dX again");
        TestUtil.AssertClose(ls.Weight.Grad.ToArray(), g1.Select(v => 2 * v).ToArray(), what: "ds doubled");
    }

    [Test]
    public void LearnableScaleRejectsBadInput()
    {
        var ls = new LearnableScale(3);
        var ex = Assert.Throws<ArgumentException>(() => ls.Forward(Tensor.Zeros(2, 4, 5)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("[2, 4, 5]").And.Contain("3"));
        Assert.Throws<ArgumentException>(() => ls.Forward(Tensor.Zeros(3)));
        Assert.Throws<InvalidOperationException>(() => new LearnableScale(2).Backward(Tensor.Zeros(1, 2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearnableScale(0));
    }
}
