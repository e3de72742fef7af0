using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The implicit-GEMM convolution kernels (B panels packed straight from the images) against the explicit form: Im2ColBatch
/// on the reference device, then a GEMM. Random geometries (strides, padding, dilation, row ranges as groups use them),
/// chunks of several images and K long enough for several K blocks and tails.
/// </summary>
[Category("Simd")]
public class ImplicitGemmTests
{
    private static IEnumerable<(ConvGeometry G, int Images, int RowOffset, int Rows)> Cases(int seed, int count)
    {
        var rng = new Random(seed);
        int made = 0;
        while (made < count)
        {
            int c = rng.Next(1, 9), h = rng.Next(1, 16), w = rng.Next(1, 40), kh = rng.Next(1, 6), kw = rng.Next(1, 6);
            int sh = rng.Next(1, 3), sw = rng.Next(1, 3), ph = rng.Next(0, 3), pw = rng.Next(0, 3), dh = rng.Next(1, 3), dw = rng.Next(1, 3);
            if (dh * (kh - 1) + 1 > h + 2 * ph || dw * (kw - 1) + 1 > w + 2 * pw) continue;
            var g = new ConvGeometry(c, h, w, kh, kw, sh, sw, ph, pw, dh, dw);
            int rowOffset = rng.Next(0, g.ColRows), rows = rng.Next(1, g.ColRows - rowOffset + 1);
            made++;
            yield return (g, rng.Next(1, 5), rowOffset, rows);
        }
    }

    /// <summary>
    /// Layer-sized problems (packing, several K blocks, the tiling cost model), stride 1 as the padded source takes them
    /// (padding 1 and 2, dilation 2, no padding read in place or copied when the array ends with the chunk, a row range
    /// as a group uses) plus a strided one on the clipped walk; images at the start and at the end of the batch.
    /// </summary>
    [Test]
    public void LayerSizedProblemsMatchTheExplicitForm([Values(1, 2)] int threads, [Values(true, false)] bool chunkAtEnd)
    {
        var dev = new CpuDevice(threads);
        var rng = new Random(60 + threads);
        (ConvGeometry G, int Images, int RowOffset, int Rows, int M)[] cases =
        [
            (new ConvGeometry(40, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1), 3, 0, 360, 150),
            (new ConvGeometry(24, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1), 4, 0, 216, 300),
            (new ConvGeometry(16, 12, 11, 3, 3, 1, 1, 2, 2, 2, 2), 2, 0, 144, 90),
            (new ConvGeometry(20, 10, 10, 5, 5, 1, 1, 0, 0, 1, 1), 3, 0, 500, 70),
            (new ConvGeometry(32, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1), 2, 144, 144, 200),
            (new ConvGeometry(16, 36, 38, 3, 3, 2, 2, 1, 1, 1, 1), 2, 0, 144, 130),
        ];
        foreach (var (g, images, rowOffset, k, m) in cases)
        {
            int n = images + 1, first = chunkAtEnd ? 1 : 0, cols = images * g.ColCols;
            var x = TestUtil.RandomArray(rng, n * g.Channels * g.Height * g.Width);
            var col = ReferenceCol(x, first, images, g);

            // Forward form: C (m x cols) = A (m x k) · col rows [rowOffset, +k).
            var a = TestUtil.RandomArray(rng, m * k);
            var c0 = TestUtil.RandomArray(rng, m * cols);
            var expected = ExplicitForward(col, a, m, k, rowOffset, cols, 0.5f, c0);
            var actual = Tensor.FromArray(dev, c0, c0.Length);
            dev.GemmIm2Col(m, k, Tensor.FromArray(dev, a, a.Length), 0, k, Tensor.FromArray(dev, x, x.Length), first, images, g, rowOffset, 0.5f, actual, 0, cols);
            TestUtil.AssertClose(actual.ToArray(), expected, 1e-4, 1e-4, $"forward {g} images {images} rows [{rowOffset}, +{k}) m {m}");

            // Weight-gradient form: C (m x k) = A (m x cols) · (col rows [rowOffset, +k))ᵀ.
            var dy = TestUtil.RandomArray(rng, m * cols);
            var d0 = TestUtil.RandomArray(rng, m * k);
            var expectedT = ExplicitWeightGradient(col, dy, m, k, rowOffset, cols, 1f, d0);
            var actualT = Tensor.FromArray(dev, d0, d0.Length);
            dev.GemmIm2ColT(m, k, Tensor.FromArray(dev, dy, dy.Length), 0, cols, Tensor.FromArray(dev, x, x.Length), first, images, g, rowOffset, 1f, actualT, 0, k);
            TestUtil.AssertClose(actualT.ToArray(), expectedT, 1e-4, 1e-4, $"weight gradient {g} images {images} rows [{rowOffset}, +{k}) m {m}");
        }
    }

