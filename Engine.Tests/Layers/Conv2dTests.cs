using ConvEngine.Inspect;
using ConvEngine.NN;
using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.Layers;

public class Conv2dTests
{
    /// <summary>A convolution configuration and an input shape that fits it.</summary>
    public sealed record Config(int N, int Cin, int H, int W, int Cout, (int H, int W) K, (int H, int W) S, (int H, int W) P,
                                (int H, int W) D, int Groups, PaddingMode Mode, bool Bias = true)
    {
        public Conv2d Build(int seed, IDevice? device = null) => new(Cin, Cout, K, S, P, D, Groups, Bias, Mode, device, seed);
        public override string ToString() => $"N{N} {Cin}x{H}x{W} -> {Cout} k{K} s{S} p{P} d{D} g{Groups} {Mode}{(Bias ? "" : " nobias")}";
    }

    private static Config RandomConfig(Random rng, int index)
    {
        while (true)
        {
            int groups = rng.Next(4) switch { 0 or 1 => 1, 2 => rng.Next(2, 4), _ => 0 }; // 0: depthwise
            int cin, cout;
            if (groups == 0) { cin = rng.Next(2, 6); groups = cin; cout = cin * rng.Next(1, 3); }
            else { cin = groups * rng.Next(1, 4); cout = groups * rng.Next(1, 4); }
            var k = (rng.Next(1, 5), rng.Next(1, 5));
            var s = (rng.Next(1, 4), rng.Next(1, 4));
            var p = (rng.Next(0, 3), rng.Next(0, 3));
            var d = (rng.Next(1, 3), rng.Next(1, 3));
            var mode = (PaddingMode)(index % 3);
            int h = rng.Next(1, 12), w = rng.Next(1, 12);
            if (d.Item1 * (k.Item1 - 1) + 1 > h + 2 * p.Item1 || d.Item2 * (k.Item2 - 1) + 1 > w + 2 * p.Item2) continue;
            if (mode == PaddingMode.Reflect && (p.Item1 >= h || p.Item2 >= w)) continue;
            return new Config(rng.Next(1, 4), cin, h, w, cout, k, s, p, d, groups, mode, Bias: rng.Next(4) != 0);
        }
    }

    private static float[] Direct(Config c, Conv2d conv, float[] x, out int oh, out int ow) =>
        NaiveConv.Conv2dDirect(x, c.N, c.Cin, c.H, c.W, conv.Weight.Value.ToArray(), conv.Bias?.Value.ToArray() ?? [],
            c.Cout, c.K.H, c.K.W, c.S.H, c.S.W, c.P.H, c.P.W, c.D.H, c.D.W, c.Groups, c.Mode, out oh, out ow);

    [Test]
    public void ForwardMatchesDirectConvolutionOnRandomConfigs()
    {
        var rng = new Random(2024);
        int depthwise = 0, grouped = 0, dilated = 0, strided = 0, rect = 0;
        for (int t = 0; t < 36; t++)
        {
            var c = RandomConfig(rng, t);
            if (c.Groups == c.Cin && c.Cin > 1) depthwise++; else if (c.Groups > 1) grouped++;
            if (c.D != (1, 1)) dilated++;
            if (c.S != (1, 1)) strided++;
            if (c.K.H != c.K.W) rect++;
            var conv = c.Build(seed: t);
            var xData = TestUtil.RandomArray(rng, c.N * c.Cin * c.H * c.W);
            var y = conv.Forward(Tensor.FromArray(xData, c.N, c.Cin, c.H, c.W));
            var expected = Direct(c, conv, xData, out int oh, out int ow);
            Assert.That(y.Shape, Is.EqualTo(new[] { c.N, c.Cout, oh, ow }), c.ToString());
            Assert.That(conv.OutputShape([c.N, c.Cin, c.H, c.W]), Is.EqualTo(y.Shape), c.ToString());
            TestUtil.AssertClose(y.ToArray(), expected, 1e-4, 1e-5, $"case {t}: {c}");
        }
        Assert.That(new[] { depthwise, grouped, dilated, strided, rect }, Is.All.GreaterThan(0), "coverage of the random configs");
    }

