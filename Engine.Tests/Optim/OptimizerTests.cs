using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Optim;

public class OptimizerTests
{
    private const int Steps = 6;

    /// <summary>Two named parameters with random values, and per-step gradients.</summary>
    private static (List<Parameter> Ps, double[][] W0, double[][][] Grads) Setup(int seed)
    {
        var rng = new Random(seed);
        var model = new Sequential(new Linear(3, 2, seed: seed));
        var ps = model.Parameters().ToList();
        var w0 = ps.Select(p => { var v = TestUtil.RandomArray(rng, p.Value.Length); p.Value.CopyFrom(v); return v.Select(x => (double)x).ToArray(); }).ToArray();
        var grads = Enumerable.Range(0, Steps).Select(_ => ps.Select(p => TestUtil.RandomArray(rng, p.Value.Length).Select(x => (double)x).ToArray()).ToArray()).ToArray();
        return (ps, w0, grads);
    }

    private static void Run(Optimizer opt, List<Parameter> ps, double[][][] grads)
    {
        foreach (var step in grads)
        {
            opt.ZeroGrad();
            for (int i = 0; i < ps.Count; i++) ps[i].Grad.CopyFrom(step[i].Select(x => (float)x).ToArray());
            opt.Step();
        }
    }

    private static void AssertWeights(List<Parameter> ps, double[][] expected, double rtol)
    {
        for (int i = 0; i < ps.Count; i++)
            TestUtil.AssertClose(ps[i].Value.ToArray(), expected[i].Select(x => (float)x).ToArray(), rtol, 1e-6, ps[i].Name);
    }

    /// <summary>torch.optim.SGD's documented algorithm, in double.</summary>
    private static double[][] SgdByHand(double[][] w0, double[][][] grads, double lr, double mu, double wd, bool nesterov, double damp)
    {
        var w = w0.Select(a => (double[])a.Clone()).ToArray();
        var buf = w0.Select(a => new double[a.Length]).ToArray();
        for (int t = 0; t < grads.Length; t++)
            for (int p = 0; p < w.Length; p++)
                for (int i = 0; i < w[p].Length; i++)
                {
                    double g = grads[t][p][i] + wd * w[p][i];
                    if (mu != 0)
                    {
                        buf[p][i] = t == 0 ? g : mu * buf[p][i] + (1 - damp) * g;
                        g = nesterov ? g + mu * buf[p][i] : buf[p][i];
                    }
                    w[p][i] -= lr * g;
                }
        return w;
    }

