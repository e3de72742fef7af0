using ConvEngine.Inspect;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.Layers;

public class LinearTests
{
    [Test]
    public void ForwardMatchesDefinition([Values(1, 3, 17)] int n, [Values(1, 5, 33)] int inF, [Values(1, 7, 20)] int outF)
    {
        var rng = new Random(n * 1000 + inF * 10 + outF);
        var lin = new Linear(inF, outF, seed: 1);
        var x = TestUtil.RandomTensor(rng, n, inF);
        var y = lin.Forward(x).ToArray();
        var w = lin.Weight.Value.ToArray(); var b = lin.Bias!.Value.ToArray(); var xs = x.ToArray();
        var expected = new float[n * outF];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
            {
                double acc = b[o];
                for (int k = 0; k < inF; k++) acc += (double)xs[i * inF + k] * w[o * inF + k];
                expected[i * outF + o] = (float)acc;
            }
        TestUtil.AssertClose(y, expected, what: "y");
    }

    [Test]
    public void GradientsMatchFiniteDifferences([Values] bool bias)
    {
        var lin = new Linear(6, 4, bias, seed: 3);
        var x = TestUtil.RandomTensor(new Random(5), 3, 6);
        var report = GradCheck.Check(lin, x);
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-2), report.ToString());
        Assert.That(report.Entries.Count, Is.EqualTo(bias ? 3 : 2));
    }

    [Test]
    public void BackwardTwiceAccumulatesParameterGradients()
    {
        var lin = new Linear(3, 2, seed: 1);
        var x = TestUtil.RandomTensor(new Random(1), 4, 3);
        var y = lin.Forward(x);
        var dY = TestUtil.RandomTensor(new Random(2), 4, 2);
        var dX1 = lin.Backward(dY).ToArray();
        var g1 = lin.Weight.Grad.ToArray();
        var dX2 = lin.Backward(dY).ToArray();
        var g2 = lin.Weight.Grad.ToArray();
        TestUtil.AssertClose(dX2, dX1, what: "dX is the same");
        TestUtil.AssertClose(g2, g1.Select(v => 2 * v).ToArray(), what: "dW doubled");
        lin.ZeroGrad();
        Assert.That(lin.Weight.Grad.ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void BadInputNamesArgumentAndShapes()
    {
        var lin = new Linear(3, 2);
        var ex = Assert.Throws<ArgumentException>(() => lin.Forward(Tensor.Zeros(4, 5)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("[4, 5]").And.Contain("3"));
        Assert.Throws<InvalidOperationException>(() => new Linear(3, 2).Backward(Tensor.Zeros(1, 2)));
    }

    [Test]
    public void ParameterNamesFollowPyTorch()
    {
        var net = new Sequential(new Linear(4, 3), new ReLU(), new Linear(3, 2));
        Assert.That(net.Parameters().Select(p => p.Name), Is.EqualTo(new[] { "0.weight", "0.bias", "2.weight", "2.bias" }));
        Assert.That(net.Parameters().First().Grad.Name, Is.EqualTo("0.weight.grad"));
    }
}

public class ActivationTests
{
    private static IEnumerable<Module> Activations() =>
        [new ReLU(), new LeakyReLU(0.1f), new ELU(0.7f), new Sigmoid(), new Tanh()];

    [TestCaseSource(nameof(Activations))]
    public void GradientsMatchFiniteDifferences(Module act)
    {
        // Values kept away from 0, where ReLU-like functions have a kink.
        var rng = new Random(7);
        var data = TestUtil.RandomArray(rng, 2 * 3 * 4 * 5).Select(v => v + (v >= 0 ? 0.1f : -0.1f)).ToArray();
        var report = GradCheck.Check(act, Tensor.FromArray(data, 2, 3, 4, 5), eps: 1e-3f);
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-2), report.ToString());
    }

    [TestCaseSource(nameof(Activations)), Category("Simd")]
    public void CpuMatchesReferenceOnAllTailLengths(Module act)
    {
        var a = (Activation)act;
        var rng = new Random(3);
        for (int len = 0; len <= 257; len++)
        {
            var data = TestUtil.RandomArray(rng, len, -4, 4);
            var xc = Tensor.FromArray(CpuDevice.Default, data, len); var yc = xc.ZerosLike();
            var xr = Tensor.FromArray(ReferenceDevice.Instance, data, len); var yr = xr.ZerosLike();
            CpuDevice.Default.Unary(a.Op, a.Alpha, xc, yc);
            ReferenceDevice.Instance.Unary(a.Op, a.Alpha, xr, yr);
            TestUtil.AssertClose(yc.ToArray(), yr.ToArray(), 1e-5, 1e-6, $"{a} len {len}");
        }
    }
}
