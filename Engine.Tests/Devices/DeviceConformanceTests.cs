using ConvEngine.Gpu;
using ConvEngine.Losses;
using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Devices;

/// <summary>
/// The one conformance suite every backend runs: each IDevice primitive and each layer's forward and backward on the device
/// under test, against the naive loop nests of ReferenceDevice (expected values are computed there), with the same tolerances
/// for every backend. Fixtures: cpu, reference, opencl (Ignore with the reason when no OpenCL platform is installed) and cuda
/// (listed only when a CUDA device opens).
/// </summary>
[TestFixtureSource(nameof(Backends))]
public class DeviceConformanceTests
{
    public static IEnumerable<TestFixtureData> Backends()
    {
        yield return new TestFixtureData("cpu");
        yield return new TestFixtureData("reference");
        yield return new TestFixtureData("opencl");
        if (ConvEngine.Gpu.Devices.CudaAvailable()) yield return new TestFixtureData("cuda");
    }

    private readonly string _kind;
    private IDevice _dev = null!;
    private static readonly IDevice Ref = ReferenceDevice.Instance;

    public DeviceConformanceTests(string kind) => _kind = kind;

    [OneTimeSetUp]
    public void Open()
    {
        try
        {
            _dev = _kind switch
            {
                "cpu" => new CpuDevice(),
                "reference" => ReferenceDevice.Instance,
                // "opencl", "cuda" and indexed specs such as "opencl:1" (the runner on a machine with several devices)
                _ => ConvEngine.Gpu.Devices.Parse(_kind),
            };
        }
        catch (GpuUnavailableException e) { Assert.Ignore(e.Message); }
    }