    /// <summary>
    /// The stride-1 dX form: A read as the flipped transpose of a weight block (A(i, co·T + t) = W[co][i·T + T − 1 − t])
    /// against that A written out. K blocks that cut a co's taps, 3x3 and 5x5 taps (8x8 register transposes plus single
    /// columns) and 2x2 (single columns only), rows that leave the last panel part empty, a row range as a group uses.
    /// </summary>
    [Test]
    public void FlippedWeightMatchesTheFlippedMatrixWrittenOut([Values(1, 2)] int threads)
    {
        var dev = new CpuDevice(threads);
        var rng = new Random(80 + threads);
        (ConvGeometry G, int Images, int Cout, int RowOffset, int M)[] cases =
        [
            (new ConvGeometry(90, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1), 2, 70, 0, 21),     // K = 630: three blocks of 210
            (new ConvGeometry(40, 6, 6, 5, 5, 1, 1, 2, 2, 1, 1), 2, 20, 125, 13),   // 5x5, group rows [125, +500)
            (new ConvGeometry(100, 5, 5, 2, 2, 1, 1, 1, 1, 1, 1), 3, 100, 0, 9),    // T = 4, K = 400
            (new ConvGeometry(64, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1), 2, 64, 0, 64),     // whole panels, K = 576
        ];
        foreach (var (g, images, cout, rowOffset, m) in cases)
        {
            int taps = g.KernelH * g.KernelW, k = cout * taps, lda = m * taps + 7, n = images + 1, cols = images * g.ColCols;
            var w = TestUtil.RandomArray(rng, (cout - 1) * lda + m * taps);
            var flipped = new float[m * k];
            for (int i = 0; i < m; i++)
                for (int co = 0; co < cout; co++)
                    for (int t = 0; t < taps; t++)
                        flipped[i * k + co * taps + t] = w[co * lda + i * taps + taps - 1 - t];
            var x = TestUtil.RandomArray(rng, n * g.Channels * g.Height * g.Width);
            var c0 = TestUtil.RandomArray(rng, m * cols);
            var expected = ExplicitForward(ReferenceCol(x, 1, images, g), flipped, m, k, rowOffset, cols, 0.5f, c0);
            var actual = Tensor.FromArray(dev, c0, c0.Length);
            dev.GemmIm2Col(m, k, Tensor.FromArray(dev, w, w.Length), 0, lda, Tensor.FromArray(dev, x, x.Length), 1, images, g, rowOffset,
                           0.5f, actual, 0, cols, flipTaps: taps);
            TestUtil.AssertClose(actual.ToArray(), expected, 1e-4, 1e-4, $"{g} images {images} cout {cout} rows [{rowOffset}, +{k}) m {m}");
        }
    }

    /// <summary>PadPlane against a plain loop, for every border combination; nothing past the padded plane is written.</summary>
    [Test]
    public void PadPlaneWritesTheZeroBorderAndNothingElse()
    {
        var rng = new Random(70);
        foreach (var (h, w, ph, pw) in new[] { (1, 1, 0, 0), (3, 5, 0, 2), (4, 3, 2, 0), (14, 14, 1, 1), (7, 9, 3, 2), (2, 1, 1, 3) })
        {
            int hp = h + 2 * ph, wp = w + 2 * pw;
            var src = TestUtil.RandomArray(rng, h * w);
            var dst = Enumerable.Repeat(float.NaN, hp * wp + 7).ToArray();
            Kernels_PadPlane(src, dst.AsSpan(0, hp * wp), h, w, ph, pw);
            for (int r = 0; r < hp; r++)
                for (int c = 0; c < wp; c++)
                {
                    int sr = r - ph, sc = c - pw;
                    float expected = sr >= 0 && sr < h && sc >= 0 && sc < w ? src[sr * w + sc] : 0f;
                    Assert.That(dst[r * wp + c], Is.EqualTo(expected), $"h={h} w={w} ph={ph} pw={pw} at ({r}, {c})");
                }
            Assert.That(dst.Skip(hp * wp).All(float.IsNaN), Is.True, $"h={h} w={w} ph={ph} pw={pw}: wrote past the plane");
        }
    }

