using System.Xml.Linq;
using ConvEngine.Data;
using ConvEngine.Inspect;
using ConvEngine.Models;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.InspectTests;

public class RenderTests
{
    [Test]
    public void ColorMapsFollowTheDocumentedFormulas()
    {
        Assert.That(ColorMap.Gray([-1f, 0f, 1f]), Is.EqualTo(new byte[] { 0, 128, 255 }));
        Assert.That(ColorMap.Gray([0.5f, 0.5f]), Is.EqualTo(new byte[] { 0, 0 }), "constant maps are black");
        Assert.That(ColorMap.Gray([2f], 0f, 4f), Is.EqualTo(new byte[] { 128 }));
        var d = ColorMap.Diverging([-2f, 0f, 1f, 2f]);
        Assert.That(d, Is.EqualTo(new byte[] { 0, 0, 255, 255, 255, 255, 255, 128, 128, 255, 0, 0 }));
    }

    [Test]
    public void FilterGridLaysOutEveryKernelWithOneScale()
    {
        var conv = new Conv2d(2, 3, 3, seed: 1);
        var w = conv.Weight.Value.ToArray();
        int arg = Array.IndexOf(w, w.MaxBy(MathF.Abs));
        var pic = FilterGrid.Render(conv, scale: 4);
        // 3 rows (filters) × 2 columns (input channels) of 12x12 tiles with 1-pixel gaps.
        Assert.That((pic.Width, pic.Height, pic.Channels), Is.EqualTo((1 + 2 * 13, 1 + 3 * 13, 3)));
        int o = arg / 18, i = arg / 9 % 2, ky = arg / 3 % 3, kx = arg % 3;
        int px = 1 + i * 13 + kx * 4 + 2, py = 1 + o * 13 + ky * 4 + 2;
        var expected = w[arg] > 0 ? new byte[] { 255, 0, 0 } : new byte[] { 0, 0, 255 };
        Assert.That(new[] { pic[px, py, 0], pic[px, py, 1], pic[px, py, 2] }, Is.EqualTo(expected), "the largest |w| is fully saturated");
        Assert.That(pic[0, 0, 0], Is.EqualTo(128), "gap colour");
        var png = TinyPng.Decode(pic.ToPng());
        Assert.That(png.Pixels, Is.EqualTo(pic.Pixels.ToArray()));
        var rgb = FilterGrid.RenderRgb(new Conv2d(3, 4, 5, seed: 2), scale: 2, columns: 2);
        Assert.That((rgb.Width, rgb.Height), Is.EqualTo((1 + 2 * 11, 1 + 2 * 11)));
        Assert.Throws<ArgumentException>(() => FilterGrid.RenderRgb(conv));
    }

    [Test]
    public void FeatureMapsShowEachChannelNormalisedOnItsOwn()
    {
        var model = new LeNet5(5, seed: 2);
        var x = Shapes.Generate(2, seed: 3).ImagesTensor();
        var maps = FeatureMaps.Capture(model, x);
        Assert.That(maps.Keys, Does.Contain("conv1").And.Contain("pool2").And.Contain(""));
        var act = maps["act1"];
        var pic = FeatureMaps.Render(model, x, "act1", index: 1, scale: 1);
        // 6 channels → 3 per row, 2 rows of 28x28.
        Assert.That((pic.Width, pic.Height, pic.Channels), Is.EqualTo((1 + 3 * 29, 1 + 2 * 29, 1)));
        // Channel 4 of image 1: its maximum is white and its minimum black.
        var plane = act.Data.Slice((1 * 6 + 4) * 784, 784).ToArray();
        int argMax = Array.IndexOf(plane, plane.Max()), argMin = Array.IndexOf(plane, plane.Min());
        int ox = 1 + 1 * 29, oy = 1 + 1 * 29;
        Assert.That(pic[ox + argMax % 28, oy + argMax / 28], Is.EqualTo(255));
        Assert.That(pic[ox + argMin % 28, oy + argMin / 28], Is.EqualTo(0));
        var ex = Assert.Throws<ArgumentException>(() => FeatureMaps.Render(model, x, "nope"));
        Assert.That(ex!.Message, Does.Contain("conv1"));
    }