    [Test]
    public void ForwardAndBackwardAgreeOnCpuAndReferenceDevices()
    {
        var rng = new Random(77);
        for (int t = 0; t < 6; t++)
        {
            var c = RandomConfig(rng, t);
            var xData = TestUtil.RandomArray(rng, c.N * c.Cin * c.H * c.W);
            var results = new List<(float[] Y, float[] DX, float[] DW)>();
            foreach (IDevice dev in new IDevice[] { CpuDevice.Default, ReferenceDevice.Instance })
            {
                var conv = c.Build(seed: 5, dev);
                var y = conv.Forward(Tensor.FromArray(dev, xData, c.N, c.Cin, c.H, c.W));
                var dY = Tensor.FromArray(dev, TestUtil.RandomArray(new Random(9), y.Length), y.Shape);
                var dX = conv.Backward(dY);
                results.Add((y.ToArray(), dX.ToArray(), conv.Weight.Grad.ToArray()));
            }
            TestUtil.AssertClose(results[0].Y, results[1].Y, 1e-5, 1e-6, $"y {c}");
            TestUtil.AssertClose(results[0].DX, results[1].DX, 1e-5, 1e-6, $"dX {c}");
            TestUtil.AssertClose(results[0].DW, results[1].DW, 1e-5, 1e-6, $"dW {c}");
        }
    }

    [Test]
    public void ChunkingTheBatchGivesTheSameResultsAsOneImageAtATime([Values(1, 2, 4)] int device)
    {
        // ChunkColumns = 1: one image per GEMM (the plain im2col algorithm); 2·OH·OW: chunks of two images with a last
        // chunk of one; the default: the whole batch in one chunk. Random configs include groups, 1x1 kernels and padding modes.
        IDevice dev = device == 1 ? ReferenceDevice.Instance : new CpuDevice(device);
        var rng = new Random(31 + device);
        var configs = Enumerable.Range(0, 10).Select(t => RandomConfig(rng, t) with { N = 5 })
            .Append(new Config(5, 4, 6, 6, 6, (1, 1), (1, 1), (0, 0), (1, 1), 2, PaddingMode.Zeros))   // 1x1 direct when unchunked
            .Append(new Config(7, 3, 7, 7, 8, (3, 3), (1, 1), (1, 1), (1, 1), 1, PaddingMode.Zeros));
        foreach (var c in configs)
        {
            var xData = TestUtil.RandomArray(rng, c.N * c.Cin * c.H * c.W);
            var results = new List<(float[] Y, float[] DX, float[] DW, float[] DB)>();
            var probe = c.Build(seed: 3, dev);
            int cols = probe.OutputShape([c.N, c.Cin, c.H, c.W]) is var s ? s[2] * s[3] : 0;
            foreach (int chunkColumns in new[] { 1, 2 * cols, Conv2d.DefaultChunkColumns })
            {
                var conv = c.Build(seed: 3, dev);
                conv.ChunkColumns = chunkColumns;
                var y = conv.Forward(Tensor.FromArray(dev, xData, c.N, c.Cin, c.H, c.W));
                var dY = Tensor.FromArray(dev, TestUtil.RandomArray(new Random(9), y.Length), y.Shape);
                var dX = conv.Backward(dY);
                results.Add((y.ToArray(), dX.ToArray(), conv.Weight.Grad.ToArray(), conv.Bias?.Grad.ToArray() ?? []));
            }
            var expected = Direct(c, probe, xData, out _, out _);
            for (int i = 0; i < results.Count; i++)
            {
                TestUtil.AssertClose(results[i].Y, expected, 1e-4, 1e-5, $"y (variant {i}) {c}");
                // dW sums over N·OH·OW in an order that depends on the chunking: float32 rounding differs slightly.
                TestUtil.AssertClose(results[i].DX, results[0].DX, 1e-4, 1e-5, $"dX (variant {i}) {c}");
                TestUtil.AssertClose(results[i].DW, results[0].DW, 1e-4, 1e-5, $"dW (variant {i}) {c}");
                TestUtil.AssertClose(results[i].DB, results[0].DB, 1e-4, 1e-5, $"dB (variant {i}) {c}");
            }
        }
    }

