using ConvEngine.Inspect;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.InspectTests;

public class GradCheckReportTests
{
    /// <summary>y = x·w elementwise with a deliberately wrong gradient at one input element.</summary>
    private sealed class BrokenScale : Module
    {
        private Tensor? _x;
        public Parameter W { get; }
        public int BadIndex { get; }
        public BrokenScale(int n, int badIndex)
        {
            W = RegisterParameter("w", Tensor.FromArray(Enumerable.Range(0, n).Select(i => 0.5f + 0.1f * i).ToArray(), n));
            BadIndex = badIndex;
        }
        protected override Tensor ForwardCore(Tensor x)
        {
            _x = x.Clone();
            var y = x.ZerosLike();
            x.Device.Multiply(x, W.Value, y);
            return y;
        }
        protected override Tensor BackwardCore(Tensor dY)
        {
            var x = RequireCache(_x);
            var dX = dY.ZerosLike();
            dY.Device.Multiply(dY, W.Value, dX);
            var d = dX.ToArray();
            d[BadIndex] *= 3;
            dX.CopyFrom(d);
            var dW = dY.ZerosLike();
            dY.Device.Multiply(dY, x, dW);
            W.Grad.Device.Add(W.Grad, dW, W.Grad);
            return dX;
        }
    }

    [Test]
    public void ReportNamesTheTensorAndTheElementOfTheLargestError()
    {
        var m = new BrokenScale(6, badIndex: 4);
        var x = Tensor.FromArray([0.3f, -0.2f, 0.9f, 0.1f, -0.7f, 0.4f], 6);
        var report = GradCheck.Check(m, x);
        Assert.That(report.Entries.Select(e => e.Name), Is.EqualTo(new[] { "input", "w" }));
        Assert.That(report["input"].WorstIndex, Is.EqualTo(4));
        Assert.That(report["input"].MaxRelativeError, Is.GreaterThan(0.5));
        Assert.That(report["input"].Analytic, Is.EqualTo(3 * report["input"].Numeric).Within(1e-3));
        Assert.That(report["w"].MaxRelativeError, Is.LessThan(1e-3));
        Assert.That(report.ToString(), Does.Contain("at [4]"));
    }

    [Test]
    public void WorstIndexIsAlsoGivenAsCoordinates()
    {
        var conv = new Conv2d(2, 3, 3, seed: 4);
        var report = GradCheck.Check(conv, TestUtil.RandomTensor(new Random(5), 2, 2, 5, 5), maxPerTensor: 30);
        var w = report["weight"];
        Assert.That(w.Shape, Is.EqualTo(new[] { 3, 2, 3, 3 }));
        var c = w.WorstCoordinates;
        Assert.That(((c[0] * 2 + c[1]) * 3 + c[2]) * 3 + c[3], Is.EqualTo(w.WorstIndex));
        Assert.That(report["input"].WorstCoordinates, Has.Length.EqualTo(4));
        Assert.That(report.ToString(), Does.Contain($"at [{string.Join(", ", c)}]"));
        Assert.That(report.MaxRelativeError, Is.LessThan(1e-2), report.ToString());
    }

    [Test]
    public void DropoutMasksAreHeldFixedAutomatically()
    {
        var model = new Sequential(new Linear(6, 8, seed: 1), new Dropout(0.5f, seed: 7), new Tanh(), new Linear(8, 3, seed: 2));
        var x = TestUtil.RandomTensor(new Random(2), 2, 6);
        var drop = (Dropout)model[1];
        ulong stepBefore = drop.Step;
        var report = GradCheck.Check(model, x, eps: 1e-2f);
        Assert.That(report.MaxRelativeError, Is.LessThan(2e-2), report.ToString());
        Assert.That(drop.Step, Is.EqualTo(stepBefore), "the dropout stream is restored");
    }
}