    private static void Kernels_PadPlane(float[] src, Span<float> dst, int h, int w, int ph, int pw) =>
        ConvEngine.Kernels.Gemm.PaddedIm2Col.PadPlane(src, dst, h, w, ph, pw);

    [Test]
    public void GemmIm2ColEqualsIm2ColThenGemm([Values(1, 2)] int threads)
    {
        var dev = new CpuDevice(threads);
        var rng = new Random(40 + threads);
        foreach (var (g, images, rowOffset, k) in Cases(41, 60))
        {
            int n = 5, first = n - images, m = rng.Next(1, 40), cols = images * g.ColCols;
            var x = TestUtil.RandomArray(rng, n * g.Channels * g.Height * g.Width);
            var a = TestUtil.RandomArray(rng, m * k);
            var c0 = TestUtil.RandomArray(rng, m * cols);
            var expected = ExplicitForward(ReferenceCol(x, first, images, g), a, m, k, rowOffset, cols, 0.5f, c0);
            var actual = Tensor.FromArray(dev, c0, c0.Length);
            dev.GemmIm2Col(m, k, Tensor.FromArray(dev, a, a.Length), 0, k, Tensor.FromArray(dev, x, x.Length), first, images, g, rowOffset, 0.5f, actual, 0, cols);
            TestUtil.AssertClose(actual.ToArray(), expected, 1e-4, 1e-5, $"{g} images {images} rows [{rowOffset}, +{k}) m {m}");
        }
    }

    [Test]
    public void GemmIm2ColTEqualsIm2ColThenGemmWithTransposedB([Values(1, 2)] int threads)
    {
        var dev = new CpuDevice(threads);
        var rng = new Random(50 + threads);
        foreach (var (g, images, rowOffset, nRows) in Cases(51, 60))
        {
            int n = 5, first = 1, m = rng.Next(1, 40), cols = images * g.ColCols;
            if (first + images > n) first = n - images;
            var x = TestUtil.RandomArray(rng, n * g.Channels * g.Height * g.Width);
            var a = TestUtil.RandomArray(rng, m * cols);
            var c0 = TestUtil.RandomArray(rng, m * nRows);
            var expected = ExplicitWeightGradient(ReferenceCol(x, first, images, g), a, m, nRows, rowOffset, cols, 1f, c0);
            var actual = Tensor.FromArray(dev, c0, c0.Length);
            dev.GemmIm2ColT(m, nRows, Tensor.FromArray(dev, a, a.Length), 0, cols, Tensor.FromArray(dev, x, x.Length), first, images, g, rowOffset, 1f, actual, 0, nRows);
            TestUtil.AssertClose(actual.ToArray(), expected, 1e-4, 1e-5, $"{g} images {images} rows [{rowOffset}, +{nRows}) m {m}");
        }
    }

    // The explicit forms the implicit GEMMs are checked against, on the reference device (naive loops).

    /// <summary>The im2col matrix of images [first, first + images) of x.</summary>
    private static Tensor ReferenceCol(float[] x, int first, int images, in ConvGeometry g)
    {
        var col = new Tensor(ReferenceDevice.Instance, g.ColRows * images * g.ColCols);
        ReferenceDevice.Instance.Im2ColBatch(Tensor.FromArray(ReferenceDevice.Instance, x, x.Length), first, images, g, col);
        return col;
    }

    /// <summary>a (m x k) · col rows [rowOffset, rowOffset + k) + beta·c0, with cols columns.</summary>
    private static float[] ExplicitForward(Tensor col, float[] a, int m, int k, int rowOffset, int cols, float beta, float[] c0)
    {
        var c = Tensor.FromArray(ReferenceDevice.Instance, c0, c0.Length);
        ReferenceDevice.Instance.Gemm(false, false, m, cols, k, 1f, Tensor.FromArray(ReferenceDevice.Instance, a, a.Length), 0, k,
                                      col, rowOffset * cols, cols, beta, c, 0, cols);
        return c.ToArray();
    }

    /// <summary>a (m x cols) · (col rows [rowOffset, rowOffset + n))ᵀ + beta·c0: the weight-gradient form.</summary>
    private static float[] ExplicitWeightGradient(Tensor col, float[] a, int m, int n, int rowOffset, int cols, float beta, float[] c0)
    {
        var c = Tensor.FromArray(ReferenceDevice.Instance, c0, c0.Length);
        ReferenceDevice.Instance.Gemm(false, true, m, n, cols, 1f, Tensor.FromArray(ReferenceDevice.Instance, a, a.Length), 0, cols,
                                      col, rowOffset * cols, cols, beta, c, 0, n);
        return c.ToArray();
    }
}
