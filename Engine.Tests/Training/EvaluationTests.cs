using System.Xml.Linq;
using ConvEngine.NN;
using ConvEngine.Optim;
using ConvEngine.Training;
using NUnit.Framework;

namespace ConvEngine.Tests.Training;

public class EvaluationTests
{
    [Test]
    public void ConfusionMatrixOnAKnownCase()
    {
        // Logits with a known arg-max per row; labels chosen so that each cell is hit a known number of times.
        float[] logits =
        [
            5, 1, 0,   // pred 0, label 0
            0, 2, 1,   // pred 1, label 0
            1, 1, 0,   // tie: first maximum wins → pred 0, label 1
            0, 0, 3,   // pred 2, label 2
            0, 4, 0,   // pred 1, label 1
            9, 0, 0,   // pred 0, label 2
        ];
        int[] labels = [0, 0, 1, 2, 1, 2];
        var m = new ClassificationMetrics(3);
        m.Add(logits.AsSpan(0, 9), labels.AsSpan(0, 3), 3, meanLoss: 1.0);
        m.Add(logits.AsSpan(9), labels.AsSpan(3), 3, meanLoss: 2.0);
        var r = m.ToResult();
        int[,] expected = { { 1, 1, 0 }, { 1, 1, 0 }, { 1, 0, 1 } };
        Assert.That(r.ConfusionMatrix, Is.EqualTo(expected));
        Assert.That(r.Samples, Is.EqualTo(6));
        Assert.That(r.Accuracy, Is.EqualTo(3.0 / 6));
        Assert.That(r.PerClassAccuracy, Is.EqualTo(new[] { 0.5, 0.5, 0.5 }));
        Assert.That(r.Loss, Is.EqualTo(1.5).Within(1e-12), "sample-weighted mean of the batch means");
        Assert.That(r.NumClasses, Is.EqualTo(3));
    }

    [Test]
    public void ClassWithoutSamplesHasNaNAccuracyAndBadLabelsThrow()
    {
        var m = new ClassificationMetrics(2);
        m.Add([1f, 0f], [0], 1, 0.1);
        Assert.That(m.ToResult().PerClassAccuracy[1], Is.NaN);
        Assert.Throws<ArgumentException>(() => m.Add([1f, 0f], [2], 1, 0.1));
    }

    [Test]
    public void TrainerEvaluateMatchesAHandComputedResult()
    {
        // Identity linear model: logits = x, so predictions and the loss are known in closed form.
        var device = new CpuDevice(threads: 1);
        var lin = new Linear(3, 3, device: device, seed: 0);
        lin.Weight.Value.CopyFrom([1, 0, 0, 0, 1, 0, 0, 0, 1]);
        lin.Bias!.Value.CopyFrom([0, 0, 0]);
        float[] x = [2, 0, 0, 0, 0, 3, 0, 1, 0, 1, 0, 0];
        int[] y = [0, 1, 1, 2];
        var batches = new List<(Tensor, int[])> { (Tensor.FromArray(device, x[..6], 2, 3), y[..2]), (Tensor.FromArray(device, x[6..], 2, 3), y[2..]) };
        var trainer = new Trainer(lin, new Sgd(lin.Parameters(), lr: 0.1f));
        var r = trainer.Evaluate(BatchSource.FromList(batches));
        Assert.That(r.ConfusionMatrix, Is.EqualTo(new int[,] { { 1, 0, 0 }, { 0, 1, 1 }, { 1, 0, 0 } }));
        Assert.That(r.Accuracy, Is.EqualTo(0.5));
        double expectedLoss = 0;
        for (int i = 0; i < 4; i++)
        {
            var row = x.AsSpan(i * 3, 3).ToArray();
            expectedLoss += Math.Log(row.Sum(v => Math.Exp(v))) - row[y[i]];
        }
        Assert.That(r.Loss, Is.EqualTo(expectedLoss / 4).Within(1e-5));
        Assert.That(lin.IsTraining, Is.True, "the previous mode is restored");
    }

    private static List<EpochResult> FakeHistory(int epochs, bool withTest = true) =>
        Enumerable.Range(1, epochs).Select(e => new EpochResult(e, 2.0 / e, 0.5 + 0.04 * e,
            withTest ? new EvaluationResult(2.2 / e, 0.45 + 0.04 * e, 100, [0.5, 0.5], new int[2, 2]) : null, 0.01, 1.5, 1000)).ToList();

