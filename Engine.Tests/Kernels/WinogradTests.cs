using ConvEngine.Inspect;
using ConvEngine.Kernels.Conv;
using ConvEngine.NN;
using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The Winograd F(2x2, 3x3) kernel: bit for bit against its naive twin (NaiveWinograd), the twin against the direct
/// convolution summed in double, Conv2d's forward, dX and dW through it against the reference device and finite
/// differences, and where the kernel is chosen.
/// </summary>
public class WinogradTests
{
    // (images, C, H, W, Cout, pad): odd and even planes (cut last tiles), channel counts off the 8-row panels, 1x1 inputs,
    // padding 0..2, tiles across image boundaries and across 32-tile panels, several tile blocks, seven blocks on two
    // threads, which splits the output channels in two ranges of 72, and (the last) few tiles with many channels: the
    // few-tile path, its last item of output channels cut (136 = 4·32 + 8). Rows of up to 8 tiles are read in place by the
    // input transform, wider ones copied first: 16 and 18 columns sit on either side of that line, and padding 3 puts
    // whole patch rows and columns outside the plane.
    private static readonly (int N, int C, int H, int W, int Co, int P)[] Shapes =
    [
        (2, 3, 5, 7, 5, 1), (3, 17, 9, 10, 13, 1), (1, 8, 30, 33, 70, 0), (2, 5, 4, 4, 9, 2), (5, 40, 7, 7, 20, 1),
        (1, 1, 1, 1, 1, 1), (2, 64, 14, 35, 130, 1), (2, 9, 13, 16, 11, 1), (1, 6, 11, 18, 10, 1), (2, 4, 6, 5, 7, 3),
        (1, 256, 28, 28, 136, 1), (3, 128, 7, 7, 136, 1), (2, 16, 24, 24, 40, 1), (9, 6, 3, 4, 10, 1), (6, 12, 14, 14, 20, 1),
        (3, 5, 12, 11, 6, 1),
    ];

    private static void RequireKernel()
    {
        if (!Winograd.IsSupported) Assert.Ignore("The Winograd kernel needs AVX-512; this processor (or DOTNET_EnableAVX512=0) has none.");
    }

    [Test]
    public void FastKernelMatchesTheNaiveTwinBitForBit([Values(1, 2)] int threads, [Values(false, true)] bool flipTaps)
    {
        RequireKernel();
        var dev = new CpuDevice(threads);
        var rng = new Random(7 + threads);
        foreach (var (n, c, h, w, co, p) in Shapes)
        {
            var g = new ConvGeometry(c, h, w, 3, 3, 1, 1, p, p, 1, 1);
            var x = TestUtil.RandomArray(rng, n * c * h * w);
            // Forward: weight [co, c, 3, 3]. Flipped: the same floats read as a weight [c, co, 3, 3] flipped and transposed.
            var wt = TestUtil.RandomArray(rng, co * c * 9);
            var (so, si) = flipTaps ? (9, co * 9) : (c * 9, 9);
            int len = n * co * g.OutH * g.OutW;
            var expected = new float[len];
            NaiveWinograd.Conv2d(x, n, g, wt, so, si, flipTaps, co, expected);
            // One image before and after the batch: the kernel must write only its images' outputs.
            var y = new float[len + 2 * co * g.OutH * g.OutW];
            Array.Fill(y, float.NaN);
            var xs = new float[x.Length + 2 * c * h * w];
            x.CopyTo(xs, c * h * w);
            var yt = Tensor.FromArray(dev, y, y.Length);
            dev.ConvWinograd(Tensor.FromArray(dev, wt, wt.Length), so, si, flipTaps, co, Tensor.FromArray(dev, xs, xs.Length), 1, n, g, yt);
            var got = yt.ToArray();
            int before = co * g.OutH * g.OutW;
            Assert.That(got.AsSpan(before, len).ToArray(), Is.EqualTo(expected), $"N{n} {c}x{h}x{w} -> {co} p{p} threads {threads} flip {flipTaps}");
            Assert.That(got.Take(before).Concat(got.Skip(before + len)).All(float.IsNaN), Is.True, "outputs of other images untouched");
        }
    }

