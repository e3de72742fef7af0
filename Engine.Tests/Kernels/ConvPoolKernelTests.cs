using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// CpuDevice's im2col, col2im, padding and pooling kernels against the naive ReferenceDevice on random geometries.
/// The fast kernels promise bitwise the naive results (same values moved, same additions in the same order), so the
/// comparisons are exact. Both the default device and a 3-thread device run, and every fourth geometry is large enough
/// to take the threaded path.
/// </summary>
[Category("Simd")]
public class ConvPoolKernelTests
{
    private const int Cases = 32;
    private static readonly IDevice Ref = ReferenceDevice.Instance;
    private static IEnumerable<CpuDevice> Devices() => [CpuDevice.Default, new CpuDevice(3)];

    private static void AssertBitwise(float[] actual, float[] expected, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
        {
            bool same = BitConverter.SingleToInt32Bits(actual[i]) == BitConverter.SingleToInt32Bits(expected[i])
                        || (float.IsNaN(actual[i]) && float.IsNaN(expected[i]));
            if (!same) Assert.Fail($"{what}: index {i} of {actual.Length}: actual {actual[i]:G9}, expected {expected[i]:G9}");
        }
    }


    /// <summary>A random convolution geometry whose (dilated) kernel fits the padded input; large ones take the threaded path.</summary>
    private static ConvGeometry RandomConv(Random rng, bool large)
    {
        while (true)
        {
            int c = large ? rng.Next(6, 13) : rng.Next(1, 5);
            int h = large ? rng.Next(18, 40) : rng.Next(1, 14), w = large ? rng.Next(18, 40) : rng.Next(1, 14);
            int kh = rng.Next(1, 6), kw = rng.Next(1, 6);
            int sh = rng.Next(1, 4), sw = rng.Next(1, 4), ph = rng.Next(0, 4), pw = rng.Next(0, 4), dh = rng.Next(1, 4), dw = rng.Next(1, 4);
            if (dh * (kh - 1) + 1 > h + 2 * ph || dw * (kw - 1) + 1 > w + 2 * pw) continue;
            return new ConvGeometry(c, h, w, kh, kw, sh, sw, ph, pw, dh, dw);
        }
    }

    [Test]
    public void Im2ColAndCol2ImMatchReference()
    {
        var rng = new Random(101);
        bool sawStride1 = false, sawStrided = false;
        for (int t = 0; t < Cases; t++)
        {
            var g = RandomConv(rng, large: t % 4 == 3);
            sawStride1 |= g.StrideW == 1; sawStrided |= g.StrideW > 1;
            int n = rng.Next(1, 4), image = rng.Next(n);
            int[] xShape = [n, g.Channels, g.Height, g.Width];
            var xData = TestUtil.RandomArray(rng, n * g.Channels * g.Height * g.Width);
            var colData = TestUtil.RandomArray(rng, g.ColRows * g.ColCols);
            var dxStart = TestUtil.RandomArray(rng, xData.Length); // col2im accumulates: start from non-zero values
            string what = $"case {t}: {g}, image {image} of {n}";

            var xr = Tensor.FromArray(Ref, xData, xShape);
            var colR = new Tensor(Ref, g.ColRows, g.ColCols);
            Ref.Fill(colR, float.NaN);
            Ref.Im2Col(xr, image, g, colR);
            var dxR = Tensor.FromArray(Ref, dxStart, xShape);
            Ref.Col2Im(Tensor.FromArray(Ref, colData, g.ColRows, g.ColCols), g, dxR, image);

            foreach (var dev in Devices())
            {
                var col = new Tensor(dev, g.ColRows, g.ColCols);
                dev.Fill(col, float.NaN); // every cell must be written, padding cells included
                dev.Im2Col(Tensor.FromArray(dev, xData, xShape), image, g, col);
                AssertBitwise(col.ToArray(), colR.ToArray(), $"im2col on {dev.Name}, {what}");

                var dx = Tensor.FromArray(dev, dxStart, xShape);
                dev.Col2Im(Tensor.FromArray(dev, colData, g.ColRows, g.ColCols), g, dx, image);
                AssertBitwise(dx.ToArray(), dxR.ToArray(), $"col2im on {dev.Name}, {what}");
            }
        }
        Assert.That(sawStride1 && sawStrided, Is.True, "the random geometries cover unit and larger strides");
    }

