using ConvEngine.Data;
using ConvEngine.Inspect;
using ConvEngine.Losses;
using ConvEngine.Models;
using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.InspectTests;

public class StepperTests
{
    private static (Tensor Images, int[] Labels) ShapesBatch(int n, int seed = 1)
    {
        var d = Shapes.Generate(n, seed);
        return (d.ImagesTensor(), d.Labels.ToArray());
    }

    private static readonly string[] LeNetLeaves = ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "flatten", "fc1", "act3", "fc2", "act4", "fc3"];

    [Test]
    public void LeNetStepHasForwardLossBackwardUpdateInExecutionOrder()
    {
        var model = new LeNet5(5, seed: 3);
        var (x, y) = ShapesBatch(4);
        var trace = new Stepper(model, new SoftmaxCrossEntropy(), new Sgd(model.Parameters(), 0.1f)).Run(x, y);

        Assert.That(trace.Of(StepPhase.Forward).Select(e => e.Layer), Is.EqualTo(LeNetLeaves));
        Assert.That(trace.Of(StepPhase.Loss).Single().Layer, Is.EqualTo("loss"));
        Assert.That(trace.Of(StepPhase.Backward).Select(e => e.Layer), Is.EqualTo(LeNetLeaves.Reverse()));
        Assert.That(trace.Of(StepPhase.Update).Select(e => e.Layer), Is.EqualTo(new[] { "conv1", "conv2", "fc1", "fc2", "fc3" }));
        // Phases come in blocks: all forwards, the loss, all backwards, all updates; indices are positions.
        var phases = trace.Select(e => e.Phase).ToList();
        Assert.That(phases, Is.Ordered);
        Assert.That(trace.Select(e => e.Index), Is.EqualTo(Enumerable.Range(0, trace.Count)));
    }

    [Test]
    public void SnapshotsChainAndMatchAnIndependentComputation()
    {
        var model = new LeNet5(5, seed: 3);
        var twin = new LeNet5(5, seed: 3);
        var (x, y) = ShapesBatch(4);
        var trace = new Stepper(model, new SoftmaxCrossEntropy(), new Sgd(model.Parameters(), 0.1f)).Run(x, y);

        var fwd = trace.Of(StepPhase.Forward).ToList();
        TestUtil.AssertClose(fwd[0]["input"].Data, x.ToArray(), 0, 0, "first input is the batch");
        for (int i = 0; i + 1 < fwd.Count; i++)
            Assert.That(fwd[i]["output"].Data.SequenceEqual(fwd[i + 1]["input"].Data), $"{fwd[i].Layer} output feeds {fwd[i + 1].Layer}");

        // The twin model computes the same step by hand.
        var logits = twin.Forward(x);
        var loss = new SoftmaxCrossEntropy();
        var r = loss.Compute(logits, y);
        twin.Backward(r.Gradient);
        Assert.That(trace.Loss, Is.EqualTo(r.Loss).Within(1e-6));
        TestUtil.AssertClose(fwd[^1]["output"].Data, logits.ToArray(), 1e-6, 1e-7, "logits");
        var lossEvent = trace.Get(StepPhase.Loss, "loss");
        Assert.That(lossEvent.Loss, Is.EqualTo(r.Loss).Within(1e-6));
        TestUtil.AssertClose(lossEvent["dX"].Data, r.Gradient.ToArray(), 1e-6, 1e-7, "dLogits");

        // dLogits = (p − onehot)/N from the recorded probabilities.
        var p = lossEvent["probabilities"].Data;
        var expected = new float[p.Length];
        for (int i = 0; i < p.Length; i++) expected[i] = (p[i] - (i % 5 == y[i / 5] ? 1 : 0)) / 4f;
        TestUtil.AssertClose(lossEvent["dX"].Data, expected, 1e-5, 1e-6, "p - y");

        var twinConv1 = (Conv2d)twin[0];
        var bwdConv1 = trace.Get(StepPhase.Backward, "conv1");
        TestUtil.AssertClose(bwdConv1["weight.grad"].Data, twinConv1.Weight.Grad.ToArray(), 1e-5, 1e-7, "conv1.weight.grad");
        var bwd = trace.Of(StepPhase.Backward).ToList();
        for (int i = 0; i + 1 < bwd.Count; i++)
            Assert.That(bwd[i]["dX"].Data.SequenceEqual(bwd[i + 1]["dY"].Data), $"{bwd[i].Layer} dX feeds {bwd[i + 1].Layer}");
        TestUtil.AssertClose(bwd[0]["dY"].Data, r.Gradient.ToArray(), 1e-6, 1e-7, "backward starts from dLogits");
    }

    [Test]
    public void UpdateIsNewMinusOldAndEqualsMinusLrTimesGradForPlainSgd()
    {
        var model = new LeNet5(5, seed: 4);
        var before = ((Linear)model[7]).Weight.Value.ToArray();
        var (x, y) = ShapesBatch(3, seed: 2);
        const float lr = 0.05f;
        var trace = new Stepper(model, new SoftmaxCrossEntropy(), new Sgd(model.Parameters(), lr)).Run(x, y);
        var upd = trace.Get(StepPhase.Update, "fc1");
        var grad = trace.Get(StepPhase.Backward, "fc1")["weight.grad"].Data;
        var now = ((Linear)model[7]).Weight.Value.ToArray();
        for (int i = 0; i < now.Length; i += 97)
        {
            Assert.That(upd["weight.update"].Data[i], Is.EqualTo(now[i] - before[i]).Within(1e-7));
            Assert.That(upd["weight.update"].Data[i], Is.EqualTo(-lr * grad[i]).Within(1e-6));
        }
        Assert.That(upd["weight"].Data.SequenceEqual(now));
        Assert.That(upd["weight.update"].Stats.L2Norm, Is.GreaterThan(0));
    }

    [Test]
    public void SnapshotsAreCopiesAndStatsDescribeThem()
    {
        var model = new LeNet5(5, seed: 5);
        var (x, y) = ShapesBatch(2);
        var trace = new Stepper(model, new SoftmaxCrossEntropy()).Run(x, y);
        var ev = trace.Get(StepPhase.Forward, "conv1");
        var w = ev["weight"];
        var copy = w.Data.ToArray();
        ((Conv2d)model[0]).Weight.Value.CopyFrom(new float[copy.Length]);
        Assert.That(w.Data.SequenceEqual(copy), "snapshot unchanged by later writes");
        var act = trace.Get(StepPhase.Forward, "act1")["output"];
        var data = act.Data.ToArray();
        Assert.That(act.Stats.ZeroFraction, Is.EqualTo(data.Count(v => v == 0) / (double)data.Length).Within(1e-12));
        Assert.That(act.Stats.Min, Is.GreaterThanOrEqualTo(0f), "ReLU output");
        Assert.That(act.Shape, Is.EqualTo(new[] { 2, 6, 28, 28 }));
        // Without an optimizer there are no updates and the model's weights stay as they were.
        Assert.That(trace.Of(StepPhase.Update), Is.Empty);
        Assert.That(trace.ToString(), Does.Contain("conv1").And.Contain("loss="));
        Assert.That(trace.Describe(), Does.Contain("weight.grad"));
    }

    [Test]
    public void ResidualModelsAreSteppedLeafByLeafWithDottedNames()
    {
        var model = new ResNetSmall(5, width: 4, seed: 1);
        var (x, y) = ShapesBatch(2);
        var trace = new Stepper(model, new SoftmaxCrossEntropy(), new Sgd(model.Parameters(), 0.01f)).Run(x, y);
        var names = trace.Of(StepPhase.Forward).Select(e => e.Layer).ToList();
        Assert.That(names, Does.Contain("layer1.0.conv2"));
        Assert.That(names.IndexOf("layer2.0.conv3"), Is.GreaterThan(names.IndexOf("layer2.0.bn2")), "the shortcut runs after the branch");
        Assert.That(names, Has.None.EqualTo("layer1.0"), "containers are not events");
        Assert.That(trace.Of(StepPhase.Backward).Count(), Is.EqualTo(names.Count));
        // The block's backward adds the shortcut: the dX of its first conv plus dS is the block's input gradient, which is the dY of the stem relu.
        var dS = trace.Get(StepPhase.Backward, "layer1.0.relu2")["dX"].Data;
        var dConv1 = trace.Get(StepPhase.Backward, "layer1.0.conv1")["dX"].Data;
        var stemDY = trace.Get(StepPhase.Backward, "relu")["dY"].Data;
        var sum = new float[dS.Length];
        for (int i = 0; i < sum.Length; i++) sum[i] = dS[i] + dConv1[i];
        TestUtil.AssertClose(stemDY, sum, 1e-5, 1e-7, "identity-add in backward");
    }

    [Test]
    public void MseStepperAndWrongOverloadMessages()
    {
        var model = new Sequential(new Linear(3, 2, seed: 1));
        var x = Tensor.FromArray([1f, 2f, 3f], 1, 3);
        var target = Tensor.FromArray([0.5f, -0.5f], 1, 2);
        var trace = new Stepper(model, new MseLoss(), new Sgd(model.Parameters(), 0.1f)).Run(x, target);
        Assert.That(trace.Get(StepPhase.Loss, "loss")["target"].Data.ToArray(), Is.EqualTo(new[] { 0.5f, -0.5f }));
        Assert.Throws<InvalidOperationException>(() => new Stepper(model, new MseLoss()).Run(x, [0]));
        Assert.Throws<InvalidOperationException>(() => new Stepper(model, new SoftmaxCrossEntropy()).Run(x, target));
        var ex = Assert.Throws<KeyNotFoundException>(() => _ = trace[0]["nope"]);
        Assert.That(ex!.Message, Does.Contain("output"));
    }

    [Test]
    public void ObserverIsDetachedAfterTheStep()
    {
        var model = new LeNet5(5, seed: 6);
        var (x, y) = ShapesBatch(2);
        new Stepper(model, new SoftmaxCrossEntropy()).Run(x, y);
        // A second observer can be attached: the stepper's one is gone.
        using (model.Observe(new NullObserver())) model.Forward(x);
        Assert.Pass();
    }

    private sealed class NullObserver : IModuleObserver
    {
        public void AfterForward(Module module, Tensor input, Tensor output) { }
        public void AfterBackward(Module module, Tensor dY, Tensor dX) { }
    }
}