    [Test]
    public void TheLastShapesSplitTheOutputChannelsAndTakeTheFewTilePath()
    {
        // Keeps FastKernelMatchesTheNaiveTwinBitForBit covering the split (seven 32-tile blocks cannot be shared evenly by two
        // threads) and the few-tile path (48 tiles of 128 channels).
        Assert.That(Winograd.FewTiles(196, 256, 136), Is.False);
        var plan = Winograd.Plan.For(threads: 2, tiles: 196, ci: 256, co: 136);
        Assert.That((plan.Blocks, plan.KSplit, plan.KPer), Is.EqualTo((7, 2, 72)));
        Assert.That(Winograd.FewTiles(48, 128, 136), Is.True);
    }

    [Test]
    public void NarrowRowsAreReadInPlaceAndWideOnesCopied()
    {
        // Keeps FastKernelMatchesTheNaiveTwinBitForBit and WeightGradientMatchesTheDirectSumInDouble covering both input
        // transforms and the line between them (8 tiles per row).
        Assert.That(Winograd.ReadsInPlace(new ConvGeometry(9, 13, 16, 3, 3, 1, 1, 1, 1, 1, 1)), Is.True, "16 columns: 8 tiles");
        Assert.That(Winograd.ReadsInPlace(new ConvGeometry(6, 11, 18, 3, 3, 1, 1, 1, 1, 1, 1)), Is.False, "18 columns: 9 tiles");
        Assert.That(Shapes.Count(s => Winograd.ReadsInPlace(new ConvGeometry(s.C, s.H, s.W, 3, 3, 1, 1, s.P, s.P, 1, 1))),
                    Is.InRange(3, Shapes.Length - 3), "both transforms are exercised");
    }

    [Test]
    public void ManyUnevenBlocksCutOnlyTheLastOneIntoOutputChannelRanges()
    {
        // Keeps FastKernelMatchesTheNaiveTwinBitForBit covering the tail cut: 288 tiles of 16 channels are three 3-panel
        // blocks, two whole and the last in two ranges of output channels (24 and 16 of 40).
        var plan = Winograd.Plan.For(threads: 2, tiles: 288, ci: 16, co: 40);
        Assert.That((plan.Blocks, plan.KSplit, plan.Tail, plan.TailSplit, plan.TailPer, plan.Items), Is.EqualTo((3, 1, 1, 2, 24, 4)));
        Assert.That(Enumerable.Range(0, plan.Items).Select(i => plan.Item(i, 40)),
                    Is.EqualTo(new[] { (0, 0, 40), (1, 0, 40), (2, 0, 24), (2, 24, 40) }));
        // resnet_l3 at batch 8: 392 tiles, 13 one-panel blocks, the last one in halves; on one thread nothing is cut.
        var l3 = Winograd.Plan.For(threads: 2, tiles: 392, ci: 256, co: 256);
        Assert.That((l3.Blocks, l3.Tail, l3.TailPer, l3.Items), Is.EqualTo((13, 1, 128, 14)));
        Assert.That(Winograd.Plan.For(threads: 1, tiles: 392, ci: 256, co: 256).Items, Is.EqualTo(13));
    }

    [Test]
    public void FewTilePathSumsMoreInputChannelsThanOneBlockWithinRounding([Values(false, true)] bool flipTaps)
    {
        // More input channels than one block of U (FewKc): M sums the blocks (beta 1 after the first), so the result is the
        // convolution up to float rounding, checked against the direct sum in double like the twin.
        RequireKernel();
        var dev = new CpuDevice(2);
        var rng = new Random(11);
        int n = 1, c = Winograd.FewKc + 24, h = 5, w = 6, co = 136, p = 1;
        var g = new ConvGeometry(c, h, w, 3, 3, 1, 1, p, p, 1, 1);
        Assert.That(Winograd.FewTiles(n * 3 * 3, c, co), Is.True, "the few-tile path");
        var x = TestUtil.RandomArray(rng, n * c * h * w);
        var wt = TestUtil.RandomArray(rng, co * c * 9);
        var (so, si) = flipTaps ? (9, co * 9) : (c * 9, 9);
        var yt = new Tensor(dev, n * co * g.OutH * g.OutW);
        dev.ConvWinograd(Tensor.FromArray(dev, wt, wt.Length), so, si, flipTaps, co, Tensor.FromArray(dev, x, x.Length), 0, n, g, yt);
        var y = yt.ToArray();
        for (int o = 0; o < co; o++)
            for (int i = 0; i < g.OutH; i++)
                for (int j = 0; j < g.OutW; j++)
                {
                    var (sum, abs) = DirectSum(x, wt, so, si, flipTaps, 0, c, h, w, p, o, i, j);
                    double got = y[(o * g.OutH + i) * g.OutW + j];
                    Assert.That(Math.Abs(got - sum), Is.LessThanOrEqualTo(4e-6 * abs + 1e-7), $"({o}, {i}, {j}): {got} against {sum}");
                }
    }