    [Test]
    public void StrideTwoCol2ImPairsMatchTheReferenceBitForBit()
    {
        // Column stride 2, dilation 1: the CPU adds taps kw and kw + 1 as interleaved vectors of 16 columns where both are
        // valid, each tap's edges one value at a time. Widths give 0 to 3 whole vectors with every kind of remainder,
        // kernels of odd and even width (the last tap alone), padding from none to past the kernel's reach.
        var rng = new Random(211);
        int cases = 0;
        foreach (int kw in new[] { 2, 3, 4, 7 })
            foreach (int pw in new[] { 0, 1, 3, kw })
                foreach (int w in new[] { 3, 17, 33, 40, 71, 100 })
                {
                    if (kw > w + 2 * pw) continue;
                    int kh = rng.Next(1, 4), h = rng.Next(kh, kh + 5), ph = rng.Next(0, 2), sh = rng.Next(1, 3);
                    var g = new ConvGeometry(2, h, w, kh, kw, sh, 2, ph, pw, 1, 1);
                    int n = 2, image = 1;
                    int[] xShape = [n, g.Channels, g.Height, g.Width];
                    var colData = TestUtil.RandomArray(rng, g.ColRows * g.ColCols);
                    var dxStart = TestUtil.RandomArray(rng, n * g.Channels * h * w);
                    var dxR = Tensor.FromArray(Ref, dxStart, xShape);
                    Ref.Col2Im(Tensor.FromArray(Ref, colData, g.ColRows, g.ColCols), g, dxR, image);
                    foreach (var dev in Devices())
                    {
                        var dx = Tensor.FromArray(dev, dxStart, xShape);
                        dev.Col2Im(Tensor.FromArray(dev, colData, g.ColRows, g.ColCols), g, dx, image);
                        AssertBitwise(dx.ToArray(), dxR.ToArray(), $"col2im on {dev.Name}, {g}");
                    }
                    cases++;
                }
        Assert.That(cases, Is.GreaterThan(80), "geometries run");
    }

    [Test]
    public void DisjointCol2ImOverwritesWhatFillAndCol2ImGive()
    {
        // 1x1 kernels (taps never overlap): Col2ImDisjoint overwrites the images' planes, zeros included, in one pass. It must
        // equal clearing them and accumulating with the reference col2im, and leave the other images alone. Strides 1..3,
        // padding 0..2 (hit columns starting at 0 or 1), odd and even widths, widths past 32 + 16 columns (every vector step).
        var rng = new Random(303);
        bool sawPairs = false, sawOther = false;
        for (int t = 0; t < Cases; t++)
        {
            bool large = t % 4 == 3;
            int s = 1 + t % 3, p = rng.Next(0, 3);
            int c = large ? rng.Next(6, 12) : rng.Next(1, 4), h = rng.Next(1, large ? 60 : 12), w = rng.Next(1, large ? 90 : 12);
            var g = new ConvGeometry(c, h, w, 1, 1, s, s, p, p, 1, 1);
            sawPairs |= s == 2 && p % 2 == 0 && w >= 48; sawOther |= s != 2;
            int n = rng.Next(2, 5), first = rng.Next(0, n - 1), images = rng.Next(1, n - first + 1);
            int[] xShape = [n, c, h, w];
            var colData = TestUtil.RandomArray(rng, g.ColRows * g.ColCols * images);
            var before = TestUtil.RandomArray(rng, n * c * h * w);
            int per = c * h * w;
            var expected = (float[])before.Clone();
            Array.Clear(expected, first * per, images * per);
            var dxR = Tensor.FromArray(Ref, expected, xShape);
            Ref.Col2ImBatch(Tensor.FromArray(Ref, colData, colData.Length), g, dxR, first, images);
            foreach (var dev in Devices())
            {
                var dx = Tensor.FromArray(dev, before, xShape);
                dev.Col2ImDisjoint(Tensor.FromArray(dev, colData, colData.Length), g, dx, first, images);
                AssertBitwise(dx.ToArray(), dxR.ToArray(), $"case {t}: {g}, images {first}..{first + images - 1} of {n} on {dev.Name}");
            }
        }
        Assert.That(sawPairs && sawOther, Is.True, "the cases cover the stride-2 vector path and the others");
        var d = new CpuDevice(1);
        var three = new ConvGeometry(2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1);
        Assert.That(() => d.Col2ImDisjoint(new Tensor(d, three.ColRows * three.ColCols), three, new Tensor(d, 1, 2, 5, 5), 0, 1),
                    Throws.ArgumentException.With.Property("ParamName").EqualTo("g").And.Message.Contains("3x3"));
    }

