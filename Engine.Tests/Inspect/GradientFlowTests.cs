using System.Xml.Linq;
using ConvEngine.Data;
using ConvEngine.Inspect;
using ConvEngine.Losses;
using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.InspectTests;

public class GradientFlowTests
{
    private const int Width = 8;

    /// <summary>9 conv layers 3x3 (8 channels) with a sigmoid after each, then global pooling and a classifier.</summary>
    internal static Sequential PlainSigmoid(int seed)
    {
        var rng = new Random(seed);
        var m = new Sequential();
        for (int i = 0; i < 9; i++)
        {
            m.Add($"conv{i + 1}", new Conv2d(i == 0 ? 1 : Width, Width, 3, 1, 1, seed: rng.Next()));
            m.Add($"sig{i + 1}", new Sigmoid());
        }
        m.Add("pool", new AdaptiveAvgPool2d(1));
        m.Add("flatten", new Flatten());
        m.Add("fc", new Linear(Width, 5, seed: rng.Next()));
        return m;
    }

    /// <summary>The same depth in conv layers (a stem conv and 4 identity residual blocks of 2 convs each), then the same head.</summary>
    internal static Sequential ResidualNet(int seed)
    {
        var rng = new Random(seed);
        var m = new Sequential();
        m.Add("conv1", new Conv2d(1, Width, 3, 1, 1, seed: rng.Next()));
        m.Add("bn1", new BatchNorm2d(Width));
        m.Add("relu", new ReLU());
        for (int i = 0; i < 4; i++) m.Add($"block{i + 1}", new Residual(Width, Width, seed: rng.Next()));
        m.Add("pool", new AdaptiveAvgPool2d(1));
        m.Add("flatten", new Flatten());
        m.Add("fc", new Linear(Width, 5, seed: rng.Next()));
        return m;
    }

    private static IEnumerable<(Tensor, int[])> Batches(int count, int batchSize)
    {
        var data = Shapes.Generate(count * batchSize, seed: 11);
        var all = data.ImagesTensor().ToArray();
        int size = data.ImageSize;
        for (int b = 0; b < count; b++)
        {
            var x = Tensor.FromArray(all.AsSpan(b * batchSize * size, batchSize * size).ToArray(), batchSize, 1, 28, 28);
            yield return (x, data.Labels.Slice(b * batchSize, batchSize).ToArray());
        }
    }

    private static double FirstToLastConvRatio(GradientFlowReport r)
    {
        var convs = r.Layers.Where(l => l.Type.StartsWith("Conv2d", StringComparison.Ordinal)).ToList();
        return convs[0].MeanGradNorm / convs[^1].MeanGradNorm;
    }

    [Test]
    public void SigmoidNetVanishesWhereTheResidualNetDoesNot()
    {
        var plain = PlainSigmoid(seed: 1);
        var rPlain = GradientFlow.Record(plain, new SoftmaxCrossEntropy(), new Sgd(plain.Parameters(), 0.05f, momentum: 0.9f), Batches(4, 16));
        var res = ResidualNet(seed: 1);
        var rRes = GradientFlow.Record(res, new SoftmaxCrossEntropy(), new Sgd(res.Parameters(), 0.05f, momentum: 0.9f), Batches(4, 16));
        double plainRatio = FirstToLastConvRatio(rPlain), resRatio = FirstToLastConvRatio(rRes);
        TestContext.Out.WriteLine(rPlain);
        TestContext.Out.WriteLine(rRes);
        TestContext.Out.WriteLine($"first/last conv gradient norm: sigmoid {plainRatio:E2}, residual {resRatio:E2}");
        Assert.That(rPlain.Steps, Is.EqualTo(4));
        Assert.That(rPlain.Layers.Count(l => l.Type.StartsWith("Conv2d", StringComparison.Ordinal)), Is.EqualTo(9));
        Assert.That(rRes.Layers.Count(l => l.Type.StartsWith("Conv2d", StringComparison.Ordinal)), Is.EqualTo(9));
        Assert.That(plainRatio, Is.LessThan(1e-3), "the sigmoid net's first layer gets a vanishing gradient");
        Assert.That(resRatio, Is.GreaterThan(1e-1), "the residual net's first layer still gets a healthy gradient");
        Assert.That(resRatio / plainRatio, Is.GreaterThan(1e3), "orders of magnitude apart");
        // The gradient norms decrease monotonically towards the input in the sigmoid net.
        var convs = rPlain.Layers.Where(l => l.Type.StartsWith("Conv2d", StringComparison.Ordinal)).Select(l => l.MeanGradNorm).ToList();
        Assert.That(convs, Is.Ordered.Ascending);
        static bool IsConv(LayerFlow l) => l.Type.StartsWith("Conv2d", StringComparison.Ordinal);
        var series = new[] { rPlain.GradNormSeries("sigmoid", IsConv), rRes.GradNormSeries("residual", IsConv) };
        Assert.That(series[0].Values, Is.EqualTo(convs));
        var svg = XDocument.Parse(SvgChart.Line(series, "Gradient norm by depth", "conv layer", "mean |grad|", logY: true));
        Assert.That(svg.Descendants().Count(e => e.Name.LocalName == "path"), Is.EqualTo(2));
    }

    [Test]
    public void NormsAndRatiosMatchTheDefinitions()
    {
        var model = new Sequential(new Linear(784, 5, seed: 3));
        var flat = Batches(2, 4).Select(b => (b.Item1.Reshape(4, 784), b.Item2)).ToList();
        var w0 = ((Linear)model[0]).Weight.Value.ToArray().Concat(((Linear)model[0]).Bias!.Value.ToArray()).ToArray();
        const float lr = 0.1f;
        var report = GradientFlow.Record(model, new SoftmaxCrossEntropy(), new Sgd(model.Parameters(), lr), flat, steps: 1);
        var l = report["0"];
        Assert.That(report.Steps, Is.EqualTo(1));
        Assert.That(l.ParameterCount, Is.EqualTo(784 * 5 + 5));
        Assert.That(l.WeightNorm[0], Is.EqualTo(Math.Sqrt(w0.Sum(v => (double)v * v))).Within(1e-4));
        // Plain SGD: the update is −lr·grad, so ‖Δw‖ = lr·‖grad‖.
        Assert.That(l.UpdateNorm[0], Is.EqualTo(lr * l.GradNorm[0]).Within(1e-5 * l.UpdateNorm[0] + 1e-9));
        Assert.That(l.UpdateRatio[0], Is.EqualTo(l.UpdateNorm[0] / l.WeightNorm[0]).Within(1e-12));
        Assert.That(report.Losses[0], Is.GreaterThan(0));
        var svg = XDocument.Parse(report.ToSvg());
        Assert.That(svg.Root!.Name.LocalName, Is.EqualTo("svg"));
        Assert.That(svg.Descendants().Count(e => e.Name.LocalName == "rect"), Is.GreaterThanOrEqualTo(3));
        Assert.Throws<ArgumentException>(() => GradientFlow.Record(model, new SoftmaxCrossEntropy(), new Sgd(model.Parameters(), lr), Array.Empty<(Tensor, int[])>()));
    }
}
