using ConvEngine.NN;
using ConvEngine.Reference;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.NUnit;

namespace ConvEngine.Tests.Reliability;

// Property tests (FsCheck): random shapes and hyper-parameters for Conv2d, MaxPool2d/AvgPool2d and BatchNorm1d/2d, each
// layer run on CpuDevice (the fast kernels) and on ReferenceDevice (the naive loop nests), forward and backward, and
// Conv2d's forward also against the definition (NaiveConv.Conv2dDirect). 100 cases per property, seeded (Replay) so a
// run is reproducible; a failure prints the case and FsCheck's seed.

/// <summary>One random convolution: hyper-parameters, an input size that fits them, and a seed for the values.</summary>
public sealed record ConvCase(int N, int Cin, int H, int W, int Cout, int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW,
                              int Groups, PaddingMode Mode, bool Bias, int Seed);

/// <summary>One random pooling layer (max or average) and an input size that fits it.</summary>
public sealed record PoolCase(bool Max, int N, int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, bool CountIncludePad, int Seed);

/// <summary>One random batch-norm layer: rank 2 ([N, C]), 3 ([N, C, L]) or 4 ([N, C, H, W]), training or eval.</summary>
public sealed record NormCase(int[] Shape, bool Training, float Eps, float Momentum, int Seed)
{
    public override string ToString() => $"NormCase {{ Shape = [{string.Join(", ", Shape)}], Training = {Training}, Eps = {Eps}, Momentum = {Momentum}, Seed = {Seed} }}";
}

/// <summary>The FsCheck generators of the cases.</summary>
public static class LayerArbitraries
{
    public static Arbitrary<ConvCase> Conv() => ConvGen.ToArbitrary();
    public static Arbitrary<PoolCase> Pool() => PoolGen.ToArbitrary();
    public static Arbitrary<NormCase> Norm() => NormGen.ToArbitrary();

    private static Gen<(int, int)> Pair(int lo, int hi) => from a in Gen.Choose(lo, hi) from b in Gen.Choose(lo, hi) select (a, b);

    private static readonly Gen<ConvCase> ConvGen =
        from n in Gen.Choose(1, 3)
        from kind in Gen.Choose(0, 3)          // 0, 1: ordinary; 2: grouped; 3: depthwise
        from g in Gen.Choose(2, 3)
        from per in Pair(1, 3)                 // channels per group in, out
        from k in Pair(1, 4)
        from s in Pair(1, 3)
        from p in Pair(0, 2)
        from d in Pair(1, 3)
        from mode in Gen.Elements(PaddingMode.Zeros, PaddingMode.Reflect, PaddingMode.Replicate)
        from bias in Gen.Elements(true, false)
        from extra in Pair(0, 7)
        from seed in Gen.Choose(0, int.MaxValue)
        select MakeConv(n, kind, g, per, k, s, p, d, mode, bias, extra, seed);

    private static ConvCase MakeConv(int n, int kind, int g, (int In, int Out) per, (int H, int W) k, (int H, int W) s, (int H, int W) p,
                                     (int H, int W) d, PaddingMode mode, bool bias, (int H, int W) extra, int seed)
    {
        int groups = kind < 2 ? 1 : g;
        int cin = groups * per.In, cout = groups * per.Out;
        if (kind == 3) { cin = groups; cout = groups * per.Out; }   // depthwise: one input channel per group
        // The smallest input the kernel fits: d·(k − 1) + 1 ≤ size + 2p; reflect padding also needs p < size.
        int MinSize(int kk, int pp, int dd) => Math.Max(Math.Max(1, dd * (kk - 1) + 1 - 2 * pp), mode == PaddingMode.Reflect ? pp + 1 : 1);
        return new ConvCase(n, cin, MinSize(k.H, p.H, d.H) + extra.H, MinSize(k.W, p.W, d.W) + extra.W, cout, k.H, k.W, s.H, s.W, p.H, p.W,
                            d.H, d.W, groups, mode, bias, seed);
    }

    private static readonly Gen<PoolCase> PoolGen =
        from max in Gen.Elements(true, false)
        from n in Gen.Choose(1, 2)
        from c in Gen.Choose(1, 3)
        from k in Pair(1, 4)
        from s in Pair(1, 3)
        from pFrac in Pair(0, 2)
        from extra in Pair(0, 8)
        from include in Gen.Elements(true, false)
        from seed in Gen.Choose(0, int.MaxValue)
        select MakePool(max, n, c, k, s, pFrac, extra, include, seed);

