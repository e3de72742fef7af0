using ConvEngine.Losses;
using ConvEngine.Models;
using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Layers;

/// <summary>Module.ReuseBuffers: the same numbers as fresh tensors, the same tensors step after step, and no large allocation.</summary>
public class BufferReuseTests
{
    private static (Module Model, Sgd Opt) Build(string which, IDevice dev) 
    {
        Module m = which == "lenet" ? new LeNet5(device: dev, seed: 4) : new ResNetSmall(width: 4, device: dev, seed: 4);
        return (m, new Sgd(m.Parameters(), 0.05f, momentum: 0.9f));
    }

    private static (Tensor Logits, Tensor DX) Step(Module model, Sgd opt, Tensor x, int[] labels)
    {
        var loss = new SoftmaxCrossEntropy();
        opt.ZeroGrad();
        var y = model.Forward(x);
        loss.Forward(y, labels);
        var dX = model.Backward(loss.Backward());
        opt.Step();
        return (y, dX);
    }

    [TestCase("lenet")]
    [TestCase("resnet")]
    public void TrainingWithReusedBuffersIsBitwiseTheSameAndReturnsTheSameTensors(string which)
    {
        var dev = new CpuDevice(2);
        var rng = new Random(5);
        var (plain, plainOpt) = Build(which, dev);
        var (reusing, reusingOpt) = Build(which, dev);
        reusing.ReuseBuffers();
        Assert.That(reusing.Descendants().All(m => m.ReusesBuffers), "ReuseBuffers reaches every descendant");
        Tensor? lastLogits = null, lastDX = null;
        for (int step = 0; step < 4; step++)
        {
            int n = step == 3 ? 3 : 6; // the last step changes the batch size: buffers must follow the shape
            var x = TestUtil.RandomTensor(rng, dev, n, 1, 28, 28);
            var labels = Enumerable.Range(0, n).Select(i => (i + step) % 10).ToArray();
            var (y1, dx1) = Step(plain, plainOpt, x, labels);
            var (y2, dx2) = Step(reusing, reusingOpt, x, labels);
            Assert.That(y2.ToArray(), Is.EqualTo(y1.ToArray()), $"logits at step {step}");
            Assert.That(dx2.ToArray(), Is.EqualTo(dx1.ToArray()), $"dX at step {step}");
            if (step is 1 or 2)
            {
                Assert.That(y2, Is.SameAs(lastLogits), "the logits buffer is reused");
                Assert.That(dx2, Is.SameAs(lastDX), "the dX buffer is reused");
            }
            if (step == 3) Assert.That(y2, Is.Not.SameAs(lastLogits), "a new batch size gets a new buffer");
            lastLogits = y2; lastDX = dx2;
        }
        foreach (var (a, b) in plain.Parameters().Zip(reusing.Parameters()))
            Assert.That(b.Value.ToArray(), Is.EqualTo(a.Value.ToArray()), b.Name);
        reusing.ReuseBuffers(false);
        var again = reusing.Forward(TestUtil.RandomTensor(rng, dev, 3, 1, 28, 28));
        Assert.That(again, Is.Not.SameAs(lastLogits), "turning reuse off returns new tensors");
    }

    [Test]
    public void ALayerFedItsOwnOutputGetsAFreshTensor()
    {
        var relu = new ReLU();
        relu.ReuseBuffers();
        var x = Tensor.FromArray([-1f, 2f, -3f, 4f], 4);
        var y = relu.Forward(x);
        var y2 = relu.Forward(y);
        Assert.That(y2, Is.Not.SameAs(y));
        Assert.That(y2.ToArray(), Is.EqualTo(new[] { 0f, 2f, 0f, 4f }));
    }

    [Test]
    public void ATrainingStepWithReuseAllocatesLittleAndWithoutItAllocatesEveryActivation()
    {
        // LeNet-5, batch 64: the activations and gradients of one step are about 7.8 MB. With reuse only small objects
        // (caches, small statistics, delegates and Parallel.For bookkeeping: about 0.3 MB measured) remain.
        var dev = new CpuDevice(2);
        var rng = new Random(6);
        var x = TestUtil.RandomTensor(rng, dev, 64, 1, 28, 28);
        var labels = Enumerable.Range(0, 64).Select(i => i % 10).ToArray();
        long PerStep(bool reuse)
        {
            var (model, opt) = Build("lenet", dev);
            model.ReuseBuffers(reuse);
            for (int i = 0; i < 3; i++) Step(model, opt, x, labels);
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 5; i++) Step(model, opt, x, labels);
            return (GC.GetTotalAllocatedBytes(precise: true) - before) / 5;
        }
        long with = PerStep(true), without = PerStep(false);
        Assert.That(without, Is.GreaterThan(5_000_000), "without reuse every activation and gradient is a new tensor");
        Assert.That(with, Is.LessThan(1_000_000), $"with reuse a step allocated {with} bytes");
    }

    [Test]
    public void EvaluationWithReuseGivesTheSameLogits()
    {
        var dev = new CpuDevice(2);
        var rng = new Random(8);
        var (model, _) = Build("resnet", dev);
        model.Eval();
        var x1 = TestUtil.RandomTensor(rng, dev, 4, 1, 28, 28);
        var x2 = TestUtil.RandomTensor(rng, dev, 4, 1, 28, 28);
        var fresh1 = model.Forward(x1).ToArray();
        var fresh2 = model.Forward(x2).ToArray();
        model.ReuseBuffers();
        var a = model.Forward(x1);
        Assert.That(a.ToArray(), Is.EqualTo(fresh1));
        var b = model.Forward(x2);
        Assert.That(b, Is.SameAs(a));
        Assert.That(b.ToArray(), Is.EqualTo(fresh2));
    }
}