    [TestCase(1, 6, 5, 2, 28, TestName = "ImageParallel_lenet_c1")]
    [TestCase(6, 16, 5, 0, 14, TestName = "ImageParallel_lenet_c2")]
    [TestCase(8, 8, 3, 1, 8, TestName = "ImageParallel_same3x3_flippedKernelDx")]
    public void ImageParallelChunksGiveTheSameResultsAsSerialChunks(int cin, int cout, int k, int pad, int hw)
    {
        // On a multi-threaded CPU with enough chunks, whole chunks of images run on the threads (each chunk's kernels on
        // one thread, dW in per-chunk partials added in chunk order); turning that off runs the chunks one after another
        // with each kernel split over the threads. y and dX are computed by the same GEMMs either way (bitwise);
        // dW is summed in a different order. Two backward passes check that dW and dB accumulate (+=).
        var dev = new CpuDevice(2);
        var rng = new Random(77);
        const int n = 19; // several chunks, the last one short
        var xData = TestUtil.RandomArray(rng, n * cin * hw * hw);
        var results = new List<(float[] Y, float[] DX, float[] DW, float[] DB)>();
        foreach (bool imageParallel in new[] { false, true })
        {
            var conv = new Conv2d(cin, cout, k, 1, pad, device: dev, seed: 5) { ChunkColumns = 3 * hw * hw, ImageParallelChunks = imageParallel };
            results.Add(ForwardBackward(conv, dev, xData, [n, cin, hw, hw], dySeed: 8, backwards: 2));
        }
        Assert.That(results[1].Y, Is.EqualTo(results[0].Y), "y");
        Assert.That(results[1].DX, Is.EqualTo(results[0].DX), "dX");
        TestUtil.AssertClose(results[1].DW, results[0].DW, 1e-4, 1e-5, "dW (float32 sums over N·OH·OW in another order)");
        Assert.That(results[1].DB, Is.EqualTo(results[0].DB), "dB");
        var direct = new Conv2d(cin, cout, k, 1, pad, device: ReferenceDevice.Instance, seed: 5);
        var yRef = direct.Forward(Tensor.FromArray(ReferenceDevice.Instance, xData, n, cin, hw, hw)).ToArray();
        TestUtil.AssertClose(results[1].Y, yRef, 1e-4, 1e-5, "y against the reference device");
    }

    // y, dX, dW and dB of one Forward and `backwards` Backward calls (dW and dB then accumulate that many passes) of conv
    // on x, with dY drawn from dySeed.
    private static (float[] Y, float[] DX, float[] DW, float[] DB) ForwardBackward(Conv2d conv, IDevice dev, float[] xData, int[] xShape,
                                                                                   int dySeed, int backwards = 1)
    {
        var y = conv.Forward(Tensor.FromArray(dev, xData, xShape));
        var dY = Tensor.FromArray(dev, TestUtil.RandomArray(new Random(dySeed), y.Length), y.Shape);
        Tensor dX = null!;
        for (int i = 0; i < backwards; i++) dX = conv.Backward(dY);
        return (y.ToArray(), dX.ToArray(), conv.Weight.Grad.ToArray(), conv.Bias!.Grad.ToArray());
    }

    [TestCase(1, 28, TestName = "OwnChunk_1x1_stride1")]
    [TestCase(2, 56, TestName = "OwnChunk_1x1_stride2")]
    public void LargeOneByOneLayersRunOneImagePerChunkWithTheSameResults(int stride, int hw)
    {
        // A 1x1 layer with 784 output columns per image and 32·64·784 multiply-adds per image is past OwnChunkColumns and
        // ImageParallelMacs: each image is a chunk of its own (no swaps; 2 threads, 5 chunks: image-parallel). With the
        // rule off (OwnChunkColumns = int.MaxValue) the images are chunked together. y and dX match bit for bit (the same
        // GEMM columns); dW sums over N·OH·OW in another order. Both match the reference device.
        const int n = 5, cin = 32, cout = 64;
        var dev = new CpuDevice(2);
        var xData = TestUtil.RandomArray(new Random(41), n * cin * hw * hw);
        var results = new List<(float[] Y, float[] DX, float[] DW, float[] DB)>();
        foreach (int own in new[] { Conv2d.DefaultOwnChunkColumns, int.MaxValue })
        {
            var conv = new Conv2d(cin, cout, 1, stride, device: dev, seed: 6) { OwnChunkColumns = own };
            var g = new ConvGeometry(cin, hw, hw, 1, 1, stride, stride, 0, 0, 1, 1);
            Assert.That(g.ColCols, Is.EqualTo(784));
            Assert.That(conv.ImagesPerChunk(n, g), own == int.MaxValue ? Is.GreaterThan(1) : Is.EqualTo(1), $"images per chunk, OwnChunkColumns {own}");
            results.Add(ForwardBackward(conv, dev, xData, [n, cin, hw, hw], dySeed: 42));
        }
        Assert.That(results[0].Y, Is.EqualTo(results[1].Y), "y");
        Assert.That(results[0].DX, Is.EqualTo(results[1].DX), "dX");
        // dW: float32 sums of N·OH·OW = 3920 products, in another order.
        TestUtil.AssertClose(results[0].DW, results[1].DW, 1e-3, 1e-4, "dW (float32 sums in another order)");
        Assert.That(results[0].DB, Is.EqualTo(results[1].DB), "dB");
        var rd = ReferenceDevice.Instance;
        var reference = new Conv2d(cin, cout, 1, stride, device: rd, seed: 6);
        var yRef = reference.Forward(Tensor.FromArray(rd, xData, n, cin, hw, hw));
        var dXRef = reference.Backward(Tensor.FromArray(rd, TestUtil.RandomArray(new Random(42), yRef.Length), yRef.Shape));
        TestUtil.AssertClose(results[0].Y, yRef.ToArray(), 1e-4, 1e-5, "y against the reference device");
        TestUtil.AssertClose(results[0].DX, dXRef.ToArray(), 1e-4, 1e-5, "dX against the reference device");
        TestUtil.AssertClose(results[0].DW, reference.Weight.Grad.ToArray(), 1e-3, 1e-4, "dW against the reference device");
    }