    private static PoolCase MakePool(bool max, int n, int c, (int H, int W) k, (int H, int W) s, (int H, int W) pFrac, (int H, int W) extra, bool include, int seed)
    {
        int ph = Math.Min(pFrac.H, k.H / 2), pw = Math.Min(pFrac.W, k.W / 2);   // padding at most half the kernel
        int h = Math.Max(1, k.H - 2 * ph) + extra.H, w = Math.Max(1, k.W - 2 * pw) + extra.W;
        return new PoolCase(max, n, c, h, w, k.H, k.W, s.H, s.W, ph, pw, include, seed);
    }

    private static readonly Gen<NormCase> NormGen =
        from rank in Gen.Choose(2, 4)
        from n in Gen.Choose(1, 5)
        from c in Gen.Choose(1, 6)
        from spatial in Pair(1, 6)
        from training in Gen.Elements(true, true, false)
        from eps in Gen.Elements(1e-5f, 1e-3f, 0.1f)
        from momentum in Gen.Elements(0f, 0.1f, 0.5f, 1f)
        from seed in Gen.Choose(0, int.MaxValue)
        select new NormCase(rank switch
        {
            2 => [training ? Math.Max(n, 2) : n, c],                                          // training needs > 1 value per channel
            3 => [n, c, training && n == 1 ? Math.Max(spatial.Item1, 2) : spatial.Item1],
            _ => [n, c, spatial.Item1, training && n * spatial.Item1 == 1 ? Math.Max(spatial.Item2, 2) : spatial.Item2],
        }, training, eps, momentum, seed);
}

[NUnit.Framework.Category("Property")]
public class LayerPropertyTests
{
    // Each property runs 100 generated cases from a fixed seed (FsCheck's Replay), so every run checks the same cases.
    private const int Cases = 100;

    [Property(MaxTest = Cases, Replay = "(8101994,1234567)", Arbitrary = [typeof(LayerArbitraries)])]
    public void Conv2dMatchesTheDefinitionAndTheReferenceDevice(ConvCase c)
    {
        var rng = new Random(c.Seed);
        var x = TestUtil.RandomArray(rng, c.N * c.Cin * c.H * c.W);
        var outputs = new List<(float[] Y, float[] DX, float[] DW, float[]? DB)>();
        float[]? dy = null;
        foreach (IDevice dev in new IDevice[] { CpuDevice.Default, ReferenceDevice.Instance })
        {
            var conv = new Conv2d(c.Cin, c.Cout, (c.KH, c.KW), (c.SH, c.SW), (c.PH, c.PW), (c.DH, c.DW), c.Groups, c.Bias, c.Mode, dev, seed: c.Seed);
            var y = conv.Forward(Tensor.FromArray(dev, x, c.N, c.Cin, c.H, c.W));
            dy ??= TestUtil.RandomArray(new Random(c.Seed ^ 0x5bd1e995), y.Length);
            var dX = conv.Backward(Tensor.FromArray(dev, dy, y.Shape));
            outputs.Add((y.ToArray(), dX.ToArray(), conv.Weight.Grad.ToArray(), conv.Bias?.Grad.ToArray()));
            if (dev is CpuDevice)
            {
                var direct = NaiveConv.Conv2dDirect(x, c.N, c.Cin, c.H, c.W, conv.Weight.Value.ToArray(), conv.Bias?.Value.ToArray() ?? [],
                    c.Cout, c.KH, c.KW, c.SH, c.SW, c.PH, c.PW, c.DH, c.DW, c.Groups, c.Mode, out int oh, out int ow);
                Same(y.Shape, [c.N, c.Cout, oh, ow], "output shape");
                Close(y.ToArray(), direct, "y vs Conv2dDirect");
            }
        }
        Close(outputs[0].Y, outputs[1].Y, "y");
        Close(outputs[0].DX, outputs[1].DX, "dX");
        Close(outputs[0].DW, outputs[1].DW, "dW");
        if (c.Bias) Close(outputs[0].DB!, outputs[1].DB!, "dB");
    }