    /// <summary>torch.optim.Adam / AdamW's documented algorithm, in double.</summary>
    private static double[][] AdamByHand(double[][] w0, double[][][] grads, double lr, double b1, double b2, double eps, double wd, bool decoupled)
    {
        var w = w0.Select(a => (double[])a.Clone()).ToArray();
        var m = w0.Select(a => new double[a.Length]).ToArray();
        var v = w0.Select(a => new double[a.Length]).ToArray();
        for (int t = 1; t <= grads.Length; t++)
            for (int p = 0; p < w.Length; p++)
                for (int i = 0; i < w[p].Length; i++)
                {
                    double g = grads[t - 1][p][i];
                    if (decoupled) w[p][i] *= 1 - lr * wd;
                    else g += wd * w[p][i];
                    m[p][i] = b1 * m[p][i] + (1 - b1) * g;
                    v[p][i] = b2 * v[p][i] + (1 - b2) * g * g;
                    double mHat = m[p][i] / (1 - Math.Pow(b1, t));
                    double vHat = v[p][i] / (1 - Math.Pow(b2, t));
                    w[p][i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
                }
        return w;
    }

    [TestCase(0.1f, 0f, 0f, false, 0f)]
    [TestCase(0.1f, 0.9f, 0f, false, 0f)]
    [TestCase(0.05f, 0.9f, 1e-2f, false, 0f)]
    [TestCase(0.05f, 0.9f, 5e-3f, true, 0f)]
    [TestCase(0.1f, 0.8f, 0f, false, 0.3f)]
    [TestCase(0.1f, 0f, 0.1f, false, 0f)]
    public void SgdMatchesPyTorchsAlgorithm(float lr, float mu, float wd, bool nesterov, float damp)
    {
        var (ps, w0, grads) = Setup(1);
        var opt = new Sgd(ps, lr, mu, wd, nesterov, damp);
        Run(opt, ps, grads);
        AssertWeights(ps, SgdByHand(w0, grads, lr, mu, wd, nesterov, damp), 1e-5);
        Assert.That(opt.StepCount, Is.EqualTo(Steps));
    }

    [TestCase(1e-3f, 0.9f, 0.999f, 1e-8f, 0f)]
    [TestCase(1e-2f, 0.8f, 0.99f, 1e-6f, 0.1f)]
    [TestCase(5e-2f, 0.5f, 0.9f, 1e-3f, 0f)]
    public void AdamMatchesPyTorchsAlgorithm(float lr, float b1, float b2, float eps, float wd)
    {
        var (ps, w0, grads) = Setup(2);
        Run(new Adam(ps, lr, b1, b2, eps, wd), ps, grads);
        AssertWeights(ps, AdamByHand(w0, grads, lr, b1, b2, eps, wd, decoupled: false), 1e-5);
    }

    [TestCase(1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f)]
    [TestCase(1e-2f, 0.8f, 0.99f, 1e-6f, 0.5f)]
    public void AdamWDecaysTheWeightsDirectly(float lr, float b1, float b2, float eps, float wd)
    {
        var (ps, w0, grads) = Setup(3);
        Run(new AdamW(ps, lr, b1, b2, eps, wd), ps, grads);
        AssertWeights(ps, AdamByHand(w0, grads, lr, b1, b2, eps, wd, decoupled: true), 1e-5);
        // Decoupled decay differs from L2-through-the-gradient: the Adam result must be measurably different.
        var adam = AdamByHand(w0, grads, lr, b1, b2, eps, wd, decoupled: false);
        Assert.That(ps[0].Value.ToArray().Zip(adam[0], (a, b) => Math.Abs(a - b)).Max(), Is.GreaterThan(1e-5));
    }

    [Test]
    public void FirstAdamStepMovesEachWeightByAboutLr()
    {
        // Bias correction: at t = 1, m̂ = g and v̂ = g², so the step is lr·g/(|g| + eps) ≈ ±lr whatever the scale of g.
        var p = new Parameter("w", Tensor.FromArray(new float[] { 1, 1, 1 }, 3));
        p.Grad.CopyFrom(new float[] { 1e-3f, -5f, 200f });
        new Adam([p], lr: 0.01f).Step();
        TestUtil.AssertClose(p.Value.ToArray(), new[] { 0.99f, 1.01f, 0.99f }, 1e-4, 0, "w");
    }

    [Test]
    public void StateDictRoundTripContinuesIdentically([Values("sgd", "adam", "adamw")] string kind)
    {
        Optimizer Make(List<Parameter> ps) => kind switch
        {
            "sgd" => new Sgd(ps, 0.1f, momentum: 0.9f, nesterov: true),
            "adam" => new Adam(ps, 0.01f),
            _ => new AdamW(ps, 0.01f),
        };
        var (ps, _, grads) = Setup(4);
        var (ps2, _, _) = Setup(4);
        var a = Make(ps);
        Run(a, ps, grads[..3]);
        var state = a.StateDict();
        string[] expectKeys = kind == "sgd"
            ? ["step", "0.weight.momentum_buffer", "0.bias.momentum_buffer"]
            : ["step", "0.weight.exp_avg", "0.weight.exp_avg_sq", "0.bias.exp_avg", "0.bias.exp_avg_sq"];
        Assert.That(state.Keys, Is.EquivalentTo(expectKeys));
        Assert.That(state["step"].Shape, Is.Empty);
        Assert.That(state["step"].ToArray(), Is.EqualTo(new[] { 3f }));
        // Copy the weights and the saved state into a fresh optimizer, then run both on the same remaining gradients.
        for (int i = 0; i < ps.Count; i++) ps2[i].Value.CopyFrom(ps[i].Value);
        var saved = state.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        var b = Make(ps2);
        b.LoadStateDict(saved);
        Assert.That(b.StepCount, Is.EqualTo(3));
        Run(a, ps, grads[3..]);
        Run(b, ps2, grads[3..]);
        for (int i = 0; i < ps.Count; i++) Assert.That(ps2[i].Value.ToArray(), Is.EqualTo(ps[i].Value.ToArray()), ps[i].Name);
    }

    [Test]
    public void SgdWithoutAStateDictStartsItsMomentumAfresh()
    {
        var (ps, w0, grads) = Setup(5);
        var opt = new Sgd(ps, 0.1f, momentum: 0.9f);
        Assert.That(opt.StateDict().Keys, Is.EqualTo(new[] { "step" }), "no buffers before the first step");
        Run(opt, ps, grads);
        AssertWeights(ps, SgdByHand(w0, grads, 0.1, 0.9, 0, false, 0), 1e-5);
    }

    [Test]
    public void BadStateDictsAreRejected()
    {
        var (ps, _, grads) = Setup(6);
        var opt = new Adam(ps);
        Run(opt, ps, grads[..1]);
        var good = opt.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        var noStep = new Dictionary<string, Tensor>(good); noStep.Remove("step");
        Assert.That(Assert.Throws<ArgumentException>(() => opt.LoadStateDict(noStep))!.Message, Does.Contain("step"));
        var extra = new Dictionary<string, Tensor>(good) { ["0.weight.momentum_buffer"] = Tensor.Zeros(2, 3) };
        Assert.That(Assert.Throws<ArgumentException>(() => opt.LoadStateDict(extra))!.Message, Does.Contain("0.weight.momentum_buffer"));
        var badShape = new Dictionary<string, Tensor>(good) { ["0.bias.exp_avg"] = Tensor.Zeros(3) };
        var ex = Assert.Throws<ArgumentException>(() => opt.LoadStateDict(badShape));
        Assert.That(ex!.Message, Does.Contain("0.bias.exp_avg").And.Contain("[2]").And.Contain("[3]"));
        Assert.That(opt.StepCount, Is.EqualTo(1), "a rejected load changes nothing");
    }

    [Test]
    public void BadHyperParametersAreRejected()
    {
        var ps = new Sequential(new Linear(2, 2)).Parameters().ToList();
        Assert.Throws<ArgumentException>(() => new Sgd([], 0.1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, -0.1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, 0.1f, momentum: -1));
        Assert.That(Assert.Throws<ArgumentException>(() => new Sgd(ps, 0.1f, nesterov: true))!.ParamName, Is.EqualTo("nesterov"));
        Assert.Throws<ArgumentException>(() => new Sgd(ps, 0.1f, momentum: 0.9f, nesterov: true, dampening: 0.1f));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, beta1: 1f))!.ParamName, Is.EqualTo("beta1"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(ps, beta2: -0.1f));
        Assert.Throws<ArgumentException>(() => new Sgd([ps[0], ps[0]], 0.1f));
    }
}

