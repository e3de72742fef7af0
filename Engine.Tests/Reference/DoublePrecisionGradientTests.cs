using ConvEngine.Losses;
using ConvEngine.NN;
using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.DoublePrecision;

/// <summary>
/// Every layer's hand-written float32 backward pass against central finite differences computed in DOUBLE precision.
/// For each layer a double-precision twin of its forward pass (written below from the definition, independent of the
/// engine's kernels) is differentiated numerically with eps = 1e-6 at exactly the float values the engine used; the
/// objective is L = Σ y ⊙ g with a random upstream gradient g over all batch items. In double, rounding noise is about
/// 1e-10 and a ReLU kink or max-pool switch inside ±1e-6 is practically impossible, so the comparison can be tight:
/// |analytic − numeric| ≤ 1e-4·|numeric| + 1e-5·max|numeric of that tensor|.
/// </summary>
public class DoublePrecisionGradientTests
{
    // ---------------------------------------------------------------- double-precision twins of the forward passes

    private static double[] Conv(double[] x, int n, int cin, int h, int w, double[] wt, double[]? b, int cout, (int H, int W) k,
        (int H, int W) s, (int H, int W) p, (int H, int W) d, int groups, PaddingMode mode)
    {
        int oh = ConvMath.OutputSize(h, k.H, s.H, p.H, d.H), ow = ConvMath.OutputSize(w, k.W, s.W, p.W, d.W);
        int cinG = cin / groups, coutG = cout / groups;
        var y = new double[n * cout * oh * ow];
        for (int bi = 0; bi < n; bi++)
            for (int co = 0; co < cout; co++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        double acc = b is null ? 0 : b[co];
                        for (int ci = 0; ci < cinG; ci++)
                            for (int u = 0; u < k.H; u++)
                                for (int v = 0; v < k.W; v++)
                                {
                                    int ih = NaiveConv.SourceIndex(i * s.H - p.H + u * d.H, h, mode);
                                    int iw = NaiveConv.SourceIndex(j * s.W - p.W + v * d.W, w, mode);
                                    if (ih < 0 || iw < 0) continue;
                                    int c = co / coutG * cinG + ci;
                                    acc += wt[((co * cinG + ci) * k.H + u) * k.W + v] * x[((bi * cin + c) * h + ih) * w + iw];
                                }
                        y[((bi * cout + co) * oh + i) * ow + j] = acc;
                    }
        return y;
    }

    private static double[] Pool(double[] x, int planes, PoolGeometry g, bool max)
    {
        var y = new double[planes * g.OutH * g.OutW];
        for (int pl = 0; pl < planes; pl++)
            for (int i = 0; i < g.OutH; i++)
                for (int j = 0; j < g.OutW; j++)
                {
                    var (r0, r1, rp) = g.RowWindow(i);
                    var (c0, c1, cp) = g.ColWindow(j);
                    double acc = max ? double.NegativeInfinity : 0;
                    for (int u = r0; u < r1; u++)
                        for (int v = c0; v < c1; v++)
                        {
                            double val = x[(pl * g.Height + u) * g.Width + v];
                            acc = max ? Math.Max(acc, val) : acc + val;
                        }
                    int divisor = g.CountIncludePad ? rp * cp : (r1 - r0) * (c1 - c0);
                    y[(pl * g.OutH + i) * g.OutW + j] = max ? acc : acc / divisor;
                }
        return y;
    }

    private static double Act(UnaryOp op, double a, double x) => op switch
    {
        UnaryOp.Relu => Math.Max(x, 0),
        UnaryOp.LeakyRelu => x > 0 ? x : a * x,
        UnaryOp.Elu => x > 0 ? x : a * (Math.Exp(x) - 1),
        UnaryOp.Sigmoid => 1 / (1 + Math.Exp(-x)),
        UnaryOp.Tanh => Math.Tanh(x),
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    private static double[] Linear(double[] x, int n, int inF, double[] w, double[]? b, int outF)
    {
        var y = new double[n * outF];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
            {
                double acc = b is null ? 0 : b[o];
                for (int k = 0; k < inF; k++) acc += x[i * inF + k] * w[o * inF + k];
                y[i * outF + o] = acc;
            }
        return y;
    }

    private static double[] BatchNorm(double[] x, int outer, int c, int inner, double[] gamma, double[] beta, double eps, double[]? runMean, double[]? runVar)
    {
        var y = new double[x.Length];
        int m = outer * inner;
        for (int ch = 0; ch < c; ch++)
        {
            double mean, var;
            if (runMean is null)
            {
                double s = 0, q = 0;
                for (int o = 0; o < outer; o++) for (int i = 0; i < inner; i++) s += x[(o * c + ch) * inner + i];
                mean = s / m;
                for (int o = 0; o < outer; o++) for (int i = 0; i < inner; i++) { double dv = x[(o * c + ch) * inner + i] - mean; q += dv * dv; }
                var = q / m;
            }
            else { mean = runMean[ch]; var = runVar![ch]; }
            double inv = 1 / Math.Sqrt(var + eps);
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    int idx = (o * c + ch) * inner + i;
                    y[idx] = (x[idx] - mean) * inv * gamma[ch] + beta[ch];
                }
        }
        return y;
    }