    public static IEnumerable<TestCaseData> DirectKernelConfigs()
    {
        // One group: Cout below, at and past the 8-channel tile; Cin = 1; 1x1, 3x3, 5x5 and rectangular
        // kernels; zero, "same" and larger padding, different per axis; dilation 2; planes narrower than the kernel's
        // reach of one tile (W = 1, 7) and wider than a 48-column tile; reflect padding (x padded first, then pad 0).
        yield return new TestCaseData(new Config(3, 5, 9, 11, 13, (3, 3), (1, 1), (1, 1), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_3x3_same_cout13");
        yield return new TestCaseData(new Config(2, 1, 28, 28, 6, (5, 5), (1, 1), (2, 2), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_lenet_c1");
        yield return new TestCaseData(new Config(2, 6, 14, 14, 16, (5, 5), (1, 1), (0, 0), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_lenet_c2_valid");
        yield return new TestCaseData(new Config(2, 4, 7, 7, 8, (3, 2), (1, 1), (2, 0), (2, 1), 1, PaddingMode.Zeros)).SetName("Direct_rect_dilated_pad20");
        yield return new TestCaseData(new Config(3, 3, 5, 1, 9, (3, 1), (1, 1), (1, 0), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_width1");
        yield return new TestCaseData(new Config(2, 7, 6, 5, 17, (1, 1), (1, 1), (0, 0), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_1x1");
        yield return new TestCaseData(new Config(2, 3, 8, 9, 4, (3, 3), (1, 1), (1, 2), (1, 1), 1, PaddingMode.Reflect)).SetName("Direct_reflect");
        yield return new TestCaseData(new Config(2, 8, 20, 60, 8, (3, 3), (1, 1), (1, 1), (1, 1), 1, PaddingMode.Zeros, Bias: false)).SetName("Direct_wide_rows");
        // Rows of at least 48 padded columns: tiles stored straight into y under lane masks (RowSink), here with the bias,
        // a partial channel block, a padding wider than the output (second-row lanes clipped at OW), and the stride-2 stem.
        yield return new TestCaseData(new Config(2, 3, 7, 50, 13, (3, 3), (1, 1), (1, 1), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_wide_rows_bias_cout13");
        yield return new TestCaseData(new Config(2, 2, 5, 30, 9, (11, 11), (1, 1), (10, 10), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_wide_padding_narrow_output");
        yield return new TestCaseData(new Config(2, 3, 9, 101, 44, (7, 7), (2, 2), (3, 3), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_stem_wide_rows_s2");
        // Strided: phase planes (stride 2 both ways, 2 x 3, a 7x7/2 stem, a 1x1/2 projection, stride with dilation).
        yield return new TestCaseData(new Config(2, 3, 23, 22, 10, (7, 7), (2, 2), (3, 3), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_stem_7x7_s2");
        yield return new TestCaseData(new Config(2, 6, 14, 14, 12, (3, 3), (2, 2), (1, 1), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_3x3_s2");
        yield return new TestCaseData(new Config(3, 5, 11, 13, 9, (1, 1), (2, 2), (0, 0), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_1x1_s2");
        yield return new TestCaseData(new Config(2, 4, 13, 17, 8, (3, 2), (2, 3), (1, 1), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_rect_s23");
        yield return new TestCaseData(new Config(2, 3, 15, 16, 5, (3, 3), (3, 2), (2, 2), (2, 2), 1, PaddingMode.Zeros)).SetName("Direct_s32_dilated");
        yield return new TestCaseData(new Config(2, 3, 9, 1, 5, (3, 1), (2, 2), (1, 0), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_s2_width1");
        yield return new TestCaseData(new Config(2, 2, 9, 45, 4, (3, 5), (2, 2), (1, 2), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_s2_wide_rows");
        // Enough images per chunk for whole images per thread (each thread pads its own images and runs their tiles).
        yield return new TestCaseData(new Config(9, 5, 9, 11, 13, (3, 3), (1, 1), (1, 1), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_images_per_thread");
        // Strided with whole images per thread: each image in bands of q blocks, each band padding only the rows it reads
        // (Cout 44: enough multiply-adds per copied value for Conv2d to take the direct kernel at stride 2).
        yield return new TestCaseData(new Config(8, 3, 23, 22, 44, (7, 7), (2, 2), (3, 3), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_images_per_thread_strided");
        yield return new TestCaseData(new Config(6, 3, 9, 101, 44, (7, 7), (2, 2), (3, 3), (1, 1), 1, PaddingMode.Zeros)).SetName("Direct_images_per_thread_strided_wide_rows");
    }

    [TestCaseSource(nameof(DirectKernelConfigs))]
    [Category("Simd")] // also in the CI passes without AVX-512 and without intrinsics, where Conv2d takes the implicit GEMM
    public void DirectKernelMatchesTheGemmPathAndTheReference(Config c)
    {
        // The direct kernel (Kernels/Conv/DirectConv.cs) computes y (any stride) and the stride-1 dX; the implicit GEMM is the
        // same computation through packed panels, and the reference device runs the naive loop nest. Without AVX-512 both
        // CPU variants take the GEMM path and the test still checks them against the reference.
        var rng = new Random(41);
        var xData = TestUtil.RandomArray(rng, c.N * c.Cin * c.H * c.W);
        var results = new List<(float[] Y, float[] DX, float[] DW)>();
        foreach (var dev in new IDevice[] { new CpuDevice(2), new CpuDevice(2), ReferenceDevice.Instance })
        {
            var conv = c.Build(seed: 6, dev);
            conv.DirectKernel = results.Count == 0;   // first: direct kernel (where it applies), second: implicit GEMM
            conv.StridedLanesKernel = false;          // strided layers would take StridedLanesConv (tested on its own) on both
            var y = conv.Forward(Tensor.FromArray(dev, xData, c.N, c.Cin, c.H, c.W));
            var dY = Tensor.FromArray(dev, TestUtil.RandomArray(new Random(12), y.Length), y.Shape);
            var dX = conv.Backward(dY);
            results.Add((y.ToArray(), dX.ToArray(), conv.Weight.Grad.ToArray()));
        }
        for (int i = 0; i < 2; i++)
        {
            string which = i == 0 ? "direct" : "gemm";
            TestUtil.AssertClose(results[i].Y, results[2].Y, 1e-4, 1e-5, $"y ({which}) {c}");
            TestUtil.AssertClose(results[i].DX, results[2].DX, 1e-4, 1e-5, $"dX ({which}) {c}");
            TestUtil.AssertClose(results[i].DW, results[2].DW, 1e-4, 1e-5, $"dW ({which}) {c}");
        }
    }

    public static IEnumerable<TestCaseData> ScatterDxConfigs()
    {
        // "Valid" and wide-padded convolutions, where the scatter form costs fewer products than the gather form (LeNet's
        // second convolution, through the direct kernel) or dcol = Wᵀ·dY plus col2im (fewer than 4 input channels: LeNet's
        // first, a 7x7 on 3 channels); and a 3x3 "same" layer, where it does not.
        yield return new TestCaseData(new Config(4, 6, 14, 14, 16, (5, 5), (1, 1), (0, 0), (1, 1), 1, PaddingMode.Zeros), true).SetName("ScatterDx_lenet_c2");
        yield return new TestCaseData(new Config(3, 1, 28, 28, 6, (5, 5), (1, 1), (2, 2), (1, 1), 1, PaddingMode.Zeros), true).SetName("ScatterDx_lenet_c1");
        yield return new TestCaseData(new Config(2, 3, 16, 16, 8, (7, 7), (1, 1), (0, 0), (1, 1), 1, PaddingMode.Zeros), true).SetName("ScatterDx_7x7_cin3");
        yield return new TestCaseData(new Config(2, 8, 9, 9, 8, (3, 3), (1, 1), (1, 1), (1, 1), 1, PaddingMode.Zeros), false).SetName("ScatterDx_3x3_same_not_taken");
    }

    [TestCaseSource(nameof(ScatterDxConfigs))]
    [Category("Simd")] // also in the CI passes without AVX-512 and without intrinsics, where the kernel does not apply
    public void ScatterDxIsTakenWhereItCostsLessAndMatchesTheOtherPathsAndTheReference(Config c, bool taken)
    {
        var rng = new Random(43);
        var xData = TestUtil.RandomArray(rng, c.N * c.Cin * c.H * c.W);
        var results = new List<(float[] DX, float[] DW)>();
        foreach (var dev in new IDevice[] { new CpuDevice(2), new CpuDevice(2), ReferenceDevice.Instance })
        {
            var conv = c.Build(seed: 8, dev);
            conv.ScatterDxKernel = results.Count == 0;   // first: scatter form where it pays, second: never
            var g = new ConvGeometry(c.Cin, c.H, c.W, c.K.H, c.K.W, 1, 1, c.P.H, c.P.W, 1, 1);
            if (results.Count < 2)
                Assert.That(conv.ScatterDxFor(g, c.N), Is.EqualTo(results.Count == 0 && taken && ConvEngine.Kernels.Conv.ScatterDx.IsSupported), $"scatter form chosen: {c}");
            var y = conv.Forward(Tensor.FromArray(dev, xData, c.N, c.Cin, c.H, c.W));
            var dX = conv.Backward(Tensor.FromArray(dev, TestUtil.RandomArray(new Random(14), y.Length), y.Shape));
            results.Add((dX.ToArray(), conv.Weight.Grad.ToArray()));
        }
        for (int i = 0; i < 2; i++)
        {
            string which = i == 0 ? "scatter" : "other";
            TestUtil.AssertClose(results[i].DX, results[2].DX, 1e-4, 1e-5, $"dX ({which}) {c}");
            TestUtil.AssertClose(results[i].DW, results[2].DW, 1e-4, 1e-5, $"dW ({which}) {c}");
        }
    }

    public static IEnumerable<TestCaseData> GradConfigs()
    {
        yield return new TestCaseData(new Config(2, 3, 6, 5, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, PaddingMode.Zeros)).SetName("Grad_3x3_pad1");
        yield return new TestCaseData(new Config(2, 2, 7, 6, 3, (3, 2), (2, 1), (1, 0), (1, 1), 1, PaddingMode.Zeros)).SetName("Grad_rect_stride21");
        yield return new TestCaseData(new Config(2, 4, 7, 7, 6, (3, 3), (1, 2), (2, 1), (2, 2), 2, PaddingMode.Zeros)).SetName("Grad_groups2_dilation2");
        // Groups with Cin/G ≥ 4 and "same" padding: dX runs as a convolution of dY with W' read flipped from W per group.
        yield return new TestCaseData(new Config(2, 8, 6, 7, 6, (3, 3), (1, 1), (1, 1), (1, 1), 2, PaddingMode.Zeros)).SetName("Grad_groups2_flipped_dx");
        yield return new TestCaseData(new Config(2, 3, 6, 6, 3, (3, 3), (1, 1), (1, 1), (1, 1), 3, PaddingMode.Zeros)).SetName("Grad_depthwise");
        yield return new TestCaseData(new Config(2, 2, 5, 6, 3, (3, 3), (1, 1), (2, 1), (1, 1), 1, PaddingMode.Reflect)).SetName("Grad_reflect");
        yield return new TestCaseData(new Config(2, 2, 4, 5, 3, (2, 3), (2, 1), (2, 2), (1, 1), 1, PaddingMode.Replicate)).SetName("Grad_replicate");
        yield return new TestCaseData(new Config(3, 4, 4, 3, 2, (1, 1), (1, 1), (0, 0), (1, 1), 2, PaddingMode.Zeros)).SetName("Grad_1x1_direct_groups");
        yield return new TestCaseData(new Config(2, 3, 5, 5, 2, (3, 3), (2, 2), (1, 1), (1, 1), 1, PaddingMode.Zeros, Bias: false)).SetName("Grad_nobias");
        // "Valid" 5x5 on 2 channels: dX in scatter form (Kernels/Conv/ScatterDx.cs) on AVX-512.
        yield return new TestCaseData(new Config(2, 2, 7, 8, 3, (5, 5), (1, 1), (0, 0), (1, 1), 1, PaddingMode.Zeros)).SetName("Grad_valid_5x5_scatter_dx");
    }

    [TestCaseSource(nameof(GradConfigs))]
    public void GradientsMatchFiniteDifferences(Config c)
    {
        var conv = c.Build(seed: 11);
        var rng = new Random(13);
        var x = TestUtil.RandomTensor(rng, c.N, c.Cin, c.H, c.W);
        var shape = conv.OutputShape(x.Shape);
        var upstream = TestUtil.RandomTensor(rng, shape);
        var report = GradCheck.Check(conv, x, upstream);
        Assert.That(report.Entries.Count, Is.EqualTo(c.Bias ? 3 : 2));
        Assert.That(report["input"].Checked, Is.EqualTo(x.Length), "every element of every batch item is checked");
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-2), report.ToString());
    }

    [TestCase(PaddingMode.Zeros)]
    [TestCase(PaddingMode.Reflect)]
    [TestCase(PaddingMode.Replicate)]
    public void BackwardTwiceAccumulatesParameterGradsAndReturnsSameDX(PaddingMode mode)
    {
        var conv = new Conv2d(3, 4, 3, stride: 1, padding: 1, groups: 1, paddingMode: mode, seed: 2);
        var rng = new Random(3);
        var x = TestUtil.RandomTensor(rng, 2, 3, 5, 6);
        var y = conv.Forward(x);
        var dY = TestUtil.RandomTensor(rng, y.Shape);
        var dX1 = conv.Backward(dY).ToArray();
        var w1 = conv.Weight.Grad.ToArray(); var b1 = conv.Bias!.Grad.ToArray();
        var dX2 = conv.Backward(dY).ToArray();
        TestUtil.AssertClose(dX2, dX1, 0, 0, "dX is the same");
        TestUtil.AssertClose(conv.Weight.Grad.ToArray(), w1.Select(v => 2 * v).ToArray(), 1e-6, 1e-7, "dW doubled");
        TestUtil.AssertClose(conv.Bias.Grad.ToArray(), b1.Select(v => 2 * v).ToArray(), 1e-6, 1e-7, "dB doubled");
        Assert.That(w1.Any(v => v != 0) && b1.Any(v => v != 0), Is.True, "gradients are not trivially zero");
        conv.ZeroGrad();
        Assert.That(conv.Weight.Grad.ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void ChangingInputSizeBetweenCallsUsesTheNewGeometry()
    {
        // The col/pad scratch buffers are reused while sizes are unchanged; a new size must not see stale ones.
        foreach (var mode in new[] { PaddingMode.Zeros, PaddingMode.Reflect })
        {
            var conv = new Conv2d(2, 3, 3, padding: 1, paddingMode: mode, seed: 4);
            var rng = new Random(5);
            var xs = new[] { TestUtil.RandomTensor(rng, 2, 2, 6, 6), TestUtil.RandomTensor(rng, 1, 2, 9, 4), TestUtil.RandomTensor(rng, 2, 2, 6, 6) };
            foreach (var x in xs)
            {
                var c = new Config(x.Dim(0), 2, x.Dim(2), x.Dim(3), 3, (3, 3), (1, 1), (1, 1), (1, 1), 1, mode);
                var y = conv.Forward(x);
                TestUtil.AssertClose(y.ToArray(), Direct(c, conv, x.ToArray(), out _, out _), 1e-4, 1e-5, $"{c}");
                var dX = conv.Backward(TestUtil.RandomTensor(rng, y.Shape));
                Assert.That(dX.Shape, Is.EqualTo(x.Shape));
            }
        }
    }

    [Test]
    public void ParametersFollowPyTorchShapesNamesAndInit()
    {
        var conv = new Conv2d(6, 8, (3, 5), groups: 2, seed: 1);
        Assert.That(conv.Weight.Shape, Is.EqualTo(new[] { 8, 3, 3, 5 }));
        Assert.That(conv.Bias!.Shape, Is.EqualTo(new[] { 8 }));
        Assert.That(conv.Parameters().Select(p => p.Name), Is.EqualTo(new[] { "weight", "bias" }));
        double bound = 1 / Math.Sqrt(3 * 3 * 5);
        var w = conv.Weight.Value.ToArray();
        Assert.That(w.Max(v => Math.Abs(v)), Is.LessThanOrEqualTo(bound).And.GreaterThan(0.8 * bound));
        Assert.That(conv.Bias.Value.ToArray().Max(v => Math.Abs(v)), Is.LessThanOrEqualTo(bound));
        Assert.That(new Conv2d(6, 8, 3, seed: 1).Weight.Value.ToArray(), Is.EqualTo(new Conv2d(6, 8, 3, seed: 1).Weight.Value.ToArray()), "seeded");
        Assert.That(new Conv2d(2, 2, 1, bias: false).Bias, Is.Null);
        var sq = new Conv2d(3, 4, 5, stride: 2, padding: 1, dilation: 3);
        Assert.That((sq.KernelSize, sq.Stride, sq.Padding, sq.Dilation, sq.Groups, sq.PaddingMode, sq.InChannels, sq.OutChannels),
            Is.EqualTo(((5, 5), (2, 2), (1, 1), (3, 3), 1, PaddingMode.Zeros, 3, 4)));
    }

    [Test]
    public void ToStringMatchesPyTorchRepr()
    {
        Assert.That(new Conv2d(1, 6, 5, padding: 2).ToString(), Is.EqualTo("Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"));
        Assert.That(new Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false).ToString(),
            Is.EqualTo("Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)"));
        Assert.That(new Conv2d(4, 4, (3, 1), dilation: (2, 1), groups: 4, paddingMode: PaddingMode.Reflect, padding: (1, 0)).ToString(),
            Is.EqualTo("Conv2d(4, 4, kernel_size=(3, 1), stride=(1, 1), padding=(1, 0), dilation=(2, 1), groups=4, padding_mode=reflect)"));
    }

    [Test]
    public void BadInputsNameTheArgumentAndTheValues()
    {
        var conv = new Conv2d(3, 4, 3, padding: 1);
        var ex = Assert.Throws<ArgumentException>(() => conv.Forward(Tensor.Zeros(2, 3, 8)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("[2, 3, 8]").And.Contain("rank-4"));

        ex = Assert.Throws<ArgumentException>(() => conv.Forward(Tensor.Zeros(2, 5, 8, 8)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("[2, 5, 8, 8]").And.Contain("= 3"));

        ex = Assert.Throws<ArgumentException>(() => new Conv2d(3, 4, 5, padding: 1).Forward(Tensor.Zeros(1, 3, 2, 9)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("[1, 3, 2, 9]").And.Contain("kernel height 5").And.Contain("= 4"));

        ex = Assert.Throws<ArgumentException>(() => new Conv2d(3, 4, 3, dilation: 3).Forward(Tensor.Zeros(1, 3, 9, 6)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("effective 7").And.Contain("width 6"));

        ex = Assert.Throws<ArgumentException>(() => new Conv2d(3, 4, 3, padding: 3, paddingMode: PaddingMode.Reflect).Forward(Tensor.Zeros(1, 3, 3, 8)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));
        Assert.That(ex.Message, Does.Contain("(3, 3)").And.Contain("H = 3"));

        ex = Assert.Throws<ArgumentException>(() => conv.Forward(Tensor.Zeros(ReferenceDevice.Instance, 1, 3, 8, 8)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"));

        var aor = Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2d(3, 4, 3, stride: 0));
        Assert.That(aor!.ParamName, Is.EqualTo("stride"));
        Assert.That(aor.Message, Does.Contain("(0, 0)"));
        aor = Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2d(3, 4, (3, 3), stride: (1, -2)));
        Assert.That(aor!.ParamName, Is.EqualTo("stride"));
        Assert.That(aor.Message, Does.Contain("(1, -2)"));
        aor = Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2d(3, 4, 0));
        Assert.That(aor!.ParamName, Is.EqualTo("kernelSize"));
        aor = Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2d(3, 4, 3, padding: -1));
        Assert.That(aor!.ParamName, Is.EqualTo("padding"));
        aor = Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2d(3, 4, 3, dilation: 0));
        Assert.That(aor!.ParamName, Is.EqualTo("dilation"));
        aor = Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2d(0, 4, 3));
        Assert.That(aor!.ParamName, Is.EqualTo("inChannels"));

        ex = Assert.Throws<ArgumentException>(() => new Conv2d(4, 6, 3, groups: 3));
        Assert.That(ex!.ParamName, Is.EqualTo("groups"));
        Assert.That(ex.Message, Does.Contain("inChannels (4)").And.Contain("groups (3)"));
        ex = Assert.Throws<ArgumentException>(() => new Conv2d(6, 4, 3, groups: 3));
        Assert.That(ex!.ParamName, Is.EqualTo("groups"));
        Assert.That(ex.Message, Does.Contain("outChannels (4)"));

        Assert.Throws<InvalidOperationException>(() => new Conv2d(3, 4, 3).Backward(Tensor.Zeros(1, 4, 1, 1)));

        conv.Forward(Tensor.Zeros(2, 3, 8, 8));
        ex = Assert.Throws<ArgumentException>(() => conv.Backward(Tensor.Zeros(2, 4, 8, 7)));
        Assert.That(ex!.ParamName, Is.EqualTo("dY"));
        Assert.That(ex.Message, Does.Contain("[2, 4, 8, 8]").And.Contain("[2, 4, 8, 7]"));
    }
}