    [Property(MaxTest = Cases, Replay = "(4242421,7654321)", Arbitrary = [typeof(LayerArbitraries)])]
    public void PoolingMatchesTheReferenceDevice(PoolCase c)
    {
        var rng = new Random(c.Seed);
        var x = TestUtil.RandomArray(rng, c.N * c.C * c.H * c.W);
        var outputs = new List<(float[] Y, float[] DX)>();
        float[]? dy = null;
        foreach (IDevice dev in new IDevice[] { CpuDevice.Default, ReferenceDevice.Instance })
        {
            Module pool = c.Max ? new MaxPool2d((c.KH, c.KW), (c.SH, c.SW), (c.PH, c.PW))
                                : new AvgPool2d((c.KH, c.KW), (c.SH, c.SW), (c.PH, c.PW), c.CountIncludePad);
            var y = pool.Forward(Tensor.FromArray(dev, x, c.N, c.C, c.H, c.W));
            Same(y.Shape, [c.N, c.C, (c.H + 2 * c.PH - c.KH) / c.SH + 1, (c.W + 2 * c.PW - c.KW) / c.SW + 1], "output shape");
            dy ??= TestUtil.RandomArray(new Random(c.Seed ^ 0x27d4eb2f), y.Length);
            outputs.Add((y.ToArray(), pool.Backward(Tensor.FromArray(dev, dy, y.Shape)).ToArray()));
        }
        Close(outputs[0].Y, outputs[1].Y, "y");
        Close(outputs[0].DX, outputs[1].DX, "dX");
    }

    [Property(MaxTest = Cases, Replay = "(1357911,2468013)", Arbitrary = [typeof(LayerArbitraries)])]
    public void BatchNormMatchesTheReferenceDevice(NormCase c)
    {
        var rng = new Random(c.Seed);
        int channels = c.Shape[1];
        var x = TestUtil.RandomArray(rng, c.Shape.Aggregate(1, (a, b) => a * b), -2f, 3f);
        var gamma = TestUtil.RandomArray(rng, channels, 0.5f, 1.5f);
        var beta = TestUtil.RandomArray(rng, channels);
        var warmup = TestUtil.RandomArray(rng, x.Length);   // a training batch that gives eval mode non-trivial running statistics
        var outputs = new List<float[][]>();
        float[]? dy = null;
        foreach (IDevice dev in new IDevice[] { CpuDevice.Default, ReferenceDevice.Instance })
        {
            BatchNormBase bn = c.Shape.Length == 4 ? new BatchNorm2d(channels, c.Eps, c.Momentum, dev) : new BatchNorm1d(channels, c.Eps, c.Momentum, dev);
            bn.Weight.Value.CopyFrom(gamma);
            bn.Bias.Value.CopyFrom(beta);
            if (!c.Training)
            {
                if (c.Shape.Aggregate(1, (a, b) => a * b) / channels > 1) bn.Forward(Tensor.FromArray(dev, warmup, c.Shape));
                bn.Eval();
            }
            var y = bn.Forward(Tensor.FromArray(dev, x, c.Shape));
            dy ??= TestUtil.RandomArray(new Random(c.Seed ^ 0x165667b1), y.Length);
            var dX = bn.Backward(Tensor.FromArray(dev, dy, y.Shape));
            outputs.Add([y.ToArray(), dX.ToArray(), bn.Weight.Grad.ToArray(), bn.Bias.Grad.ToArray(), bn.RunningMean.ToArray(), bn.RunningVar.ToArray()]);
        }
        string[] names = ["y", "dX", "dGamma", "dBeta", "running_mean", "running_var"];
        for (int i = 0; i < names.Length; i++) Close(outputs[0][i], outputs[1][i], names[i]);
    }

    private static void Same(int[] actual, int[] expected, string what)
    {
        if (!actual.AsSpan().SequenceEqual(expected))
            throw new InvalidOperationException($"{what}: [{string.Join(", ", actual)}] but expected [{string.Join(", ", expected)}]");
    }

    /// <summary>|a − e| ≤ atol + rtol·|e| everywhere (NaN only where expected); throws naming the worst element.</summary>
    private static void Close(float[] actual, float[] expected, string what, double rtol = 1e-4, double atol = 2e-5)
    {
        if (actual.Length != expected.Length) throw new InvalidOperationException($"{what}: length {actual.Length} but expected {expected.Length}");
        for (int i = 0; i < actual.Length; i++)
        {
            double a = actual[i], e = expected[i];
            if (double.IsNaN(a) || double.IsNaN(e))
            {
                if (double.IsNaN(a) != double.IsNaN(e)) throw new InvalidOperationException($"{what}[{i}]: {a} but expected {e}");
                continue;
            }
            if (Math.Abs(a - e) > atol + rtol * Math.Abs(e))
                throw new InvalidOperationException($"{what}[{i}] of {actual.Length}: {a:G9} but expected {e:G9} (rtol {rtol}, atol {atol})");
        }
    }
}