    [Test]
    public void SaliencyIsTheInputGradientOfTheClassScoreAndLeavesTheModelAlone()
    {
        var model = new LeNet5(5, seed: 2);
        var x = Shapes.Generate(2, seed: 4).ImagesTensor();
        var gradsBefore = model.Parameters().Select(p => p.Grad.ToArray()).ToList();
        var g = Saliency.Gradient(model, x, index: 1, target: 2);
        Assert.That(g.Shape, Is.EqualTo(new[] { 1, 28, 28 }));
        // Finite difference at the pixel with the largest |gradient|.
        var gd = g.ToArray();
        int k = Array.IndexOf(gd, gd.MaxBy(MathF.Abs));
        var img = x.ToArray().AsSpan(784, 784).ToArray();
        float Score(float delta)
        {
            var copy = (float[])img.Clone();
            copy[k] += delta;
            model.Eval();
            var s = model.Forward(Tensor.FromArray(copy, 1, 1, 28, 28)).ToArray()[2];
            model.Train();
            return s;
        }
        double numeric = (Score(1e-2f) - Score(-1e-2f)) / 2e-2;
        Assert.That(gd[k], Is.EqualTo(numeric).Within(2e-2 * Math.Abs(numeric) + 1e-4));
        for (int i = 0; i < gradsBefore.Count; i++)
            Assert.That(model.Parameters().ElementAt(i).Grad.ToArray(), Is.EqualTo(gradsBefore[i]), "parameter gradients restored");
        Assert.That(model.IsTraining);
        var pic = Saliency.Render(model, x, 1, 2, scale: 1);
        Assert.That(pic[k % 28, k / 28], Is.EqualTo(255));
    }

    [Test]
    public void FilterGridCanShowTheFirstFiltersOnly()
    {
        var conv = new Conv2d(16, 64, 3, seed: 1);
        var pic = FilterGrid.Render(conv, scale: 2, maxFilters: 4, maxInputs: 3);
        Assert.That((pic.Width, pic.Height), Is.EqualTo((1 + 3 * 7, 1 + 4 * 7)));
        // A single input channel: 6 filters wrap into 3 columns and 2 rows.
        var lenetConv1 = FilterGrid.Render(new Conv2d(1, 6, 5, seed: 1), scale: 1);
        Assert.That((lenetConv1.Width, lenetConv1.Height), Is.EqualTo((1 + 3 * 6, 1 + 2 * 6)));
    }

    [Test]
    public void VisualizerWritesInputFiltersMapsAndSaliency()
    {
        var model = new LeNet5(5, seed: 2);
        var x = Shapes.Generate(2, seed: 4).ImagesTensor();
        var dir = Path.Combine(Path.GetTempPath(), "convengine-vis-" + Guid.NewGuid().ToString("N"));
        try
        {
            var paths = Visualizer.SaveAll(model, x, dir, index: 1);
            Assert.That(paths.Select(Path.GetFileName), Is.EqualTo(new[] { "input.png", "filters_conv1.png", "maps_conv1.png", "filters_conv2.png", "maps_conv2.png", "saliency.png" }));
            foreach (var p in paths) Assert.That(TinyPng.Decode(File.ReadAllBytes(p)).Width, Is.GreaterThan(0));
            var input = TinyPng.Decode(File.ReadAllBytes(paths[0]));
            var img = x.ToArray();
            Assert.That(input.Pixels[0], Is.EqualTo((byte)Math.Round(Math.Clamp(img[784], 0, 1) * 255.0, MidpointRounding.AwayFromZero)), "image 1, top-left pixel");
            Assert.That(model.IsTraining);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Test]
    public void ChartsAreWellFormedSvg()
    {
        var line = SvgChart.Line([new ChartSeries("loss", [2.0, 1.5, 1.1, 0.9]), new ChartSeries("val <loss>", [2.1, 1.7, 1.4, double.NaN], [0, 1, 2, 3])],
            "Loss & accuracy", "epoch", "loss");
        var doc = XDocument.Parse(line);
        Assert.That(doc.Root!.Name.LocalName, Is.EqualTo("svg"));
        Assert.That(doc.Descendants().Count(e => e.Name.LocalName == "path"), Is.EqualTo(2));
        Assert.That(doc.Descendants().Any(e => e.Value == "val <loss>"), "text is escaped, not broken");
        var log = XDocument.Parse(SvgChart.Line([new ChartSeries("g", [1e-8, 1e-4, 0, 1])], "log", logY: true));
        Assert.That(log.Descendants().Single(e => e.Name.LocalName == "path").Attribute("d")!.Value.Split(' '), Has.Length.EqualTo(3), "zero is skipped on a log axis");
        var bars = XDocument.Parse(SvgChart.Bars(["a", "b"], [new ChartSeries("s", [1.0, 3.0])], "bars"));
        var rects = bars.Descendants().Where(e => e.Name.LocalName == "rect" && e.Element(e.Name.Namespace + "title") is not null).ToList();
        Assert.That(rects, Has.Count.EqualTo(2));
        double h0 = double.Parse(rects[0].Attribute("height")!.Value), h1 = double.Parse(rects[1].Attribute("height")!.Value);
        Assert.That(h1 / h0, Is.EqualTo(3).Within(0.05), "bar heights are proportional from zero");
        Assert.Throws<ArgumentException>(() => SvgChart.Bars(["a"], [new ChartSeries("s", [1.0, 2.0])], "x"));
    }
}