public class GradClipTests
{
    [Test]
    public void ClipsToMaxNormAndReturnsTheTotal([Values(0.5f, 100f)] float maxNorm)
    {
        var rng = new Random(1);
        var ps = new Sequential(new Linear(4, 3), new Linear(3, 2)).Parameters().ToList();
        foreach (var p in ps) p.Grad.CopyFrom(TestUtil.RandomArray(rng, p.Grad.Length));
        var before = ps.Select(p => p.Grad.ToArray()).ToList();
        double total = Math.Sqrt(before.Sum(g => g.Sum(v => (double)v * v)));
        float returned = GradClip.ClipGradNorm(ps, maxNorm);
        Assert.That(returned, Is.EqualTo(total).Within(1e-5 * total));
        double coef = total > maxNorm ? maxNorm / (total + 1e-6) : 1;
        for (int i = 0; i < ps.Count; i++)
            TestUtil.AssertClose(ps[i].Grad.ToArray(), before[i].Select(v => (float)(v * coef)).ToArray(), 1e-6, 0, ps[i].Name);
        double after = Math.Sqrt(ps.Sum(p => p.Grad.ToArray().Sum(v => (double)v * v)));
        Assert.That(after, Is.LessThanOrEqualTo(maxNorm * (1 + 1e-6)));
        Assert.Throws<ArgumentOutOfRangeException>(() => GradClip.ClipGradNorm(ps, -1));
    }
}