    [Test]
    public void Pad2dAndBackwardMatchReference([Values] PaddingMode mode)
    {
        var rng = new Random(202 + (int)mode);
        for (int t = 0; t < Cases; t++)
        {
            bool large = t % 4 == 3;
            int n = rng.Next(1, 4), c = large ? rng.Next(8, 17) : rng.Next(1, 4);
            int h = large ? rng.Next(20, 40) : rng.Next(1, 12), w = large ? rng.Next(20, 40) : rng.Next(1, 12);
            int Amount(int size) => mode == PaddingMode.Reflect ? rng.Next(0, Math.Min(4, size)) : rng.Next(0, 5);
            var pad = new Padding2d(Amount(h), Amount(h), Amount(w), Amount(w));
            int[] xShape = [n, c, h, w], yShape = [n, c, h + pad.Top + pad.Bottom, w + pad.Left + pad.Right];
            var xData = TestUtil.RandomArray(rng, n * c * h * w);
            var dyData = TestUtil.RandomArray(rng, yShape.Aggregate(1, (a, b) => a * b));
            string what = $"case {t}: {mode} {pad} on {ShapeText(xShape)}";

            var yR = new Tensor(Ref, yShape);
            Ref.Pad2d(Tensor.FromArray(Ref, xData, xShape), mode, pad, yR);
            var dxR = new Tensor(Ref, xShape);
            Ref.Pad2dBackward(Tensor.FromArray(Ref, dyData, yShape), mode, pad, dxR);

            foreach (var dev in Devices())
            {
                var y = new Tensor(dev, yShape);
                dev.Fill(y, float.NaN);
                dev.Pad2d(Tensor.FromArray(dev, xData, xShape), mode, pad, y);
                AssertBitwise(y.ToArray(), yR.ToArray(), $"pad on {dev.Name}, {what}");
                var dx = new Tensor(dev, xShape);
                dev.Fill(dx, float.NaN); // overwritten, not accumulated
                dev.Pad2dBackward(Tensor.FromArray(dev, dyData, yShape), mode, pad, dx);
                AssertBitwise(dx.ToArray(), dxR.ToArray(), $"pad backward on {dev.Name}, {what}");
            }
        }
    }

    /// <summary>A random sliding pooling geometry (padding may exceed half the window: the kernels must still agree).</summary>
    private static PoolGeometry RandomPool(Random rng, bool large, bool countIncludePad)
    {
        while (true)
        {
            int h = large ? rng.Next(20, 45) : rng.Next(1, 14), w = large ? rng.Next(20, 45) : rng.Next(1, 14);
            int kh = rng.Next(1, 5), kw = rng.Next(1, 5), sh = rng.Next(1, 4), sw = rng.Next(1, 4);
            int ph = rng.Next(0, kh / 2 + 1), pw = rng.Next(0, kw / 2 + 1);
            if (kh > h + 2 * ph || kw > w + 2 * pw) continue;
            return new PoolGeometry(h, w, kh, kw, sh, sw, ph, pw, countIncludePad);
        }
    }

    /// <summary>Values from a tiny set (many ties, −0 next to +0), with occasional NaN and −∞, to exercise the first-maximum and NaN rules.</summary>
    private static float[] TieRichData(Random rng, int length)
    {
        var a = new float[length];
        for (int i = 0; i < length; i++)
        {
            int r = rng.Next(100);
            a[i] = r < 2 ? float.NaN : r < 4 ? float.NegativeInfinity : r < 10 ? -0f : rng.Next(-2, 3) * 0.5f; // -0 ties +0
        }
        return a;
    }