    // ---------------------------------------------------------------- the harness

    /// <summary>Central differences of L(inputs) = Σ f(inputs) ⊙ g with respect to every element of every input.</summary>
    private static double[][] NumericGradients(Func<double[][], double[]> f, double[][] inputs, double[] g, double eps = 1e-6)
    {
        double L()
        {
            var y = f(inputs);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += y[i] * g[i];
            return s;
        }
        var result = new double[inputs.Length][];
        for (int t = 0; t < inputs.Length; t++)
        {
            var v = inputs[t];
            result[t] = new double[v.Length];
            for (int i = 0; i < v.Length; i++)
            {
                double orig = v[i];
                v[i] = orig + eps; double lp = L();
                v[i] = orig - eps; double lm = L();
                v[i] = orig;
                result[t][i] = (lp - lm) / (2 * eps);
            }
        }
        return result;
    }

    /// <summary>
    /// |analytic − numeric| ≤ 1e-4·|numeric| + 1e-5·(the tensor's largest gradient) + 1e-6·(the module's largest gradient).
    /// The last term matters only for gradients that are truly zero, such as a conv bias in front of batch norm, where the
    /// float32 result is pure rounding noise of the magnitudes flowing through the module.
    /// </summary>
    private static void AssertGradient(float[] analytic, double[] numeric, string what, double moduleScale = 0)
    {
        Assert.That(analytic.Length, Is.EqualTo(numeric.Length), what);
        double scale = numeric.Length == 0 ? 0 : numeric.Max(Math.Abs);
        for (int i = 0; i < numeric.Length; i++)
        {
            double tol = 1e-4 * Math.Abs(numeric[i]) + 1e-5 * scale + 1e-6 * moduleScale + 1e-9;
            if (Math.Abs(analytic[i] - numeric[i]) > tol)
                Assert.Fail($"{what}[{i}]: analytic {analytic[i]:G9}, numeric (double) {numeric[i]:G12}, tolerance {tol:G3}");
        }
    }

    private static double[] D(float[] a) => a.Select(v => (double)v).ToArray();

    /// <summary>Runs the engine's forward and backward with upstream g, then checks dX and every parameter gradient against the double twin.</summary>
    private static void Check(Module module, Tensor x, Func<double[][], double[]> twin, int seed = 99)
    {
        var y = module.Forward(x);
        var rng = new Random(seed);
        var g = TestUtil.RandomArray(rng, y.Length);
        module.ZeroGrad();
        var dX = module.Backward(Tensor.FromArray(g, y.Shape)).ToArray();
        var parameters = module.Parameters().ToList();
        var inputs = new List<double[]> { D(x.ToArray()) };
        inputs.AddRange(parameters.Select(p => D(p.Value.ToArray())));
        var yTwin = twin([.. inputs]);
        TestUtil.AssertClose(y.ToArray(), yTwin.Select(v => (float)v).ToArray(), 1e-4, 1e-5 * yTwin.Max(Math.Abs) + 1e-7, "forward vs double twin");
        var numeric = NumericGradients(twin, [.. inputs], D(g));
        double moduleScale = numeric.Max(t => t.Length == 0 ? 0 : t.Max(Math.Abs));
        AssertGradient(dX, numeric[0], "dX", moduleScale);
        for (int i = 0; i < parameters.Count; i++) AssertGradient(parameters[i].Grad.ToArray(), numeric[i + 1], parameters[i].Grad.Name!, moduleScale);
    }

    // ---------------------------------------------------------------- the layers