    [OneTimeTearDown]
    public void Close()
    {
        if (_dev is GpuDevice g) g.Dispose();
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private Tensor On(float[] data, params int[] shape) => Tensor.FromArray(_dev, data, shape);
    private static Tensor OnRef(float[] data, params int[] shape) => Tensor.FromArray(Ref, data, shape);
    private static float[] Rand(Random rng, int n, float lo = -1, float hi = 1) => TestUtil.RandomArray(rng, n, lo, hi);

    /// <summary>Relative rtol per element plus atol times the largest expected magnitude (for values that cancel).</summary>
    private static void Near(Tensor actual, Tensor expected, string what, double rtol = 1e-5, double atol = 1e-5)
    {
        var e = expected.ToArray();
        double scale = Math.Max(1, e.Length == 0 ? 0 : e.Where(v => !float.IsInfinity(v) && !float.IsNaN(v)).DefaultIfEmpty(0).Max(v => Math.Abs((double)v)));
        TestUtil.AssertClose(actual.ToArray(), e, rtol, atol * scale, what);
    }

    // ---- memory ------------------------------------------------------------------------------------------------

    [Test]
    public void CopiesFillAndViewsRoundTrip()
    {
        var rng = new Random(1);
        foreach (int n in new[] { 1, 3, 255, 256, 257, 1000 })
        {
            var data = Rand(rng, n);
            var t = On(data, n);
            Assert.That(t.ToArray(), Is.EqualTo(data), "round trip");
            var part = Rand(rng, n / 2 + 1);
            t.Device.CopyFromHost(part, t.Buffer, n - part.Length);
            var expected = (float[])data.Clone();
            part.CopyTo(expected, n - part.Length);
            Assert.That(t.ToArray(), Is.EqualTo(expected), "copy from host at an offset");
            var back = new float[n / 3];
            _dev.CopyToHost(t.Buffer, n - back.Length, back);
            Assert.That(back, Is.EqualTo(expected[(n - back.Length)..]), "copy to host from an offset");
            var u = new Tensor(_dev, n);
            Assert.That(u.ToArray(), Is.All.EqualTo(0f), "zero-filled allocation");
            _dev.Copy(t.Buffer, 1 % n, u.Buffer, 0, n - 1 % n);
            Assert.That(u.ToArray()[..(n - 1 % n)], Is.EqualTo(expected[(1 % n)..]), "device copy");
            _dev.Fill(u, 2.5f);
            Assert.That(u.ToArray(), Is.All.EqualTo(2.5f), "fill");
            Assert.That(t.Clone().ToArray(), Is.EqualTo(expected), "clone");
            Assert.That(t.Reshape(1, n).ToArray(), Is.EqualTo(expected), "view");
            u.Dispose();
        }
        Assert.That(new Tensor(_dev, 0).ToArray(), Is.Empty);
    }

    // ---- GEMM ----------------------------------------------------------------------------------------------------

    [Test]
    public void GemmMatchesNaive()
    {
        var rng = new Random(2);
        var shapes = new List<(int M, int N, int K)> { (1, 1, 1), (64, 64, 64), (65, 63, 17), (3, 130, 70), (128, 5, 1), (7, 9, 0), (1, 200, 33), (70, 1, 129) };
        while (shapes.Count < 26) shapes.Add((rng.Next(1, 90), rng.Next(1, 90), rng.Next(0, 90)));
        int caseNo = 0;
        foreach (var (m, n, k) in shapes)
        {
            bool ta = (caseNo & 1) != 0, tb = (caseNo & 2) != 0;
            float beta = (caseNo % 3) switch { 0 => 0f, 1 => 1f, _ => -0.5f };
            float alpha = caseNo % 4 == 3 ? 1.5f : 1f;
            int aOff = rng.Next(0, 5), bOff = rng.Next(0, 5), cOff = rng.Next(0, 5);
            int lda = (ta ? m : k) + rng.Next(0, 3), ldb = (tb ? k : n) + rng.Next(0, 3), ldc = n + rng.Next(0, 3);
            var a = Rand(rng, aOff + (ta ? k : m) * Math.Max(lda, 1) + 1);
            var b = Rand(rng, bOff + (tb ? n : k) * Math.Max(ldb, 1) + 1);
            var c = Rand(rng, cOff + m * ldc + 1);
            if (beta == 0) for (int i = 0; i < c.Length; i += 3) c[i] = float.NaN;   // beta == 0 must not read C
            var (ad, bd, cd) = (On(a, a.Length), On(b, b.Length), On(c, c.Length));
            var (ar, br, cr) = (OnRef(a, a.Length), OnRef(b, b.Length), OnRef(c, c.Length));
            _dev.Gemm(ta, tb, m, n, k, alpha, ad, aOff, lda, bd, bOff, ldb, beta, cd, cOff, ldc);
            Ref.Gemm(ta, tb, m, n, k, alpha, ar, aOff, lda, br, bOff, ldb, beta, cr, cOff, ldc);
            Near(cd, cr, $"gemm m={m} n={n} k={k} ta={ta} tb={tb} beta={beta}", 1e-5, 2e-6 * Math.Max(k, 1));
            caseNo++;
        }
    }

    // ---- element-wise ---------------------------------------------------------------------------------------------

    [Test]
    public void UnaryAndBackwardMatchNaive([Values] UnaryOp op)
    {
        var rng = new Random(3 + (int)op);
        foreach (int n in new[] { 1, 7, 256, 1001 })
        {
            var x = op == UnaryOp.RsqrtPlus ? Rand(rng, n, 0.01f, 3f) : Rand(rng, n, -4f, 4f);
            float alpha = op == UnaryOp.RsqrtPlus ? 1e-5f : 0.3f;
            var (xd, xr) = (On(x, n), OnRef(x, n));
            var (yd, yr) = (new Tensor(_dev, n), new Tensor(Ref, n));
            _dev.Unary(op, alpha, xd, yd);
            Ref.Unary(op, alpha, xr, yr);
            Near(yd, yr, $"{op} y", 2e-6, 1e-6);
            var dy = Rand(rng, n);
            var (dxd, dxr) = (new Tensor(_dev, n), new Tensor(Ref, n));
            _dev.UnaryBackward(op, alpha, xd, yr.To(_dev), On(dy, n), dxd);
            Ref.UnaryBackward(op, alpha, xr, yr, OnRef(dy, n), dxr);
            Near(dxd, dxr, $"{op} dX", 2e-6, 1e-6);
            _dev.Unary(op, alpha, xd, xd);   // in place
            Near(xd, yr, $"{op} in place", 2e-6, 1e-6);
        }
    }

    [Test]
    public void AddMultiplyAxpbyMatchNaive()
    {
        var rng = new Random(4);
        foreach (int n in new[] { 1, 2, 255, 257, 3000 })
        {
            var (a, b, y) = (Rand(rng, n), Rand(rng, n), Rand(rng, n));
            var (ad, bd) = (On(a, n), On(b, n));
            var (ar, br) = (OnRef(a, n), OnRef(b, n));
            var (yd, yr) = (new Tensor(_dev, n), new Tensor(Ref, n));
            _dev.Add(ad, bd, yd); Ref.Add(ar, br, yr); Near(yd, yr, "add", 0, 0);
            _dev.Multiply(ad, bd, yd); Ref.Multiply(ar, br, yr); Near(yd, yr, "multiply", 0, 0);
            _dev.Add(ad, bd, ad); Ref.Add(ar, br, ar); Near(ad, ar, "add aliasing a", 0, 0);
            foreach (float beta in new[] { 0f, 1f, -0.25f })
            {
                var y0 = (float[])y.Clone();
                if (beta == 0) y0[0] = float.NaN;
                var (y1, y2) = (On(y0, n), OnRef(y0, n));
                _dev.Axpby(0.75f, bd, beta, y1); Ref.Axpby(0.75f, br, beta, y2);
                Near(y1, y2, $"axpby beta={beta}", 1e-6, 1e-7);
            }
        }
    }

    [Test]
    public void SumAndSumOfSquaresMatchNaive()
    {
        var rng = new Random(5);
        var lengths = new List<int> { 1, 2, 255, 256, 257, 511, 4096, 16383, 16385, 100_003 };
        while (lengths.Count < 20) lengths.Add(rng.Next(1, 50_000));
        foreach (int n in lengths)
        {
            var x = Rand(rng, n, -1f, 3f);
            var (xd, xr) = (On(x, n), OnRef(x, n));
            double abs = x.Sum(v => Math.Abs((double)v)), sq = x.Sum(v => (double)v * v);
            Assert.That(_dev.Sum(xd), Is.EqualTo(Ref.Sum(xr)).Within(1e-9 * abs + 1e-12), $"sum n={n}");
            Assert.That(_dev.SumOfSquares(xd), Is.EqualTo(Ref.SumOfSquares(xr)).Within(1e-9 * sq + 1e-12), $"sum of squares n={n}");
            Assert.That(_dev.Sum(xd), Is.EqualTo(_dev.Sum(xd)), "deterministic");
        }
    }

    // (outer, channels, inner): odd sizes, inner = 1 (features), long rows.
    private static readonly (int Outer, int Channels, int Inner)[] ChannelShapes =
    [
        (1, 1, 2), (2, 1, 1), (2, 3, 1), (5, 7, 1), (64, 33, 1), (3, 2, 3), (2, 4, 7), (4, 3, 8), (3, 5, 9), (2, 6, 15),
        (3, 3, 17), (1, 4, 31), (2, 3, 33), (5, 2, 49), (2, 8, 63), (3, 2, 65), (2, 2, 511), (1, 3, 1030), (8, 16, 196), (700, 17, 5),
    ];

    [Test]
    public void ChannelOpsMatchNaive()
    {
        var rng = new Random(6);
        foreach (var (o, c, i) in ChannelShapes)
        {
            int n = o * c * i;
            var (x, s, y0) = (Rand(rng, n), Rand(rng, c), Rand(rng, n));
            var (yd, yr) = (On(y0, n), OnRef(y0, n));
            _dev.AddChannelBias(yd, On(s, c), o, c, i); Ref.AddChannelBias(yr, OnRef(s, c), o, c, i);
            Near(yd, yr, $"bias {o}x{c}x{i}", 0, 0);
            var (zd, zr) = (new Tensor(_dev, n), new Tensor(Ref, n));
            _dev.ChannelScale(On(x, n), On(s, c), o, c, i, zd); Ref.ChannelScale(OnRef(x, n), OnRef(s, c), o, c, i, zr);
            Near(zd, zr, $"scale {o}x{c}x{i}", 0, 0);
            foreach (bool acc in new[] { false, true })
                foreach (bool withB in new[] { false, true })
                {
                    var (rd, rr) = (On(s, c), OnRef(s, c));
                    _dev.ChannelDot(On(x, n), withB ? On(y0, n) : null, o, c, i, rd, acc);
                    Ref.ChannelDot(OnRef(x, n), withB ? OnRef(y0, n) : null, o, c, i, rr, acc);
                    Near(rd, rr, $"dot {o}x{c}x{i} acc={acc} b={withB}", 1e-5, 1e-6);
                }
        }
    }

    // ---- convolution helpers -----------------------------------------------------------------------------------------

    private static List<ConvGeometry> ConvGeometries(Random rng, int count)
    {
        var list = new List<ConvGeometry> { new(1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1), new(3, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1), new(2, 7, 9, 3, 2, 2, 3, 1, 0, 2, 1) };
        while (list.Count < count)
        {
            int c = rng.Next(1, 5), h = rng.Next(1, 12), w = rng.Next(1, 12), kh = rng.Next(1, 5), kw = rng.Next(1, 5);
            int sh = rng.Next(1, 4), sw = rng.Next(1, 4), ph = rng.Next(0, 3), pw = rng.Next(0, 3), dh = rng.Next(1, 3), dw = rng.Next(1, 3);
            if (dh * (kh - 1) + 1 > h + 2 * ph || dw * (kw - 1) + 1 > w + 2 * pw) continue;
            list.Add(new(c, h, w, kh, kw, sh, sw, ph, pw, dh, dw));
        }
        return list;
    }

    [Test]
    public void Im2ColAndCol2ImMatchNaive()
    {
        var rng = new Random(7);
        foreach (var g in ConvGeometries(rng, 24))
        {
            int per = g.Channels * g.Height * g.Width, cells = g.ColRows * g.ColCols;
            var x = Rand(rng, 2 * per);
            var (cd, cr) = (new Tensor(_dev, cells), new Tensor(Ref, cells));
            _dev.Im2Col(On(x, 2, g.Channels, g.Height, g.Width), 1, g, cd);
            Ref.Im2Col(OnRef(x, 2, g.Channels, g.Height, g.Width), 1, g, cr);
            Near(cd, cr, $"im2col {g}", 0, 0);
            var col = Rand(rng, cells);
            var (dd, dr) = (On(x, 2, g.Channels, g.Height, g.Width), OnRef(x, 2, g.Channels, g.Height, g.Width));
            _dev.Col2Im(On(col, cells), g, dd, 1);
            Ref.Col2Im(OnRef(col, cells), g, dr, 1);
            Near(dd, dr, $"col2im {g}", 1e-6, 1e-7);
        }
    }

    [Test]
    public void BatchedIm2ColAndCol2ImMatchNaive()
    {
        var rng = new Random(17);
        foreach (var g in ConvGeometries(rng, 16))
        {
            int per = g.Channels * g.Height * g.Width, n = 5, first = 1, images = 3, cells = g.ColRows * images * g.ColCols;
            var x = Rand(rng, n * per);
            // col starts as NaN so any cell the device fails to write shows up.
            var (cd, cr) = (On(Enumerable.Repeat(float.NaN, cells).ToArray(), cells), new Tensor(Ref, cells));
            _dev.Im2ColBatch(On(x, n, g.Channels, g.Height, g.Width), first, images, g, cd);
            Ref.Im2ColBatch(OnRef(x, n, g.Channels, g.Height, g.Width), first, images, g, cr);
            Near(cd, cr, $"im2col batch {g}", 0, 0);
            // The batch is the per-image im2col laid side by side.
            var one = new Tensor(Ref, g.ColRows * g.ColCols);
            var all = cr.ToArray();
            for (int b = 0; b < images; b++)
            {
                Ref.Im2Col(OnRef(x, n, g.Channels, g.Height, g.Width), first + b, g, one);
                var o = one.ToArray();
                for (int row = 0; row < g.ColRows; row++)
                    for (int j = 0; j < g.ColCols; j++)
                        Assert.That(all[(row * images + b) * g.ColCols + j], Is.EqualTo(o[row * g.ColCols + j]), $"image {b} row {row} col {j} of {g}");
            }
            var col = Rand(rng, cells);
            var (dd, dr) = (On(x, n, g.Channels, g.Height, g.Width), OnRef(x, n, g.Channels, g.Height, g.Width));
            _dev.Col2ImBatch(On(col, cells), g, dd, first, images);
            Ref.Col2ImBatch(OnRef(col, cells), g, dr, first, images);
            Near(dd, dr, $"col2im batch {g}", 1e-6, 1e-7);
            var back = dd.ToArray();
            for (int i = 0; i < per; i++)
            {
                Assert.That(back[i], Is.EqualTo(x[i]), "image 0 is outside the batch and must not change");
                Assert.That(back[4 * per + i], Is.EqualTo(x[4 * per + i]), "image 4 is outside the batch and must not change");
            }
        }
    }

    [Test]
    public void SwapAxesMatchesNaiveAndLeavesTheRestAlone()
    {
        var rng = new Random(18);
        foreach (var (rows, cols, inner) in new[] { (1, 1, 1), (3, 5, 7), (32, 6, 784), (5, 3, 1), (1, 9, 4), (7, 1, 3), (0, 4, 2), (64, 17, 49) })
        {
            int len = rows * cols * inner, xOff = rng.Next(0, 5), yOff = rng.Next(0, 5), spare = 6;
            var x = Rand(rng, xOff + len + spare);
            var y0 = Rand(rng, yOff + len + spare);
            var (yd, yr) = (On(y0, y0.Length), OnRef(y0, y0.Length));
            _dev.SwapAxes(On(x, x.Length), xOff, rows, cols, inner, yd, yOff);
            Ref.SwapAxes(OnRef(x, x.Length), xOff, rows, cols, inner, yr, yOff);
            Near(yd, yr, $"swap {rows}x{cols}x{inner}", 0, 0);
            var got = yd.ToArray();
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    for (int t = 0; t < inner; t++)
                        Assert.That(got[yOff + (j * rows + i) * inner + t], Is.EqualTo(x[xOff + (i * cols + j) * inner + t]));
            for (int i = 0; i < yOff; i++) Assert.That(got[i], Is.EqualTo(y0[i]), "before the block");
            for (int i = yOff + len; i < got.Length; i++) Assert.That(got[i], Is.EqualTo(y0[i]), "after the block");
        }
        var t1 = On(new float[10], 10);
        var ex = Assert.Throws<ArgumentException>(() => _dev.SwapAxes(t1, 0, 2, 3, 1, t1, 3))!;
        Assert.That(ex.Message, Does.Contain("overlap"));
        ex = Assert.Throws<ArgumentException>(() => _dev.SwapAxes(t1, 5, 2, 3, 1, On(new float[10], 10), 0))!;
        Assert.That(ex.ParamName, Is.EqualTo("x"));
    }

    [Test]
    public void Pad2dAndBackwardMatchNaive([Values] PaddingMode mode)
    {
        var rng = new Random(8 + (int)mode);
        for (int t = 0; t < 20; t++)
        {
            int planes = rng.Next(1, 4), h = rng.Next(1, 9), w = rng.Next(1, 9);
            int lim = mode == PaddingMode.Reflect ? 0 : 3;
            var pad = new Padding2d(rng.Next(0, Math.Max(lim, h - 1) + 1), rng.Next(0, Math.Max(lim, h - 1) + 1), rng.Next(0, Math.Max(lim, w - 1) + 1), rng.Next(0, Math.Max(lim, w - 1) + 1));
            if (mode == PaddingMode.Reflect && (pad.Top >= h || pad.Bottom >= h || pad.Left >= w || pad.Right >= w) && (h > 1 || w > 1)) continue;
            int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
            var x = Rand(rng, planes * h * w);
            var (yd, yr) = (new Tensor(_dev, planes, oh, ow), new Tensor(Ref, planes, oh, ow));
            _dev.Pad2d(On(x, planes, h, w), mode, pad, yd);
            Ref.Pad2d(OnRef(x, planes, h, w), mode, pad, yr);
            Near(yd, yr, $"pad {mode} {pad} {h}x{w}", 0, 0);
            var dy = Rand(rng, planes * oh * ow);
            var (dd, dr) = (On(x, planes, h, w), OnRef(x, planes, h, w));   // overwritten
            _dev.Pad2dBackward(On(dy, planes, oh, ow), mode, pad, dd);
            Ref.Pad2dBackward(OnRef(dy, planes, oh, ow), mode, pad, dr);
            Near(dd, dr, $"pad backward {mode} {pad} {h}x{w}", 1e-6, 1e-7);
        }
    }

    // ---- pooling ---------------------------------------------------------------------------------------------------------

    private static List<PoolGeometry> PoolGeometries(Random rng, int count, bool adaptiveToo)
    {
        var list = new List<PoolGeometry> { new(4, 4, 2, 2, 2, 2, 0, 0), new(7, 5, 3, 3, 2, 2, 1, 1, false) };
        if (adaptiveToo) { list.Add(PoolGeometry.AdaptiveOf(7, 5, 3, 2)); list.Add(PoolGeometry.AdaptiveOf(4, 4, 1, 1)); list.Add(PoolGeometry.AdaptiveOf(3, 5, 5, 7)); }
        while (list.Count < count)
        {
            int h = rng.Next(1, 12), w = rng.Next(1, 12), kh = rng.Next(1, 5), kw = rng.Next(1, 5);
            int ph = rng.Next(0, kh / 2 + 1), pw = rng.Next(0, kw / 2 + 1);
            if (kh > h + 2 * ph || kw > w + 2 * pw) continue;
            list.Add(new(h, w, kh, kw, rng.Next(1, 4), rng.Next(1, 4), ph, pw, rng.Next(2) == 0));
            if (adaptiveToo && rng.Next(4) == 0) list.Add(PoolGeometry.AdaptiveOf(h, w, rng.Next(1, h + 2), rng.Next(1, w + 2)));
        }
        return list;
    }

    [Test]
    public void PoolingMatchesNaive()
    {
        var rng = new Random(9);
        foreach (var g in PoolGeometries(rng, 24, adaptiveToo: true))
        {
            int planes = rng.Next(1, 4), n = planes * g.Height * g.Width, outN = planes * g.OutH * g.OutW;
            // Values on a coarse grid so windows contain ties: the first maximum must win on every device.
            var x = Rand(rng, n).Select(v => MathF.Round(v * 3) / 3).ToArray();
            var dy = Rand(rng, outN);
            var (xd, xr) = (On(x, planes, g.Height, g.Width), OnRef(x, planes, g.Height, g.Width));
            if (!g.Adaptive)
            {
                var (yd, yr) = (new Tensor(_dev, outN), new Tensor(Ref, outN));
                _dev.MaxPool2d(xd, g, yd); Ref.MaxPool2d(xr, g, yr);
                Near(yd, yr, $"maxpool {g}", 0, 0);
                var (dd, dr) = (new Tensor(_dev, n), new Tensor(Ref, n));
                _dev.MaxPool2dBackward(xd, On(dy, outN), g, dd); Ref.MaxPool2dBackward(xr, OnRef(dy, outN), g, dr);
                Near(dd, dr, $"maxpool backward {g}", 1e-6, 1e-7);
            }
            var (ad, ar) = (new Tensor(_dev, outN), new Tensor(Ref, outN));
            _dev.AvgPool2d(xd, g, ad); Ref.AvgPool2d(xr, g, ar);
            Near(ad, ar, $"avgpool {g}", 1e-6, 1e-7);
            var (bd, bdr) = (On(x, n), OnRef(x, n));
            _dev.AvgPool2dBackward(On(dy, outN), g, bd); Ref.AvgPool2dBackward(OnRef(dy, outN), g, bdr);
            Near(bd, bdr, $"avgpool backward {g}", 1e-6, 1e-7);
        }
    }

    // ---- batch norm --------------------------------------------------------------------------------------------------------

    [Test]
    public void BatchNormMatchesNaive()
    {
        var rng = new Random(10);
        foreach (var (o, c, i) in ChannelShapes)
        {
            int n = o * c * i;
            var x = Rand(rng, n).Select(v => 3f + 2f * v).ToArray();
            var (xd, xr) = (On(x, o, c, i), OnRef(x, o, c, i));
            var (md, vd, mr, vr) = (new Tensor(_dev, c), new Tensor(_dev, c), new Tensor(Ref, c), new Tensor(Ref, c));
            _dev.BatchNormStatistics(xd, o, c, i, md, vd); Ref.BatchNormStatistics(xr, o, c, i, mr, vr);
            Near(md, mr, "mean"); Near(vd, vr, "variance");
            var inv = vr.ToArray().Select(v => 1f / MathF.Sqrt(v + 1e-5f)).ToArray();
            var (gamma, beta) = (Rand(rng, c, -2, 2), Rand(rng, c));
            var (yd, yr) = (new Tensor(_dev, n), new Tensor(Ref, n));
            _dev.BatchNormForward(xd, mr.To(_dev), On(inv, c), On(gamma, c), On(beta, c), o, c, i, yd);
            Ref.BatchNormForward(xr, mr, OnRef(inv, c), OnRef(gamma, c), OnRef(beta, c), o, c, i, yr);
            Near(yd, yr, $"bn forward {o}x{c}x{i}");
            var dy = Rand(rng, n);
            foreach (bool batch in new[] { true, false })
            {
                var (g0, b0) = (Rand(rng, c), Rand(rng, c));
                var (dxd, dgd, dbd) = (new Tensor(_dev, n), On(g0, c), On(b0, c));
                var (dxr, dgr, dbr) = (new Tensor(Ref, n), OnRef(g0, c), OnRef(b0, c));
                _dev.BatchNormBackward(xd, On(dy, n), mr.To(_dev), On(inv, c), On(gamma, c), o, c, i, batch, dxd, dgd, dbd);
                Ref.BatchNormBackward(xr, OnRef(dy, n), mr, OnRef(inv, c), OnRef(gamma, c), o, c, i, batch, dxr, dgr, dbr);
                Near(dxd, dxr, $"bn dX batch={batch} {o}x{c}x{i}", 1e-4, 1e-5);
                Near(dgd, dgr, $"bn dGamma {o}x{c}x{i}", 1e-5, 1e-5);
                Near(dbd, dbr, $"bn dBeta {o}x{c}x{i}", 1e-5, 1e-5);
            }
        }
    }

    // ---- losses, randomness, optimizers --------------------------------------------------------------------------------------

    [Test]
    public void SoftmaxCrossEntropyMatchesNaive()
    {
        var rng = new Random(11);
        for (int t = 0; t < 20; t++)
        {
            int n = rng.Next(1, 40), k = rng.Next(1, 300);
            float scale = t % 5 == 4 ? 100f : 3f;   // large logits: the row maximum must be subtracted
            var logits = Rand(rng, n * k).Select(v => v * scale).ToArray();
            var labels = Enumerable.Range(0, n).Select(_ => rng.Next(k)).ToArray();
            var (dd, dr) = (new Tensor(_dev, n, k), new Tensor(Ref, n, k));
            double ld = _dev.SoftmaxCrossEntropy(On(logits, n, k), labels, dd);
            double lr = Ref.SoftmaxCrossEntropy(OnRef(logits, n, k), labels, dr);
            Assert.That(ld, Is.EqualTo(lr).Within(1e-6 * Math.Max(1, Math.Abs(lr))), $"loss n={n} k={k}");
            Near(dd, dr, $"dLogits n={n} k={k}", 1e-5, 1e-6);
        }
    }

    [Test]
    public void DropoutMaskEqualsReferenceBitForBit()
    {
        var rng = new Random(12);
        foreach (var (n, p) in new[] { (1, 0.5f), (1000, 0.5f), (4097, 0.1f), (333, 0.9f), (64, 0f), (64, 1f), (20000, 0.3f) })
        {
            ulong seed = (ulong)rng.NextInt64(), stream = (ulong)rng.Next(100);
            var (md, mr) = (new Tensor(_dev, n), new Tensor(Ref, n));
            _dev.DropoutMask(seed, stream, p, 1f / (1 - p + 1e-9f), md);
            Ref.DropoutMask(seed, stream, p, 1f / (1 - p + 1e-9f), mr);
            Assert.That(md.ToArray(), Is.EqualTo(mr.ToArray()), $"mask n={n} p={p}");
        }
    }

    [Test]
    public void SgdAndAdamStepsMatchNaive()
    {
        var rng = new Random(13);
        int n = 1031;
        var (w, g, v) = (Rand(rng, n), Rand(rng, n), Rand(rng, n));
        foreach (var (mom, damp, wd, nest, first) in new[] { (0f, 0f, 0f, false, true), (0.9f, 0f, 0f, false, true), (0.9f, 0.1f, 1e-2f, false, false), (0.9f, 0f, 5e-4f, true, false) })
        {
            var (wd1, wr1) = (On(w, n), OnRef(w, n));
            var (vd, vr) = (On(v, n), OnRef(v, n));
            _dev.SgdStep(wd1, On(g, n), mom == 0 ? null : vd, 0.1f, mom, damp, wd, nest, first);
            Ref.SgdStep(wr1, OnRef(g, n), mom == 0 ? null : vr, 0.1f, mom, damp, wd, nest, first);
            Near(wd1, wr1, $"sgd weight mom={mom} nesterov={nest}", 1e-6, 1e-7);
            Near(vd, vr, $"sgd velocity mom={mom}", 1e-6, 1e-7);
        }
        foreach (bool decoupled in new[] { false, true })
            foreach (int step in new[] { 1, 2, 10 })
            {
                var m = Rand(rng, n, -0.1f, 0.1f); var vv = Rand(rng, n, 0f, 0.01f);
                var (wd1, md, vd) = (On(w, n), On(m, n), On(vv, n));
                var (wr1, mr, vr) = (OnRef(w, n), OnRef(m, n), OnRef(vv, n));
                _dev.AdamStep(wd1, On(g, n), md, vd, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, step);
                Ref.AdamStep(wr1, OnRef(g, n), mr, vr, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, step);
                Near(wd1, wr1, $"adam weight decoupled={decoupled} step={step}", 1e-6, 1e-7);
                Near(md, mr, "adam m", 1e-6, 1e-7);
                Near(vd, vr, "adam v", 1e-6, 1e-7);
            }
    }

    // ---- layers --------------------------------------------------------------------------------------------------------------

    /// <summary>Runs forward and backward of the same layer built on the device under test and on ReferenceDevice; compares y, dX and every gradient.</summary>
    private void SameLayer(Func<IDevice, Module> make, int[] inShape, string what, int seed = 1, bool train = true, double rtol = 1e-4, double atol = 1e-5)
    {
        var rng = new Random(seed);
        var x = Rand(rng, inShape.Aggregate(1, (a, b) => a * b));
        var (ld, lr) = (make(_dev), make(Ref));
        ld.Train(train); lr.Train(train);
        var (yd, yr) = (ld.Forward(On(x, inShape)), lr.Forward(OnRef(x, inShape)));
        Near(yd, yr, $"{what} y", rtol, atol);
        var dy = Rand(rng, yr.Length);
        var (dxd, dxr) = (ld.Backward(On(dy, yr.Shape)), lr.Backward(OnRef(dy, yr.Shape)));
        Near(dxd, dxr, $"{what} dX", rtol, atol);
        foreach (var (pd, pr) in ld.Parameters().Zip(lr.Parameters()))
        {
            Near(pd.Value, pr.Value, $"{what} {pr.Name}", 0, 0);
            Near(pd.Grad, pr.Grad, $"{what} {pr.Name}.grad", rtol, atol);
        }
        foreach (var ((name, bd), (_, br)) in ld.NamedBuffers().Zip(lr.NamedBuffers()))
            Near(bd, br, $"{what} buffer {name}", rtol, atol);
    }

    private static IEnumerable<TestCaseData> ConvCases()
    {
        // (cin, cout, k, stride, pad, dilation, groups, bias, mode, H, W)
        yield return new TestCaseData(3, 4, 3, 1, 1, 1, 1, true, PaddingMode.Zeros, 8, 8).SetName("{m}(plain 3x3)");
        yield return new TestCaseData(4, 6, 3, 2, 1, 1, 2, true, PaddingMode.Zeros, 9, 7).SetName("{m}(groups 2 stride 2)");
        yield return new TestCaseData(4, 4, 3, 1, 2, 2, 4, false, PaddingMode.Zeros, 10, 9).SetName("{m}(depthwise dilation 2)");
        yield return new TestCaseData(2, 3, 3, 1, 1, 1, 1, true, PaddingMode.Reflect, 6, 5).SetName("{m}(reflect)");
        yield return new TestCaseData(2, 3, 5, 1, 2, 1, 1, true, PaddingMode.Replicate, 7, 7).SetName("{m}(replicate 5x5)");
        yield return new TestCaseData(1, 8, 1, 1, 0, 1, 1, true, PaddingMode.Zeros, 5, 6).SetName("{m}(1x1)");
    }

    [TestCaseSource(nameof(ConvCases))]
    public void Conv2dForwardBackward(int cin, int cout, int k, int stride, int pad, int dil, int groups, bool bias, PaddingMode mode, int h, int w) =>
        SameLayer(d => new Conv2d(cin, cout, (k, k), (stride, stride), (pad, pad), (dil, dil), groups, bias, mode, d, seed: 5),
            [2, cin, h, w], "conv2d", rtol: 1e-4, atol: 2e-5);

    [Test]
    public void PoolLayersForwardBackward()
    {
        SameLayer(_ => new MaxPool2d(3, 2, 1), [2, 3, 9, 8], "maxpool");
        SameLayer(_ => new AvgPool2d(3, 2, 1, countIncludePad: false), [2, 3, 9, 8], "avgpool");
        SameLayer(_ => new AdaptiveAvgPool2d(3, 2), [2, 3, 7, 5], "adaptive avgpool");
    }

    [Test]
    public void ActivationLayersForwardBackward()
    {
        SameLayer(_ => new ReLU(), [3, 50], "relu");
        SameLayer(_ => new LeakyReLU(0.1f), [3, 50], "leaky relu");
        SameLayer(_ => new ELU(0.7f), [3, 50], "elu");
        SameLayer(_ => new Sigmoid(), [3, 50], "sigmoid");
        SameLayer(_ => new Tanh(), [3, 50], "tanh");
    }

    [Test]
    public void BatchNorm2dTrainAndEval()
    {
        SameLayer(d => new BatchNorm2d(5, device: d), [4, 5, 6, 7], "batchnorm train", train: true);
        SameLayer(d => new BatchNorm2d(5, device: d), [4, 5, 6, 7], "batchnorm eval", train: false);
    }

    [Test]
    public void LinearForwardBackward()
    {
        SameLayer(d => new Linear(37, 11, true, d, seed: 3), [5, 37], "linear");
        SameLayer(d => new Linear(64, 130, false, d, seed: 4), [3, 64], "linear no bias");
    }

    [Test]
    public void DropoutMasksAgreeWithReference()
    {
        SameLayer(_ => new Dropout(0.4f, seed: 77), [4, 300], "dropout train", train: true, rtol: 0, atol: 0);
        SameLayer(_ => new Dropout(0.4f, DropoutMode.DowngradeInInfer, seed: 77), [4, 300], "dropout eval", train: false, rtol: 0, atol: 0);
    }

    [Test]
    public void WholeModelsForwardBackward()
    {
        SameLayer(d => new ConvEngine.Models.LeNet5(device: d, seed: 1), [3, 1, 28, 28], "lenet5", rtol: 1e-4, atol: 2e-5);
        SameLayer(d => new ConvEngine.Models.ResNetSmall(width: 8, device: d, seed: 2), [2, 1, 16, 16], "resnet-small", rtol: 1e-3, atol: 1e-4);
    }

    [Test]
    public void LossesMatchReference()
    {
        var rng = new Random(14);
        var logits = Rand(rng, 8 * 10, -5, 5);
        var labels = Enumerable.Range(0, 8).Select(_ => rng.Next(10)).ToArray();
        var (sd, sr) = (new SoftmaxCrossEntropy().Compute(On(logits, 8, 10), labels), new SoftmaxCrossEntropy().Compute(OnRef(logits, 8, 10), labels));
        Assert.That(sd.Loss, Is.EqualTo(sr.Loss).Within(1e-6 * Math.Abs(sr.Loss)));
        Near(sd.Gradient, sr.Gradient, "cross-entropy gradient", 1e-5, 1e-6);
        var target = Rand(rng, 8 * 10);
        foreach (var red in new[] { Reduction.Mean, Reduction.Sum })
        {
            var (md, mr) = (new MseLoss(red).Compute(On(logits, 8, 10), On(target, 8, 10)), new MseLoss(red).Compute(OnRef(logits, 8, 10), OnRef(target, 8, 10)));
            Assert.That(md.Loss, Is.EqualTo(mr.Loss).Within(1e-6 * Math.Abs(mr.Loss)), $"mse {red}");
            Near(md.Gradient, mr.Gradient, $"mse gradient {red}", 1e-5, 1e-6);
        }
    }

    [Test]
    public void OptimizersMatchReference()
    {
        foreach (var kind in new[] { "sgd", "nesterov", "adam", "adamw" })
        {
            var (ld, lr) = (new Linear(20, 7, true, _dev, seed: 9), new Linear(20, 7, true, Ref, seed: 9));
            Optimizer Make(Linear l) => kind switch
            {
                "sgd" => new Sgd(l.Parameters(), 0.1f, momentum: 0.9f, weightDecay: 1e-3f, dampening: 0.1f),
                "nesterov" => new Sgd(l.Parameters(), 0.05f, momentum: 0.9f, nesterov: true),
                "adam" => new Adam(l.Parameters(), 1e-2f, weightDecay: 1e-3f),
                _ => new AdamW(l.Parameters(), 1e-2f),
            };
            var (od, or) = (Make(ld), Make(lr));
            var rng = new Random(15);
            for (int step = 0; step < 3; step++)
            {
                var x = Rand(rng, 6 * 20); var dy = Rand(rng, 6 * 7);
                od.ZeroGrad(); or.ZeroGrad();
                ld.Forward(On(x, 6, 20)); lr.Forward(OnRef(x, 6, 20));
                ld.Backward(On(dy, 6, 7)); lr.Backward(OnRef(dy, 6, 7));
                od.Step(); or.Step();
            }
            foreach (var (pd, pr) in ld.Parameters().Zip(lr.Parameters()))
                Near(pd.Value, pr.Value, $"{kind} {pr.Name}", 1e-5, 1e-6);
        }
    }
}
