using ConvEngine.Losses;
using NUnit.Framework;

namespace ConvEngine.Tests.Losses;

public class SoftmaxCrossEntropyTests
{
    /// <summary>Mean cross-entropy in double, straight from the definition with a max-shifted log-sum-exp.</summary>
    private static double Expected(float[] z, int n, int k, int[] labels)
    {
        double total = 0;
        for (int r = 0; r < n; r++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < k; j++) max = Math.Max(max, z[r * k + j]);
            double s = 0;
            for (int j = 0; j < k; j++) s += Math.Exp(z[r * k + j] - max);
            total += max + Math.Log(s) - z[r * k + labels[r]];
        }
        return total / n;
    }

    [Test]
    public void ValueAndGradientMatchTheDefinition([Values(1, 4)] int n, [Values(1, 3, 10)] int k)
    {
        var rng = new Random(n * 10 + k);
        var z = TestUtil.RandomArray(rng, n * k, -3, 3);
        var labels = Enumerable.Range(0, n).Select(_ => rng.Next(k)).ToArray();
        var ce = new SoftmaxCrossEntropy();
        var (loss, grad) = ce.Compute(Tensor.FromArray(z, n, k), labels);
        Assert.That(loss, Is.EqualTo(Expected(z, n, k, labels)).Within(1e-4).Percent); // 1e-6 relative: the fast kernel works in float32
        var g = grad.ToArray();
        Assert.That(grad.Shape, Is.EqualTo(new[] { n, k }));
        // Finite differences of the reported loss, in double, with the step actually taken in float.
        for (int i = 0; i < z.Length; i++)
        {
            var zp = (float[])z.Clone(); zp[i] = z[i] + 1e-2f;
            var zm = (float[])z.Clone(); zm[i] = z[i] - 1e-2f;
            double num = (Expected(zp, n, k, labels) - Expected(zm, n, k, labels)) / ((double)zp[i] - zm[i]);
            Assert.That(g[i], Is.EqualTo(num).Within(1e-4 + 1e-3 * Math.Abs(num)), $"dLogits[{i}]");
        }
        // Each row of (softmax − onehot)/N sums to zero.
        for (int r = 0; r < n; r++) Assert.That(g.Skip(r * k).Take(k).Sum(), Is.EqualTo(0).Within(1e-6));
    }

    [Test]
    public void LargeLogitsStayFinite()
    {
        // ±100: exp would overflow float without the max shift. Row 0 is confidently right (loss ≈ 0), row 1 confidently wrong.
        var z = new float[] { 100, -100, 0, 50, 100, -100, 0, 50, -100, -100, -100, -100 };
        var labels = new[] { 0, 1, 3 };
        var ce = new SoftmaxCrossEntropy();
        double loss = ce.Forward(Tensor.FromArray(z, 3, 4), labels);
        // By hand: row 0: log(1 + e⁻²⁰⁰ + e⁻¹⁰⁰ + e⁻⁵⁰) ≈ e⁻⁵⁰; row 1: 200 + that; row 2: log 4 (all equal).
        double tail = Math.Log(1 + Math.Exp(-200) + Math.Exp(-100) + Math.Exp(-50));
        double byHand = (tail + (200 + tail) + Math.Log(4)) / 3;
        Assert.That(loss, Is.EqualTo(byHand).Within(1e-4).Percent); // 1e-6 relative: the fast kernel works in float32
        var g = ce.Backward().ToArray();
        Assert.That(g.All(float.IsFinite), Is.True);
        Assert.That(g[0], Is.EqualTo(0).Within(1e-6), "row 0: the true class already has probability ~1");
        Assert.That(g[1], Is.EqualTo(0).Within(1e-6), "row 0: the class at −100 has probability ~0");
        Assert.That(g[5], Is.EqualTo(-1.0 / 3).Within(1e-6), "row 1: the true class gets p − 1 ≈ −1");
        Assert.That(g[4], Is.EqualTo(1.0 / 3).Within(1e-6), "row 1: the winning wrong class gets p ≈ 1");
        Assert.That(g[11], Is.EqualTo((0.25 - 1) / 3).Within(1e-6));
    }

    [Test]
    public void BackwardReturnsANewTensorEachTime()
    {
        var ce = new SoftmaxCrossEntropy();
        ce.Forward(Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2), [0, 1]);
        var a = ce.Backward();
        var b = ce.Backward();
        Assert.That(a, Is.Not.SameAs(b));
        Assert.That(a.ToArray(), Is.EqualTo(b.ToArray()));
        a.CopyFrom(new float[4]);
        Assert.That(ce.Backward().ToArray(), Is.EqualTo(b.ToArray()), "changing a returned gradient does not change the cache");
    }

    [Test]
    public void BadLabelsAreRejectedWithIndexAndValue()
    {
        var ce = new SoftmaxCrossEntropy();
        var logits = Tensor.Zeros(3, 4);
        var ex = Assert.Throws<ArgumentException>(() => ce.Forward(logits, [0, 1]));
        Assert.That(ex!.ParamName, Is.EqualTo("labels"));
        Assert.That(ex.Message, Does.Contain("3").And.Contain("2"));
        var oor = Assert.Throws<ArgumentOutOfRangeException>(() => ce.Forward(logits, [0, 4, 1]));
        Assert.That(oor!.ParamName, Is.EqualTo("labels"));
        Assert.That(oor.Message, Does.Contain("labels[1] = 4").And.Contain("[0, 4)"));
        oor = Assert.Throws<ArgumentOutOfRangeException>(() => ce.Forward(logits, [0, 1, -1]));
        Assert.That(oor!.Message, Does.Contain("labels[2] = -1"));
        Assert.That(Assert.Throws<ArgumentException>(() => ce.Forward(Tensor.Zeros(3), [0, 0, 0]))!.ParamName, Is.EqualTo("logits"));
        Assert.Throws<InvalidOperationException>(() => new SoftmaxCrossEntropy().Backward());
    }
}