    [TestCase(1)]
    [TestCase(5)]
    [TestCase(40)]
    public void CurvesSvgIsWellFormedAndHasEverySeries(int epochs)
    {
        var svg = Charts.RenderCurves(FakeHistory(epochs), "LeNet-5 & <fashion-mnist>");
        var doc = XDocument.Parse(svg);
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.That(doc.Root!.Name, Is.EqualTo(ns + "svg"));
        var series = doc.Descendants(ns + "g").Where(g => g.Attribute("class")?.Value == "series").ToList();
        Assert.That(series.Select(g => g.Attribute("data-name")!.Value),
            Is.EquivalentTo(new[] { "train loss", "test loss", "train accuracy", "test accuracy" }));
        foreach (var g in series)
            Assert.That(g.Elements(ns + "circle").Count(), Is.EqualTo(epochs), $"one marker per epoch in {g.Attribute("data-name")!.Value}");
        var texts = doc.Descendants(ns + "text").Select(t => t.Value).ToList();
        Assert.That(texts, Does.Contain("epoch"));
        Assert.That(texts, Does.Contain("LeNet-5 & <fashion-mnist>"), "the title is escaped and round-trips");
        Assert.That(texts, Does.Contain("train accuracy").And.Contain("test loss"), "legend entries");
        // Every point lies inside its panel (no NaN or out-of-range coordinates).
        foreach (var c in doc.Descendants(ns + "circle"))
        {
            double cx = double.Parse(c.Attribute("cx")!.Value, System.Globalization.CultureInfo.InvariantCulture);
            double cy = double.Parse(c.Attribute("cy")!.Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.That(cx, Is.InRange(0, 920));
            Assert.That(cy, Is.InRange(0, 360));
        }
    }

    [Test]
    public void CurvesWithoutTestSetDrawOnlyTrainPoints()
    {
        var doc = XDocument.Parse(Charts.RenderCurves(FakeHistory(3, withTest: false)));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var test = doc.Descendants(ns + "g").Single(g => g.Attribute("data-name")?.Value == "test loss");
        Assert.That(test.Elements().Count(), Is.Zero);
    }

    [Test]
    public void WriteCurvesReplacesTheFileAtomically()
    {
        var dir = Path.Combine(Path.GetTempPath(), "convengine-charts-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = Path.Combine(dir, "curves.svg");
            Charts.WriteCurves(path, FakeHistory(2));
            Charts.WriteCurves(path, FakeHistory(4));
            Assert.That(XDocument.Load(path).Descendants().Count(e => e.Name.LocalName == "circle"), Is.EqualTo(16));
            Assert.That(Directory.GetFiles(dir), Is.EqualTo(new[] { path }), "no temporary file left behind");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [TestCase(0.0, 2.3, 6)]
    [TestCase(0.8712, 0.9021, 6)]
    [TestCase(1, 40, 8)]
    public void NiceTicksCoverTheRangeWithEvenSteps(double lo, double hi, int target)
    {
        var t = Charts.NiceTicks(lo, hi, target);
        Assert.That(t[0], Is.LessThanOrEqualTo(lo));
        Assert.That(t[^1], Is.GreaterThanOrEqualTo(hi));
        Assert.That(t.Length, Is.InRange(2, 2 * target + 2));
        for (int i = 2; i < t.Length; i++) Assert.That(t[i] - t[i - 1], Is.EqualTo(t[1] - t[0]).Within(1e-9));
    }

    [TestCase(new[] { 0.0, 2.5, 5, 7.5 }, new[] { "0.0", "2.5", "5.0", "7.5" })]
    [TestCase(new[] { 0.8, 0.85, 0.9 }, new[] { "0.80", "0.85", "0.90" })]
    [TestCase(new[] { 0.0, 20, 40 }, new[] { "0", "20", "40" })]
    [TestCase(new[] { 1e-17, 0.25, 0.5 }, new[] { "0.00", "0.25", "0.50" })]
    public void TickLabelsUseJustEnoughDecimals(double[] ticks, string[] expected) =>
        Assert.That(ticks.Select(t => Charts.FormatTick(t, ticks)), Is.EqualTo(expected));
}
