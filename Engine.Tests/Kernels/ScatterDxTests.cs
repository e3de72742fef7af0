using ConvEngine.Kernels.Conv;
using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The scatter-form input gradient (Kernels/Conv/ScatterDx.cs) against its naive twin (NaiveConv.Conv2dInputGradient,
/// summed in double), the same bits on any thread count, only its images written, and where Conv2d takes it.
/// </summary>
public class ScatterDxTests
{
    // (images, C, H, W, Cout, KH, KW, pH, pW): LeNet's two convolutions; 3x3 "same"; KW 6 and 7 (two groups of five taps,
    // the second mostly zero weights); KW 1 with KH 4; rows wider than a 48-column tile; padding past K − 1; one output
    // channel; a 1x1 kernel with many outputs; one image with nine channels (split into channel blocks over the threads);
    // a plane of one row.
    private static readonly (int N, int C, int H, int W, int Co, int KH, int KW, int PH, int PW)[] Shapes =
    [
        (2, 6, 14, 14, 16, 5, 5, 0, 0), (3, 1, 28, 28, 6, 5, 5, 2, 2), (2, 4, 9, 11, 5, 3, 3, 1, 1), (2, 3, 12, 13, 4, 7, 7, 0, 3),
        (2, 2, 5, 20, 3, 2, 6, 1, 2), (1, 2, 6, 7, 3, 4, 1, 0, 0), (1, 3, 4, 70, 5, 3, 5, 1, 2), (1, 2, 5, 5, 3, 3, 3, 3, 3),
        (2, 3, 8, 8, 1, 3, 3, 0, 0), (2, 5, 6, 6, 33, 1, 1, 0, 0), (1, 9, 6, 6, 4, 3, 3, 1, 1), (2, 3, 1, 9, 4, 1, 5, 0, 0),
    ];

    private static void RequireKernel()
    {
        if (!ScatterDx.IsSupported) Assert.Ignore("The scatter-form dX needs AVX-512; this processor (or DOTNET_EnableAVX512=0) has none.");
    }

    [Test]
    public void MatchesTheNaiveScatterInDoubleAndWritesOnlyItsImages()
    {
        RequireKernel();
        var rng = new Random(17);
        foreach (var (n, c, h, w, co, kh, kw, ph, pw) in Shapes)
        {
            var g = new ConvGeometry(c, h, w, kh, kw, 1, 1, ph, pw, 1, 1);
            string what = $"N{n} {c}x{h}x{w} -> {co} k{kh}x{kw} p{ph},{pw}";
            var wt = TestUtil.RandomArray(rng, co * c * kh * kw);
            int dyImage = co * g.OutH * g.OutW, dxImage = c * h * w;
            // One image before and one after the batch, in dY and dX: the kernel reads and writes only images 1..n.
            var dy = TestUtil.RandomArray(rng, (n + 2) * dyImage);
            var expected = NaiveConv.Conv2dInputGradient(dy.AsSpan(dyImage, n * dyImage), n, wt, co, g);
            Assert.That(expected.Any(v => v != 0), Is.True, "the oracle is not trivially zero: " + what);
            TestUtil.AssertBatchKernel((dev, dx) =>
            {
                var dxt = Tensor.FromArray(dev, dx, dx.Length);
                dev.ConvDataGradScatter(Tensor.FromArray(dev, wt, wt.Length), co, Tensor.FromArray(dev, dy, dy.Length), 1, n, g, dxt);
                dxt.ToArray().CopyTo(dx, 0);
            }, n, dxImage, expected, what);
        }
    }

    [Test]
    public void RejectsGeometriesItDoesNotComputeAndShortBuffers()
    {
        RequireKernel();
        var dev = new CpuDevice(1);
        var g = new ConvGeometry(2, 6, 6, 3, 3, 1, 1, 0, 0, 1, 1);
        var w = new Tensor(dev, 3 * 2 * 9);
        var dy = new Tensor(dev, 3 * 4 * 4);
        var dx = new Tensor(dev, 2 * 36);
        var strided = g with { StrideH = 2, OutH = 2 };
        var ex = Assert.Throws<ArgumentException>(() => dev.ConvDataGradScatter(w, 3, dy, 0, 1, strided, dx))!;
        Assert.That(ex.ParamName, Is.EqualTo("g"));
        Assert.That(ex.Message, Does.Contain("stride 1"));
        var dilated = g with { DilationW = 2, OutW = 2 };
        Assert.That(Assert.Throws<ArgumentException>(() => dev.ConvDataGradScatter(w, 3, dy, 0, 1, dilated, dx))!.ParamName, Is.EqualTo("g"));
        ex = Assert.Throws<ArgumentException>(() => dev.ConvDataGradScatter(w, 3, dy, 0, 1, g, new Tensor(dev, 71)))!;
        Assert.That(ex.ParamName, Is.EqualTo("dX"));
        Assert.That(ex.Message, Does.Contain("72"));
        Assert.That(Assert.Throws<ArgumentException>(() => dev.ConvDataGradScatter(w, 3, new Tensor(dev, 47), 0, 1, g, dx))!.ParamName, Is.EqualTo("dY"));
        Assert.That(Assert.Throws<ArgumentException>(() => dev.ConvDataGradScatter(new Tensor(dev, 53), 3, dy, 0, 1, g, dx))!.ParamName, Is.EqualTo("w"));
    }

    [Test]
    public void CostsLessThanTheGatherFormOnValidConvolutionsOnly()
    {
        // LeNet's second convolution: 6 x 5 x 5 x 16 x 144 products plus 90 tiles' overhead, against 8 x 400 x 288 in the
        // gather form over dY padded by 4. A 3x3 "same" layer: the gather form wastes little, the scatter form 2 of 5 taps.
        var lenet = new ConvGeometry(6, 14, 14, 5, 5, 1, 1, 0, 0, 1, 1);
        var lenetT = new ConvGeometry(16, 10, 10, 5, 5, 1, 1, 4, 4, 1, 1);
        Assert.That(ScatterDx.Cost(lenet, 16), Is.EqualTo(90L * (16 * 5 * 48 + ScatterDx.TileOverhead)));
        Assert.That(DirectConv.Cost(lenetT, 6), Is.EqualTo(8L * 400 * 288));
        var same = new ConvGeometry(32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1);
        Assert.That(ScatterDx.Cost(same, 32), Is.GreaterThan(DirectConv.Cost(same with { Channels = 32 }, 32)));
    }
}
