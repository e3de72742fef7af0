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
            var col = new Tensor(ReferenceDevice.Instance, g.ColRows * cols);
            ReferenceDevice.Instance.Im2ColBatch(Tensor.FromArray(ReferenceDevice.Instance, x, x.Length), first, images, g, col);
            var expected = Tensor.FromArray(ReferenceDevice.Instance, c0, c0.Length);
            ReferenceDevice.Instance.Gemm(false, false, m, cols, k, 1f, Tensor.FromArray(ReferenceDevice.Instance, a, a.Length), 0, k,
                                          col, rowOffset * cols, cols, 0.5f, expected, 0, cols);
            var actual = Tensor.FromArray(dev, c0, c0.Length);
            dev.GemmIm2Col(m, k, Tensor.FromArray(dev, a, a.Length), 0, k, Tensor.FromArray(dev, x, x.Length), first, images, g, rowOffset, 0.5f, actual, 0, cols);
            TestUtil.AssertClose(actual.ToArray(), expected.ToArray(), 1e-4, 1e-5, $"{g} images {images} rows [{rowOffset}, +{k}) m {m}");
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
            var col = new Tensor(ReferenceDevice.Instance, g.ColRows * cols);
            ReferenceDevice.Instance.Im2ColBatch(Tensor.FromArray(ReferenceDevice.Instance, x, x.Length), first, images, g, col);
            var expected = Tensor.FromArray(ReferenceDevice.Instance, c0, c0.Length);
            ReferenceDevice.Instance.Gemm(false, true, m, nRows, cols, 1f, Tensor.FromArray(ReferenceDevice.Instance, a, a.Length), 0, cols,
                                          col, rowOffset * cols, cols, 1f, expected, 0, nRows);
            var actual = Tensor.FromArray(dev, c0, c0.Length);
            dev.GemmIm2ColT(m, nRows, Tensor.FromArray(dev, a, a.Length), 0, cols, Tensor.FromArray(dev, x, x.Length), first, images, g, rowOffset, 1f, actual, 0, nRows);
            TestUtil.AssertClose(actual.ToArray(), expected.ToArray(), 1e-4, 1e-5, $"{g} images {images} rows [{rowOffset}, +{nRows}) m {m}");
        }
    }
}