    // Output (b, o, i, j) of the 3x3 stride-1 convolution summed in double from its definition (filter (o, ci) at
    // o·so + ci·si, taps reversed when flipTaps), and the sum of the terms' magnitudes, which bounds float rounding.
    private static (double Sum, double Abs) DirectSum(float[] x, float[] wt, int so, int si, bool flipTaps, int b, int c, int h, int w,
                                                      int p, int o, int i, int j)
    {
        double sum = 0, abs = 0;
        for (int ci = 0; ci < c; ci++)
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++)
                {
                    int ih = i + kh - p, iw = j + kw - p;
                    if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                    int tap = flipTaps ? 8 - (kh * 3 + kw) : kh * 3 + kw;
                    double term = (double)wt[o * so + ci * si + tap] * x[((b * c + ci) * h + ih) * w + iw];
                    sum += term;
                    abs += Math.Abs(term);
                }
        return (sum, abs);
    }

    [Test]
    public void NaiveTwinMatchesTheDirectSumInDouble([Values(false, true)] bool flipTaps)
    {
        var rng = new Random(3);
        foreach (var (n, c, h, w, co, p) in Shapes.Take(6))
        {
            var g = new ConvGeometry(c, h, w, 3, 3, 1, 1, p, p, 1, 1);
            var x = TestUtil.RandomArray(rng, n * c * h * w);
            var wt = TestUtil.RandomArray(rng, co * c * 9);
            var (so, si) = flipTaps ? (9, co * 9) : (c * 9, 9);
            var y = new float[n * co * g.OutH * g.OutW];
            NaiveWinograd.Conv2d(x, n, g, wt, so, si, flipTaps, co, y);
            for (int b = 0; b < n; b++)
                for (int o = 0; o < co; o++)
                    for (int i = 0; i < g.OutH; i++)
                        for (int j = 0; j < g.OutW; j++)
                        {
                            var (sum, abs) = DirectSum(x, wt, so, si, flipTaps, b, c, h, w, p, o, i, j);
                            // Float32 rounding of the transforms and sums: a few ulps of the sum of |terms|.
                            double got = y[((b * co + o) * g.OutH + i) * g.OutW + j];
                            Assert.That(Math.Abs(got - sum), Is.LessThanOrEqualTo(4e-6 * abs + 1e-7),
                                        $"N{n} {c}x{h}x{w} -> {co} p{p} at ({b}, {o}, {i}, {j}): {got} against {sum}");
                        }
        }
    }

    [Test]
    public void TransformsAreTheMatricesOfTheDefinition()
    {
        // U = G g Gᵀ, V = Bᵀ d B and Y = Aᵀ m A computed with the matrices written out, in double.
        double[,] bt = { { 1, 0, -1, 0 }, { 0, 1, 1, 0 }, { 0, -1, 1, 0 }, { 0, 1, 0, -1 } };
        double[,] gm = { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } };
        double[,] at = { { 1, 1, 1, 0 }, { 0, 1, -1, -1 } };
        var rng = new Random(5);
        var g = TestUtil.RandomArray(rng, 9);
        var d = TestUtil.RandomArray(rng, 16);
        var m = TestUtil.RandomArray(rng, 16);
        var u = new float[16]; var v = new float[16]; var y = new float[4];
        NaiveWinograd.TransformFilter(g, u);
        NaiveWinograd.TransformInput(d, v);
        NaiveWinograd.TransformOutput(m, y);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
            {
                double eu = 0, ev = 0;
                for (int a = 0; a < 3; a++) for (int b = 0; b < 3; b++) eu += gm[r, a] * g[3 * a + b] * gm[c, b];
                for (int a = 0; a < 4; a++) for (int b = 0; b < 4; b++) ev += bt[r, a] * d[4 * a + b] * bt[c, b];
                Assert.That(u[4 * r + c], Is.EqualTo(eu).Within(1e-6), $"U[{r},{c}]");
                Assert.That(v[4 * r + c], Is.EqualTo(ev).Within(1e-6), $"V[{r},{c}]");
            }
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++)
            {
                double ey = 0;
                for (int a = 0; a < 4; a++) for (int b = 0; b < 4; b++) ey += at[r, a] * m[4 * a + b] * at[c, b];
                Assert.That(y[2 * r + c], Is.EqualTo(ey).Within(1e-5), $"Y[{r},{c}]");
            }
    }

    // The weight gradient summed in double from its definition: dW[o][c][kh][kw] = Σ dY[n][o][i][j]·x[n][c][i + kh − p][j + kw − p];
    // also returns Σ|terms| per weight for the tolerance.
    private static (double[] Sum, double[] Abs) DirectWeightGrad(float[] x, float[] dy, int n, ConvGeometry g, int co)
    {
        int c = g.Channels, h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW, p = g.PadH;
        var sum = new double[co * c * 9];
        var abs = new double[co * c * 9];
        for (int b = 0; b < n; b++)
            for (int o = 0; o < co; o++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        double gy = dy[((b * co + o) * oh + i) * ow + j];
                        for (int ci = 0; ci < c; ci++)
                            for (int kh = 0; kh < 3; kh++)
                                for (int kw = 0; kw < 3; kw++)
                                {
                                    int ih = i + kh - p, iw = j + kw - p;
                                    if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                    double term = gy * x[((b * c + ci) * h + ih) * w + iw];
                                    sum[(o * c + ci) * 9 + kh * 3 + kw] += term;
                                    abs[(o * c + ci) * 9 + kh * 3 + kw] += Math.Abs(term);
                                }
                    }
        return (sum, abs);
    }

    [Test]
    public void WeightGradientMatchesTheDirectSumInDouble([Values(1, 2, 3)] int threads)
    {
        // Fast kernel (beta 0 and 0.5 over a filled dW, one image before the batch) and naive twin, against the definition.
        // The shapes cover channels off the 8-row and 32-column panels, cut tiles, rows read in place (up to 8 tiles, padding
        // 3 included) as well as copied, and both paths: up to FusedMaxTiles tiles as one block (256 exactly, output channels
        // filling one, two and three panels), more through partial sums in one to several 128-tile blocks per thread, on
        // two and three threads also split by input channels (ChannelSplitMaxTiles: 294 and 330 tiles, the last channel
        // range cut at 17, and 400 tiles over 6 channels, too few to split).
        RequireKernel();
        var dev = new CpuDevice(threads);
        var rng = new Random(31 + threads);
        foreach (var (n, c, h, w, co, p) in new[] { (2, 3, 5, 7, 5, 1), (3, 17, 9, 10, 13, 1), (1, 8, 30, 33, 70, 0), (5, 40, 7, 7, 20, 1),
                                                    (2, 5, 4, 4, 9, 2), (4, 9, 23, 21, 40, 1), (2, 9, 13, 16, 11, 1), (2, 4, 6, 5, 7, 3),
                                                    (3, 17, 20, 22, 37, 1), (20, 6, 7, 9, 5, 1), (4, 10, 16, 16, 33, 1), (2, 17, 12, 12, 70, 1),
                                                    (9, 6, 3, 4, 10, 1), (6, 12, 14, 14, 20, 1), (3, 5, 12, 11, 6, 1) })
        {
            var g = new ConvGeometry(c, h, w, 3, 3, 1, 1, p, p, 1, 1);
            var x = TestUtil.RandomArray(rng, n * c * h * w);
            var dy = TestUtil.RandomArray(rng, n * co * g.OutH * g.OutW);
            var (sum, abs) = DirectWeightGrad(x, dy, n, g, co);
            var naive = new float[co * c * 9];
            NaiveWinograd.WeightGrad(x, dy, n, g, co, naive);
            var xs = new float[x.Length + c * h * w]; x.CopyTo(xs, c * h * w);
            var dys = new float[dy.Length + co * g.OutH * g.OutW]; dy.CopyTo(dys, co * g.OutH * g.OutW);
            var start = TestUtil.RandomArray(rng, co * c * 9 + 3);
            foreach (float beta in new[] { 0f, 0.5f })
            {
                var dw = Tensor.FromArray(dev, start, start.Length);
                dev.ConvWeightGradWinograd(Tensor.FromArray(dev, dys, dys.Length), co, Tensor.FromArray(dev, xs, xs.Length), 1, n, g, beta, dw, 3);
                var got = dw.ToArray();
                Assert.That(got.Take(3), Is.EqualTo(start.Take(3)), "values before the offset untouched");
                for (int i = 0; i < sum.Length; i++)
                {
                    double tol = 1e-5 * abs[i] + 1e-6;
                    Assert.That(got[3 + i] - beta * start[3 + i], Is.EqualTo(sum[i]).Within(tol + 1e-6 * Math.Abs(start[3 + i])),
                                $"fast, beta {beta}: N{n} {c}x{h}x{w} -> {co} p{p}, weight {i}");
                    if (beta == 0) Assert.That(naive[i], Is.EqualTo(sum[i]).Within(tol), $"naive: N{n} {c}x{h}x{w} -> {co} p{p}, weight {i}");
                }
            }
        }
    }

    public static IEnumerable<TestCaseData> Conv2dConfigs()
    {
        // Forced onto the kernel (small shapes); then a shape where Conv2d picks it by itself.
        yield return new TestCaseData(2, 5, 9, 11, 7, 1, PaddingMode.Zeros, true, true).SetName("Winograd_Conv2d_same_odd");
        yield return new TestCaseData(3, 4, 8, 8, 9, 0, PaddingMode.Zeros, false, true).SetName("Winograd_Conv2d_valid");
        yield return new TestCaseData(2, 6, 7, 6, 5, 2, PaddingMode.Zeros, true, true).SetName("Winograd_Conv2d_pad2");
        yield return new TestCaseData(2, 3, 6, 9, 4, 1, PaddingMode.Reflect, true, true).SetName("Winograd_Conv2d_reflect");
        yield return new TestCaseData(4, 32, 16, 16, 40, 1, PaddingMode.Zeros, true, false).SetName("Winograd_Conv2d_chosen");
        // Few tiles, many channels: forward and dX through the few-tile path, dW as one block of tiles.
        yield return new TestCaseData(2, 128, 7, 7, 136, 1, PaddingMode.Zeros, true, false).SetName("Winograd_Conv2d_few_tiles");
    }

    [TestCaseSource(nameof(Conv2dConfigs))]
    public void Conv2dThroughTheKernelMatchesTheReferenceDevice(int n, int cin, int h, int w, int cout, int pad, PaddingMode mode, bool bias, bool force)
    {
        RequireKernel();
        var rng = new Random(21);
        var xData = TestUtil.RandomArray(rng, n * cin * h * w);
        var results = new List<(float[] Y, float[] DX, float[] DW, float[] DB)>();
        foreach (var dev in new IDevice[] { new CpuDevice(2), new CpuDevice(1), new CpuDevice(2), ReferenceDevice.Instance })
        {
            var conv = new Conv2d(cin, cout, 3, 1, pad, bias: bias, paddingMode: mode, device: dev, seed: 4);
            if (dev is CpuDevice)
            {
                conv.WinogradKernel = results.Count < 2;   // two runs through the kernel (2 and 1 threads), then without it
                conv.ForceWinograd = force;
            }
            var y = conv.Forward(Tensor.FromArray(dev, xData, n, cin, h, w));
            var dY = Tensor.FromArray(dev, TestUtil.RandomArray(new Random(22), y.Length), y.Shape);
            var dX = conv.Backward(dY);
            results.Add((y.ToArray(), dX.ToArray(), conv.Weight.Grad.ToArray(), conv.Bias?.Grad.ToArray() ?? []));
        }
        Assert.That(results[1].Y, Is.EqualTo(results[0].Y), "y does not depend on the thread count");
        Assert.That(results[1].DX, Is.EqualTo(results[0].DX), "dX does not depend on the thread count");
        // The kernel's sums differ from the direct ones in rounding only.
        Assert.That(results[0].Y, Is.Not.EqualTo(results[2].Y), "the Winograd run really took another path than the direct one");
        Assert.That(results[0].DX, Is.Not.EqualTo(results[2].DX), "and so did its dX");
        for (int i = 0; i < 3; i += 2)
        {
            string which = i == 0 ? "winograd" : "without";
            TestUtil.AssertClose(results[i].Y, results[3].Y, 1e-4, 2e-5, $"y ({which})");
            TestUtil.AssertClose(results[i].DX, results[3].DX, 1e-4, 2e-5, $"dX ({which})");
            TestUtil.AssertClose(results[i].DW, results[3].DW, 1e-4, 1e-4, $"dW ({which})");
            TestUtil.AssertClose(results[i].DB, results[3].DB, 1e-4, 1e-4, $"dB ({which})");
        }
    }

    [Test]
    public void GradientsThroughTheKernelMatchFiniteDifferences()
    {
        RequireKernel();
        var conv = new Conv2d(3, 4, 3, 1, 1, seed: 11) { ForceWinograd = true };
        var rng = new Random(13);
        var x = TestUtil.RandomTensor(rng, 2, 3, 6, 5);
        var upstream = TestUtil.RandomTensor(rng, conv.OutputShape(x.Shape));
        var report = GradCheck.Check(conv, x, upstream);
        Assert.That(report["input"].Checked, Is.EqualTo(x.Length), "every element of every batch item is checked");
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-2), report.ToString());
    }

    [Test]
    public void ChosenWhereItMeasuredFaster()
    {
        ConvGeometry Same(int c, int hw) => new(c, hw, hw, 3, 3, 1, 1, 1, 1, 1, 1);
        Assert.That(Winograd.Pays(Same(64, 56), 8, 64), Is.True, "resnet_l1");
        Assert.That(Winograd.Pays(Same(256, 14), 8, 256), Is.True, "resnet_l3: 392 tiles");
        Assert.That(Winograd.Pays(Same(512, 7), 8, 512), Is.True, "resnet_l4: 128 tiles, through the few-tile path");
        Assert.That(Winograd.FewTiles(128, 512, 512), Is.True, "resnet_l4's few-tile path");
        Assert.That(Winograd.WeightGradPays(Same(512, 7), 8, 512), Is.True, "resnet_l4's dW: 128 tiles, as one block");
        Assert.That(Winograd.WeightGradPays(Same(64, 7), 8, 64), Is.False, "64 channels over 128 tiles");
        Assert.That(Winograd.WeightGradPays(Same(256, 14), 8, 256), Is.True, "resnet_l3's dW: 392 tiles");
        Assert.That(Winograd.Pays(Same(512, 7), 16, 512), Is.True, "resnet_l4 at batch 16: 256 tiles");
        Assert.That(Winograd.FewTiles(256, 512, 512), Is.False, "256 tiles: the blocked path");
        Assert.That(Winograd.Pays(Same(64, 7), 8, 64), Is.False, "64 channels over 128 tiles");
        Assert.That(Winograd.Pays(Same(16, 28), 64, 16), Is.False, "16 channels");
        Assert.That(Winograd.Applies(new ConvGeometry(64, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1)), Is.False, "stride 2");
        Assert.That(Winograd.Applies(new ConvGeometry(64, 56, 56, 5, 5, 1, 1, 2, 2, 1, 1)), Is.False, "5x5");
        Assert.That(Winograd.Applies(new ConvGeometry(64, 56, 56, 3, 3, 1, 1, 2, 2, 2, 2)), Is.False, "dilation 2");
    }

    [Test]
    public void BadArgumentsAreRefusedWithTheirNames()
    {
        RequireKernel();
        var dev = new CpuDevice(1);
        var w = new Tensor(dev, 4 * 3 * 9);
        var x = new Tensor(dev, 2 * 3 * 6 * 6);
        var y = new Tensor(dev, 2 * 4 * 6 * 6);
        var g = new ConvGeometry(3, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1);
        var five = new ConvGeometry(3, 6, 6, 5, 5, 1, 1, 2, 2, 1, 1);
        Assert.That(() => dev.ConvWinograd(w, 27, 9, false, 4, x, 0, 2, five, y),
                    Throws.ArgumentException.With.Property("ParamName").EqualTo("g").And.Message.Contains("3x3"));
        Assert.That(() => dev.ConvWinograd(w, 27, 9, false, 4, x, 1, 2, g, y),
                    Throws.ArgumentException.With.Property("ParamName").EqualTo("x"));
        Assert.That(() => dev.ConvWinograd(w, 27, 9, false, 5, x, 0, 2, g, y),
                    Throws.ArgumentException.With.Property("ParamName").EqualTo("y"));
        Assert.That(() => dev.ConvWinograd(w, 28, 9, false, 4, x, 0, 2, g, new Tensor(dev, 2 * 4 * 36)),
                    Throws.ArgumentException.With.Property("ParamName").EqualTo("w"));
        Assert.That(() => NaiveWinograd.Conv2d(new float[10], 2, g, new float[108], 27, 9, false, 4, new float[288]),
                    Throws.ArgumentException.With.Property("ParamName").EqualTo("x"));
    }
}