    [Test]
    public void MaxPoolForwardAndBackwardMatchReference()
    {
        var rng = new Random(303);
        for (int t = 0; t < Cases; t++)
        {
            var g = RandomPool(rng, large: t % 4 == 3, countIncludePad: true);
            int planes = t % 4 == 3 ? rng.Next(16, 40) : rng.Next(1, 7);
            var xData = t % 2 == 0 ? TieRichData(rng, planes * g.Height * g.Width) : TestUtil.RandomArray(rng, planes * g.Height * g.Width);
            var dyData = TestUtil.RandomArray(rng, planes * g.OutH * g.OutW);
            CheckMaxPool(g, planes, xData, dyData, $"case {t}: {g}, {planes} planes");
        }
    }

    // Max pooling forward and backward on every CPU device, bitwise against the reference device; dX pre-filled with NaN.
    private static void CheckMaxPool(in PoolGeometry g, int planes, float[] xData, float[] dyData, string what)
    {
        int[] xShape = [planes, g.Height, g.Width], yShape = [planes, g.OutH, g.OutW];
        var yR = new Tensor(Ref, yShape);
        Ref.MaxPool2d(Tensor.FromArray(Ref, xData, xShape), g, yR);
        var dxR = new Tensor(Ref, xShape);
        Ref.MaxPool2dBackward(Tensor.FromArray(Ref, xData, xShape), Tensor.FromArray(Ref, dyData, yShape), g, dxR);
        foreach (var dev in Devices())
        {
            var x = Tensor.FromArray(dev, xData, xShape);
            var y = new Tensor(dev, yShape);
            dev.MaxPool2d(x, g, y);
            AssertBitwise(y.ToArray(), yR.ToArray(), $"maxpool on {dev.Name}, {what}");
            var dx = new Tensor(dev, xShape);
            dev.Fill(dx, float.NaN);
            dev.MaxPool2dBackward(x, Tensor.FromArray(dev, dyData, yShape), g, dx);
            AssertBitwise(dx.ToArray(), dxR.ToArray(), $"maxpool backward on {dev.Name}, {what}");
        }
    }

    [Test]
    [Category("Simd")]
    public void MaxPoolStrideTwoMatchesReferenceBitwise()
    {
        // The stride-2 fast path (AVX-512: 16 windows at a time, even columns by permutes, masked loads at the edges, the
        // tie and NaN rules as selects): windows 1x1 to 4x4 (rectangular too) with every padding up to half the window
        // (ResNet's 3x3 with padding 1; LeNet's and VGG's 2x2, whose backward writes dX directly), widths 2..41 (partial
        // vectors, 16- and 32-window boundaries, odd widths leaving a last column outside every 2x2 window), odd and even
        // heights, tie-rich data (NaN, -inf, -0 against +0, repeated halves) and plain random data; dX pre-filled with
        // NaN, so every element must be written.
        var rng = new Random(307);
        (int KH, int KW, int PH, int PW)[] windows = [(2, 2, 0, 0), (3, 3, 1, 1), (3, 3, 0, 0), (1, 1, 0, 0), (2, 3, 1, 0), (4, 4, 2, 2), (3, 2, 1, 1)];
        int t = 0;
        foreach (var (kh, kw, ph, pw) in windows)
            for (int w = Math.Max(2, kw - 2 * pw); w <= 41; w += 1 + t % 3, t++)
            {
                int h = Math.Max(kh - 2 * ph, 1) + t % 6, planes = 1 + t % 3;
                var g = new PoolGeometry(h, w, kh, kw, 2, 2, ph, pw);
                var xData = t % 2 == 0 ? TieRichData(rng, planes * h * w) : TestUtil.RandomArray(rng, planes * h * w);
                var dyData = TestUtil.RandomArray(rng, planes * g.OutH * g.OutW);
                CheckMaxPool(g, planes, xData, dyData, $"{kh}x{kw} pad {ph},{pw} on {h}x{w}, {planes} planes");
            }
        Assert.That(t, Is.GreaterThan(70), "geometries checked");
    }