public class MseLossTests
{
    private static double Expected(float[] o, float[] t, Reduction r)
    {
        double s = 0;
        for (int i = 0; i < o.Length; i++) s += ((double)t[i] - o[i]) * ((double)t[i] - o[i]);
        return r switch { Reduction.Mean => s / o.Length, Reduction.Sum => s, _ => 0.5 * s };
    }

    [Test]
    public void ValueAndGradientMatchTheDefinition([Values] Reduction reduction)
    {
        var rng = new Random((int)reduction + 1);
        var o = TestUtil.RandomArray(rng, 2 * 3 * 4, -2, 2);
        var t = TestUtil.RandomArray(rng, 2 * 3 * 4, -2, 2);
        var loss = new MseLoss(reduction);
        var (value, grad) = loss.Compute(Tensor.FromArray(o, 2, 3, 4), Tensor.FromArray(t, 2, 3, 4));
        Assert.That(value, Is.EqualTo(Expected(o, t, reduction)).Within(1e-6 * Math.Abs(Expected(o, t, reduction))));
        var g = grad.ToArray();
        Assert.That(grad.Shape, Is.EqualTo(new[] { 2, 3, 4 }));
        for (int i = 0; i < o.Length; i++)
        {
            var op = (float[])o.Clone(); op[i] = o[i] + 1e-2f;
            var om = (float[])o.Clone(); om[i] = o[i] - 1e-2f;
            double num = (Expected(op, t, reduction) - Expected(om, t, reduction)) / ((double)op[i] - om[i]);
            Assert.That(g[i], Is.EqualTo(num).Within(1e-5 + 1e-4 * Math.Abs(num)), $"dOutput[{i}]");
        }
    }

    [Test]
    public void HalfSumGradientIsOutputMinusTarget()
    {
        var loss = new MseLoss(Reduction.HalfSum);
        double v = loss.Forward(Tensor.FromArray(new float[] { 1, 2, 3 }, 3), Tensor.FromArray(new float[] { 0, 4, 3 }, 3));
        Assert.That(v, Is.EqualTo(0.5 * (1 + 4)));
        Assert.That(loss.Backward().ToArray(), Is.EqualTo(new float[] { 1, -2, 0 }));
    }

    [Test]
    public void BadInputsAreRejected()
    {
        var loss = new MseLoss();
        var ex = Assert.Throws<ArgumentException>(() => loss.Forward(Tensor.Zeros(2, 3), Tensor.Zeros(3, 2)));
        Assert.That(ex!.ParamName, Is.EqualTo("target"));
        Assert.That(ex.Message, Does.Contain("[2, 3]").And.Contain("[3, 2]"));
        Assert.Throws<ArgumentException>(() => loss.Forward(Tensor.Zeros(0), Tensor.Zeros(0)));
        Assert.Throws<ArgumentException>(() => loss.Forward(Tensor.Zeros(2), Tensor.Zeros(ReferenceDevice.Instance, 2)));
        Assert.Throws<InvalidOperationException>(() => new MseLoss().Backward());
    }
}
