using ConvEngine.Diagnostics;
using ConvEngine.Losses;
using ConvEngine.Models;
using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Reliability;

public class NumericGuardTests
{
    /// <summary>Identity forward; backward returns dY with one element replaced by <see cref="Value"/>.</summary>
    private sealed class PoisonedGradient(float value) : Module
    {
        public float Value { get; } = value;
        protected override Tensor ForwardCore(Tensor x) => x.Clone();
        protected override Tensor BackwardCore(Tensor dY)
        {
            var d = dY.ToArray();
            d[d.Length / 2] = Value;
            return Tensor.FromArray(dY.Device, d, dY.Shape);
        }
    }

    private static Module Child(Module model, string name) => model.Children().Single(c => c.Name == name).Module;

    private static Tensor Batch(int n, int seed) => TestUtil.RandomTensor(new Random(seed), n, 1, 28, 28);

    [Test]
    public void ANaNWeightIsReportedAtTheFirstLayerWhoseOutputIsNotFinite()
    {
        var model = new LeNet5(numClasses: 5, seed: 1);
        var w = ((Linear)Child(model, "fc1")).Weight.Value;
        var values = w.ToArray();
        values[17] = float.NaN;
        w.CopyFrom(values);
        using var _ = model.Observe(new NumericGuard());
        var ex = Assert.Throws<NonFiniteException>(() => model.Forward(Batch(4, 1)))!;
        Assert.That(ex.ModuleName, Is.EqualTo("fc1"), "fc1 is the first layer in execution order with a NaN output; later layers and the root are not blamed");
        Assert.That(ex.ModuleType, Is.EqualTo("Linear"));
        Assert.That(ex.Phase, Is.EqualTo(NumericPhase.Forward));
        Assert.That(ex.NanCount, Is.GreaterThan(0));
        Assert.That(ex.Message, Does.Contain("'fc1'").And.Contain("Forward").And.Contain("input x was finite"));
        Assert.That(ex, Is.InstanceOf<InvalidOperationException>());
    }

    [Test]
    public void NaNInputIsBlamedOnTheDataNotTheLayer()
    {
        var model = new LeNet5(numClasses: 5, seed: 1);
        var x = Batch(2, 2);
        var values = x.ToArray();
        values[100] = float.NaN;
        values[200] = float.PositiveInfinity;
        x.CopyFrom(values);
        using var _ = model.Observe(new NumericGuard());
        var ex = Assert.Throws<NonFiniteException>(() => model.Forward(x))!;
        Assert.That(ex.ModuleName, Is.EqualTo("conv1"));
        Assert.That(ex.Message, Does.Contain("input x already held 1 NaN and 1 Inf"));
    }

    [Test]
    public void AnInfiniteWeightInAConvolutionIsCaught()
    {
        var model = new LeNet5(numClasses: 5, seed: 1);
        var conv2 = (Conv2d)Child(model, "conv2");
        var values = conv2.Weight.Value.ToArray();
        values[3] = float.PositiveInfinity;
        conv2.Weight.Value.CopyFrom(values);
        using var _ = model.Observe(new NumericGuard());
        var ex = Assert.Throws<NonFiniteException>(() => model.Forward(Batch(2, 3)))!;
        Assert.That(ex.ModuleName, Is.EqualTo("conv2"));
        Assert.That(ex.InfCount + ex.NanCount, Is.GreaterThan(0));
    }

    [Test]
    public void ANonFiniteGradientIsReportedInTheBackwardPhaseAtTheLayerThatMadeIt([Values(float.NaN, float.NegativeInfinity)] float poison)
    {
        var model = new Sequential();
        model.Add("fc1", new Linear(6, 5, seed: 1));
        model.Add("poison", new PoisonedGradient(poison));
        model.Add("relu", new ReLU());
        model.Add("fc2", new Linear(5, 3, seed: 2));
        var guard = new NumericGuard();
        using var _ = model.Observe(guard);
        var y = model.Forward(TestUtil.RandomTensor(new Random(4), 4, 6));
        var ex = Assert.Throws<NonFiniteException>(() => model.Backward(TestUtil.RandomTensor(new Random(5), y.Shape)))!;
        Assert.That(ex.ModuleName, Is.EqualTo("poison"), "fc2 and relu produced finite gradients; fc1 never ran");
        Assert.That(ex.Phase, Is.EqualTo(NumericPhase.Backward));
        Assert.That(ex.Message, Does.Contain("backward result dX").And.Contain("incoming gradient dY was finite"));
        Assert.That(ex.FirstIndex, Is.EqualTo(y.Length / 3 * 5 / 2), "the poisoned element");
    }

    [Test]
    public void ACleanTrainingRunPassesAndEveryTensorIsChecked()
    {
        var model = new LeNet5(numClasses: 5, seed: 1);
        var sgd = new Sgd(model.Parameters(), lr: 0.01f);
        var loss = new SoftmaxCrossEntropy();
        var guard = new NumericGuard();
        using (model.Observe(guard))
            for (int step = 0; step < 3; step++)
            {
                var logits = model.Forward(Batch(4, step));
                loss.Forward(logits, [0, 1, 2, 3]);
                model.ZeroGrad();
                model.Backward(loss.Backward());
                sgd.Step();
            }
        int modules = model.Descendants().Count() + 1;
        Assert.That(guard.TensorsChecked, Is.EqualTo(3 * 2 * modules), "every module's output and dX, every step");
        // Detached: a NaN no longer throws.
        var x = Batch(1, 9);
        var v = x.ToArray(); v[0] = float.NaN; x.CopyFrom(v);
        Assert.DoesNotThrow(() => model.Forward(x));
    }
}