    [Test]
    public void AvgPoolForwardAndBackwardMatchReference([Values] bool countIncludePad, [Values] bool adaptive)
    {
        var rng = new Random(404 + (countIncludePad ? 1 : 0) + (adaptive ? 2 : 0));
        for (int t = 0; t < Cases; t++)
        {
            bool large = t % 4 == 3;
            PoolGeometry g;
            if (adaptive)
            {
                int h = large ? rng.Next(20, 45) : rng.Next(1, 14), w = large ? rng.Next(20, 45) : rng.Next(1, 14);
                g = PoolGeometry.AdaptiveOf(h, w, rng.Next(1, h + 3), rng.Next(1, w + 3)); // output larger than input too
            }
            else g = RandomPool(rng, large, countIncludePad);
            int planes = large ? rng.Next(16, 40) : rng.Next(1, 7);
            int[] xShape = [planes, g.Height, g.Width], yShape = [planes, g.OutH, g.OutW];
            var xData = TestUtil.RandomArray(rng, planes * g.Height * g.Width);
            var dyData = TestUtil.RandomArray(rng, planes * g.OutH * g.OutW);
            string what = $"case {t}: {g}, {planes} planes";

            var yR = new Tensor(Ref, yShape);
            Ref.AvgPool2d(Tensor.FromArray(Ref, xData, xShape), g, yR);
            var dxR = new Tensor(Ref, xShape);
            Ref.AvgPool2dBackward(Tensor.FromArray(Ref, dyData, yShape), g, dxR);

            foreach (var dev in Devices())
            {
                var y = new Tensor(dev, yShape);
                dev.AvgPool2d(Tensor.FromArray(dev, xData, xShape), g, y);
                AssertBitwise(y.ToArray(), yR.ToArray(), $"avgpool on {dev.Name}, {what}");
                var dx = new Tensor(dev, xShape);
                dev.Fill(dx, float.NaN);
                dev.AvgPool2dBackward(Tensor.FromArray(dev, dyData, yShape), g, dx);
                AssertBitwise(dx.ToArray(), dxR.ToArray(), $"avgpool backward on {dev.Name}, {what}");
            }
        }
    }

    [Test]
    public void Im2ColOfPaddedStride1RowsIsCopyWithZeroBorders()
    {
        // A hand-checkable case: 1 channel 1x4 row [1 2 3 4], kernel 1x3, padding 1: rows are the shifted input with zeros.
        var g = new ConvGeometry(1, 1, 4, 1, 3, 1, 1, 0, 1, 1, 1);
        var col = new Tensor(CpuDevice.Default, g.ColRows, g.ColCols);
        CpuDevice.Default.Im2Col(Tensor.FromArray([1f, 2f, 3f, 4f], 1, 1, 1, 4), 0, g, col);
        Assert.That(col.ToArray(), Is.EqualTo(new[] { 0f, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 0 }));
    }

    [Test]
    public void ShortBuffersAreRejectedBeforeAnyWrite()
    {
        var dev = CpuDevice.Default;
        var g = new ConvGeometry(2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1);
        var x = new Tensor(dev, 1, 2, 5, 5);
        var ex = Assert.Throws<ArgumentException>(() => dev.Im2Col(x, 0, g, new Tensor(dev, g.ColRows, g.ColCols - 1)));
        Assert.That(ex!.ParamName, Is.EqualTo("col"));
        ex = Assert.Throws<ArgumentException>(() => dev.Im2Col(x, 1, g, new Tensor(dev, g.ColRows, g.ColCols)));
        Assert.That(ex!.ParamName, Is.EqualTo("x"), "image 1 of a one-image tensor");
        ex = Assert.Throws<ArgumentException>(() => dev.Col2Im(new Tensor(dev, g.ColRows, g.ColCols), g, new Tensor(dev, 1, 2, 5, 4), 0));
        Assert.That(ex!.ParamName, Is.EqualTo("dX"));
        ex = Assert.Throws<ArgumentException>(() => dev.Pad2d(x, PaddingMode.Zeros, new Padding2d(1, 1, 1, 1), new Tensor(dev, 1, 2, 7, 6)));
        Assert.That(ex!.ParamName, Is.EqualTo("y"));
        var pg = new PoolGeometry(5, 5, 2, 2, 2, 2, 0, 0);
        ex = Assert.Throws<ArgumentException>(() => dev.MaxPool2d(x, pg, new Tensor(dev, 1, 2, 2, 1)));
        Assert.That(ex!.ParamName, Is.EqualTo("y"));
        ex = Assert.Throws<ArgumentException>(() => dev.AvgPool2dBackward(new Tensor(dev, 1, 2, 2, 1), pg, x));
        Assert.That(ex!.ParamName, Is.EqualTo("dY"));
    }

    private static string ShapeText(int[] s) => "[" + string.Join(", ", s) + "]";
}
