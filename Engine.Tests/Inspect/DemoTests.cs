using ConvEngine.Inspect;
using NUnit.Framework;

namespace ConvEngine.Tests.InspectTests;

public class DemoTests
{
    [Test]
    public void BinaryEdgeIsOneExactlyAtTheBoundary()
    {
        var d = Demos.Edges(4, 10);
        Assert.That(d.Kernel.ToArray(), Is.EqualTo(new[] { 1f, -1f }));
        Assert.That(d.Output.Shape, Is.EqualTo(new[] { 1, 1, 4, 9 }));
        var o = d.Output.ToArray();
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 9; x++)
                Assert.That(o[y * 9 + x], Is.EqualTo(x == 5 ? 1f : 0f), $"({y}, {x})");
        Assert.That(d.Describe(), Does.Contain("-1").And.Contain("output [1, 1, 4, 9]"));
    }

    [Test]
    public void RgbEdgeSumsThreeChannelsAndIsZeroOnFlatAndLinearRegions()
    {
        var d = Demos.RgbEdges(16);
        Assert.That(d.Kernel.Shape, Is.EqualTo(new[] { 1, 3, 3, 3 }));
        var x = d.Input.ToArray();
        var o = d.Output.ToArray();
        Assert.That(d.Output.Shape, Is.EqualTo(new[] { 1, 1, 14, 14 }));
        // Direct formula at every output: Σ_c (8·centre − Σ neighbours)/8.
        for (int y = 0; y < 14; y++)
            for (int xx = 0; xx < 14; xx++)
            {
                double s = 0;
                for (int c = 0; c < 3; c++)
                    for (int dy = 0; dy < 3; dy++)
                        for (int dx = 0; dx < 3; dx++)
                        {
                            double v = x[c * 256 + (y + dy) * 16 + xx + dx];
                            s += (dy == 1 && dx == 1 ? 8 : -1) * v / 8;
                        }
                Assert.That(o[y * 14 + xx], Is.EqualTo(s).Within(1e-5));
            }
        Assert.That(Math.Abs(o[0]), Is.LessThan(1e-5), "background corner: flat red/blue, linear green");
        Assert.That(o.Max(Math.Abs), Is.GreaterThan(0.2), "the square's border");
        Assert.That(o.Count(v => Math.Abs(v) > 1e-4), Is.LessThan(o.Length / 2), "most of the picture is flat");
    }

    [Test]
    public void BlurIsTheWindowMean()
    {
        var d = Demos.Blur(3);
        var x = d.Input.ToArray();
        var o = d.Output.ToArray();
        Assert.That(d.Output.Shape, Is.EqualTo(new[] { 1, 1, 26, 26 }));
        foreach (var (y, xx) in new[] { (0, 0), (10, 13), (25, 25) })
        {
            double s = 0;
            for (int dy = 0; dy < 3; dy++) for (int dx = 0; dx < 3; dx++) s += x[(y + dy) * 28 + xx + dx];
            Assert.That(o[y * 26 + xx], Is.EqualTo(s / 9).Within(1e-5));
        }
        // Blurring lowers the pixel-to-pixel variation (the noise).
        double Rough(float[] a, int w) { double r = 0; for (int i = 0; i + 1 < a.Length; i++) if ((i + 1) % w != 0) r += Math.Abs(a[i + 1] - a[i]); return r / a.Length; }
        Assert.That(Rough(o, 26), Is.LessThan(Rough(x, 28) * 0.7));
    }

    [Test]
    public void DemosByNameAndPictures()
    {
        foreach (var name in Demos.Names) Assert.That(Demos.Run(name).Name, Is.EqualTo(name));
        var ex = Assert.Throws<ArgumentException>(() => Demos.Run("sharpen"));
        Assert.That(ex!.Message, Does.Contain("blur"));
        var dir = Path.Combine(Path.GetTempPath(), "convengine-demo-" + Guid.NewGuid().ToString("N"));
        try
        {
            var paths = Demos.RgbEdges().SavePictures(dir, scale: 2);
            var input = TinyPng.Decode(File.ReadAllBytes(paths[0]));
            Assert.That((input.Width, input.Height, input.Channels), Is.EqualTo((32, 32, 3)));
            Assert.That(input.Pixels[0], Is.EqualTo((byte)Math.Round(0.9f * 255.0, MidpointRounding.AwayFromZero)), "red 0.9 in the corner, v·255 rounded");
            var output = TinyPng.Decode(File.ReadAllBytes(paths[1]));
            Assert.That((output.Width, output.Height, output.Channels), Is.EqualTo((28, 28, 3)), "signed output in diverging colours");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