    public static IEnumerable<TestCaseData> ConvCases()
    {
        // (N, Cin, H, W, Cout, kernel, stride, padding, dilation, groups, bias, mode)
        yield return new TestCaseData(2, 3, 7, 6, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, true, PaddingMode.Zeros).SetName("Conv 3x3 pad 1");
        yield return new TestCaseData(2, 2, 9, 8, 3, (3, 3), (2, 2), (1, 1), (1, 1), 1, true, PaddingMode.Zeros).SetName("Conv stride 2");
        yield return new TestCaseData(3, 2, 9, 9, 2, (3, 3), (1, 1), (2, 2), (2, 2), 1, false, PaddingMode.Zeros).SetName("Conv dilation 2 no bias");
        yield return new TestCaseData(2, 4, 6, 5, 6, (3, 3), (1, 1), (1, 1), (1, 1), 2, true, PaddingMode.Zeros).SetName("Conv groups 2");
        yield return new TestCaseData(2, 3, 6, 6, 3, (3, 3), (1, 1), (1, 1), (1, 1), 3, true, PaddingMode.Zeros).SetName("Conv depthwise");
        yield return new TestCaseData(2, 2, 7, 9, 3, (3, 5), (2, 1), (1, 2), (1, 1), 1, true, PaddingMode.Zeros).SetName("Conv rectangular");
        yield return new TestCaseData(2, 2, 6, 7, 3, (3, 3), (1, 2), (2, 1), (1, 1), 1, true, PaddingMode.Reflect).SetName("Conv reflect");
        yield return new TestCaseData(2, 2, 5, 6, 2, (3, 3), (1, 1), (2, 2), (1, 1), 2, true, PaddingMode.Replicate).SetName("Conv replicate groups");
        yield return new TestCaseData(2, 4, 6, 6, 5, (1, 1), (2, 2), (0, 0), (1, 1), 1, true, PaddingMode.Zeros).SetName("Conv 1x1 stride 2");
    }

    [TestCaseSource(nameof(ConvCases))]
    public void Conv2dMatchesDoubleFiniteDifferences(int n, int cin, int h, int w, int cout, (int, int) k, (int, int) s, (int, int) p, (int, int) d, int groups, bool bias, PaddingMode mode)
    {
        var conv = new Conv2d(cin, cout, k, s, p, d, groups, bias, mode, seed: 5);
        var x = TestUtil.RandomTensor(new Random(h * 31 + w), n, cin, h, w);
        Check(conv, x, v => Conv(v[0], n, cin, h, w, v[1], bias ? v[2] : null, cout, k, s, p, d, groups, mode));
    }

    [Test]
    public void MaxPool2dMatchesDoubleFiniteDifferences([Values(2, 3)] int kernel, [Values(1, 2)] int stride, [Values(0, 1)] int padding)
    {
        int n = 2, c = 3, h = 7, w = 6;
        // Distinct values spaced ≥ 0.01 apart: no ties, so the maximum is unique and the gradient well defined.
        var rng = new Random(kernel * 10 + stride + padding);
        var values = Enumerable.Range(0, n * c * h * w).Select(i => (float)(i * 0.01)).OrderBy(_ => rng.Next()).ToArray();
        var pool = new MaxPool2d(kernel, stride, padding);
        var g = new PoolGeometry(h, w, kernel, kernel, stride, stride, padding, padding);
        Check(pool, Tensor.FromArray(values, n, c, h, w), v => Pool(v[0], n * c, g, max: true));
    }

    [Test]
    public void AvgPool2dMatchesDoubleFiniteDifferences([Values(2, 3)] int kernel, [Values(1, 2)] int stride, [Values(0, 1)] int padding, [Values] bool countIncludePad)
    {
        int n = 2, c = 2, h = 7, w = 8;
        var pool = new AvgPool2d(kernel, stride, padding, countIncludePad);
        var g = new PoolGeometry(h, w, kernel, kernel, stride, stride, padding, padding, countIncludePad);
        Check(pool, TestUtil.RandomTensor(new Random(kernel + stride), n, c, h, w), v => Pool(v[0], n * c, g, max: false));
    }

    [TestCase(13, 13, 6, 6)]
    [TestCase(7, 5, 3, 2)]
    [TestCase(6, 6, 1, 1)]
    public void AdaptiveAvgPool2dMatchesDoubleFiniteDifferences(int h, int w, int oh, int ow)
    {
        var pool = new AdaptiveAvgPool2d(oh, ow);
        var g = PoolGeometry.AdaptiveOf(h, w, oh, ow);
        Check(pool, TestUtil.RandomTensor(new Random(h * w), 2, 3, h, w), v => Pool(v[0], 6, g, max: false));
    }

    public static IEnumerable<TestCaseData> Activations()
    {
        yield return new TestCaseData(new ReLU(), UnaryOp.Relu, 0.0).SetName("ReLU");
        yield return new TestCaseData(new LeakyReLU(0.1f), UnaryOp.LeakyRelu, 0.1).SetName("LeakyReLU");
        yield return new TestCaseData(new ELU(0.7f), UnaryOp.Elu, 0.7).SetName("ELU");
        yield return new TestCaseData(new Sigmoid(), UnaryOp.Sigmoid, 0.0).SetName("Sigmoid");
        yield return new TestCaseData(new Tanh(), UnaryOp.Tanh, 0.0).SetName("Tanh");
    }

