using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>CpuDevice's vectorised, threaded optimizer steps, dropout masks and softmax cross-entropy against the naive twin.</summary>
[Category("Simd")]
public class OptimKernelTests
{
    private static readonly int[] Lengths = { 0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 255, 257, 1000, 70001, 200003 };
    private static readonly ReferenceDevice Ref = ReferenceDevice.Instance;
    private static readonly CpuDevice Cpu = new(2);

    private static Tensor T(IDevice d, float[] data) => Tensor.FromArray(d, (float[])data.Clone(), data.Length);

    [Test]
    public void SgdStepMatchesNaive([Values(0f, 0.9f)] float momentum, [Values(0f, 0.01f)] float weightDecay, [Values] bool nesterov, [Values] bool firstStep)
    {
        if (nesterov && momentum == 0) nesterov = false; // PyTorch rejects nesterov without momentum; keep the case meaningful.
        foreach (int n in Lengths)
        {
            var rng = new Random(n);
            float[] w = TestUtil.RandomArray(rng, n), g = TestUtil.RandomArray(rng, n), v = TestUtil.RandomArray(rng, n);
            Tensor wr = T(Ref, w), vr = T(Ref, v), wc = T(Cpu, w), vc = T(Cpu, v);
            Ref.SgdStep(wr, T(Ref, g), momentum == 0 ? null : vr, 0.1f, momentum, 0.1f, weightDecay, nesterov, firstStep);
            Cpu.SgdStep(wc, T(Cpu, g), momentum == 0 ? null : vc, 0.1f, momentum, 0.1f, weightDecay, nesterov, firstStep);
            TestUtil.AssertClose(wc.ToArray(), wr.ToArray(), 1e-6, 1e-7, $"w n={n}");
            TestUtil.AssertClose(vc.ToArray(), vr.ToArray(), 1e-6, 1e-7, $"velocity n={n}");
        }
    }

    [Test]
    public void AdamStepMatchesNaive([Values] bool decoupled, [Values(0f, 0.05f)] float weightDecay, [Values(1, 7)] int step)
    {
        foreach (int n in Lengths)
        {
            var rng = new Random(n + 5);
            float[] w = TestUtil.RandomArray(rng, n), g = TestUtil.RandomArray(rng, n), m = TestUtil.RandomArray(rng, n, -0.1f, 0.1f), v = TestUtil.RandomArray(rng, n, 0f, 0.01f);
            Tensor wr = T(Ref, w), mr = T(Ref, m), vr = T(Ref, v), wc = T(Cpu, w), mc = T(Cpu, m), vc = T(Cpu, v);
            Ref.AdamStep(wr, T(Ref, g), mr, vr, 1e-3f, 0.9f, 0.999f, 1e-8f, weightDecay, decoupled, step);
            Cpu.AdamStep(wc, T(Cpu, g), mc, vc, 1e-3f, 0.9f, 0.999f, 1e-8f, weightDecay, decoupled, step);
            TestUtil.AssertClose(wc.ToArray(), wr.ToArray(), 1e-6, 1e-7, $"w n={n}");
            TestUtil.AssertClose(mc.ToArray(), mr.ToArray(), 1e-6, 1e-9, $"m n={n}");
            TestUtil.AssertClose(vc.ToArray(), vr.ToArray(), 1e-6, 1e-12, $"v n={n}");
        }
    }

    [Test]
    public void DropoutMaskIsIdenticalToNaive([Values(0f, 0.3f, 1f)] float p)
    {
        foreach (int n in Lengths)
        {
            Tensor mr = Tensor.Zeros(Ref, n), mc = Tensor.Zeros(Cpu, n);
            Ref.DropoutMask(17, 3, p, 1f / (1 - p + 1e-9f), mr);
            Cpu.DropoutMask(17, 3, p, 1f / (1 - p + 1e-9f), mc);
            Assert.That(mc.ToArray(), Is.EqualTo(mr.ToArray()), $"n={n}");
        }
    }

    [Test]
    public void SoftmaxCrossEntropyMatchesNaiveOnRandomShapes()
    {
        var rng = new Random(3);
        var shapes = new List<(int N, int K)> { (1, 1), (1, 2), (3, 10), (7, 17), (64, 1000), (2, 257), (100, 1000) };
        while (shapes.Count < 22) shapes.Add((rng.Next(1, 40), rng.Next(1, 300)));
        foreach (var (n, k) in shapes)
        {
            var logits = TestUtil.RandomArray(rng, n * k, -8f, 8f);
            if (n * k > 3) { logits[0] = 80f; logits[1] = -90f; } // large logits must stay stable
            var labels = Enumerable.Range(0, n).Select(_ => rng.Next(k)).ToArray();
            Tensor dr = Tensor.Zeros(Ref, n, k), dc = Tensor.Zeros(Cpu, n, k);
            double lr = Ref.SoftmaxCrossEntropy(Tensor.FromArray(Ref, logits, n, k), labels, dr);
            double lc = Cpu.SoftmaxCrossEntropy(Tensor.FromArray(Cpu, logits, n, k), labels, dc);
            Assert.That(lc, Is.EqualTo(lr).Within(1e-5 * Math.Max(1, Math.Abs(lr))), $"loss [{n},{k}]");
            TestUtil.AssertClose(dc.ToArray(), dr.ToArray(), 1e-5, 1e-7, $"dLogits [{n},{k}]");
        }
    }

    [Test]
    public void BadArgumentsNameTheArgument()
    {
        var ex = Assert.Throws<ArgumentException>(() => Cpu.SgdStep(Tensor.Zeros(Cpu, 4), Tensor.Zeros(Cpu, 3), null, 0.1f, 0, 0, 0, false, true));
        Assert.That(ex!.ParamName, Is.EqualTo("grad"));
        ex = Assert.Throws<ArgumentException>(() => Cpu.SgdStep(Tensor.Zeros(Cpu, 4), Tensor.Zeros(Cpu, 4), null, 0.1f, 0.9f, 0, 0, false, true));
        Assert.That(ex!.ParamName, Is.EqualTo("velocity"));
        ex = Assert.Throws<ArgumentException>(() => Cpu.AdamStep(Tensor.Zeros(Cpu, 4), Tensor.Zeros(Cpu, 4), Tensor.Zeros(Cpu, 4), Tensor.Zeros(Cpu, 5), 0.1f, 0.9f, 0.999f, 1e-8f, 0, false, 1));
        Assert.That(ex!.ParamName, Is.EqualTo("v"));
        ex = Assert.Throws<ArgumentException>(() => Cpu.SoftmaxCrossEntropy(Tensor.Zeros(Cpu, 2, 3), new[] { 0, 3 }, Tensor.Zeros(Cpu, 2, 3)));
        Assert.That(ex!.ParamName, Is.EqualTo("labels"));
        ex = Assert.Throws<ArgumentException>(() => Cpu.SoftmaxCrossEntropy(Tensor.Zeros(Cpu, 2, 3), new[] { 0 }, Tensor.Zeros(Cpu, 2, 3)));
        Assert.That(ex!.ParamName, Is.EqualTo("labels"));
    }
}