    [TestCaseSource(nameof(Activations))]
    public void ActivationsMatchDoubleFiniteDifferences(Module act, UnaryOp op, double alpha)
    {
        var x = TestUtil.RandomTensor(new Random(3), 2, 3, 4, 5);
        Check(act, x, v => v[0].Select(e => Act(op, (float)alpha, e)).ToArray());
    }

    [Test]
    public void LinearMatchesDoubleFiniteDifferences([Values] bool bias)
    {
        var lin = new Linear(7, 5, bias, seed: 2);
        Check(lin, TestUtil.RandomTensor(new Random(8), 4, 7), v => Linear(v[0], 4, 7, v[1], bias ? v[2] : null, 5));
    }

    [Test]
    public void BatchNorm2dMatchesDoubleFiniteDifferences([Values] bool training)
    {
        var bn = new BatchNorm2d(3);
        bn.Weight.Value.CopyFrom([0.7f, 1.3f, -0.4f]);
        bn.Bias.Value.CopyFrom([0.1f, -0.2f, 0.3f]);
        double[] rm = [0.2, -0.1, 0.05], rv = [0.8, 1.5, 0.6];
        if (!training)
        {
            bn.RunningMean.CopyFrom(rm.Select(v => (float)v).ToArray());
            bn.RunningVar.CopyFrom(rv.Select(v => (float)v).ToArray());
            bn.Eval();
        }
        var x = TestUtil.RandomTensor(new Random(4), 2, 3, 4, 5);
        Check(bn, x, v => BatchNorm(v[0], 2, 3, 20, v[1], v[2], 1e-5, training ? null : rm, training ? null : rv));
    }

    [Test]
    public void BatchNorm1dMatchesDoubleFiniteDifferences()
    {
        var bn = new BatchNorm1d(4);
        bn.Weight.Value.CopyFrom([0.5f, 1.5f, 1f, -0.8f]);
        var x = TestUtil.RandomTensor(new Random(6), 5, 4);
        Check(bn, x, v => BatchNorm(v[0], 5, 4, 1, v[1], v[2], 1e-5, null, null));
    }

    [Test]
    public void ResidualBlockInTrainingMatchesDoubleFiniteDifferences([Values] bool projection)
    {
        int n = 2, cin = 3, cout = projection ? 4 : 3, stride = projection ? 2 : 1, h = 6, w = 6;
        var block = new Residual(cin, cout, projection, stride, seed: 11);
        int oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1;
        double[] Twin(double[][] v)
        {
            // Parameter order: conv1.weight, conv1.bias, bn1.weight, bn1.bias, conv2.weight, conv2.bias, bn2.weight, bn2.bias[, conv3.weight, conv3.bias]
            var a = Conv(v[0], n, cin, h, w, v[1], v[2], cout, (3, 3), (stride, stride), (1, 1), (1, 1), 1, PaddingMode.Zeros);
            a = BatchNorm(a, n, cout, oh * ow, v[3], v[4], 1e-5, null, null).Select(e => Math.Max(e, 0)).ToArray();
            var b = Conv(a, n, cout, oh, ow, v[5], v[6], cout, (3, 3), (1, 1), (1, 1), (1, 1), 1, PaddingMode.Zeros);
            b = BatchNorm(b, n, cout, oh * ow, v[7], v[8], 1e-5, null, null);
            var sc = projection ? Conv(v[0], n, cin, h, w, v[9], v[10], cout, (1, 1), (stride, stride), (0, 0), (1, 1), 1, PaddingMode.Zeros) : v[0];
            return b.Zip(sc, (p, q) => Math.Max(p + q, 0)).ToArray();
        }
        Check(block, TestUtil.RandomTensor(new Random(12), n, cin, h, w), Twin);
    }

    [Test]
    public void SoftmaxCrossEntropyMatchesDoubleFiniteDifferences()
    {
        int n = 4, k = 6;
        var logits = TestUtil.RandomArray(new Random(9), n * k, -4, 4);
        int[] labels = [0, 5, 2, 2];
        var ce = new SoftmaxCrossEntropy();
        ce.Forward(Tensor.FromArray(logits, n, k), labels);
        var analytic = ce.Backward().ToArray();
        double[] Loss(double[][] v)
        {
            double total = 0;
            for (int r = 0; r < n; r++)
            {
                double max = v[0].Skip(r * k).Take(k).Max();
                double sum = v[0].Skip(r * k).Take(k).Sum(z => Math.Exp(z - max));
                total += Math.Log(sum) + max - v[0][r * k + labels[r]];
            }
            return [total / n];
        }
        var numeric = NumericGradients(Loss, [D(logits)], [1.0]);
        AssertGradient(analytic, numeric[0], "dLogits");
    }
}
