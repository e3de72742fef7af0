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

    [TestCase("lenet", 64)]
    [TestCase("resnet", 32)]
    public void ATrainingStepWithReuseAllocatesNothingAndWithoutItAllocatesEveryActivation(string which, int batch)
    {
        // With reuse on (model and loss), a warmed-up step allocates nothing on the managed heap: no tensors, no cache
        // records, no closures for the parallel loops (their bodies are structs), no scratch arrays. The calling thread's
        // counter must be zero (it creates every closure a parallel loop would need); the process-wide counter also sees
        // the worker threads and is held to a small bound so that a stray runtime allocation cannot fail the test.
        var dev = new CpuDevice(2);
        var rng = new Random(6);
        var x = TestUtil.RandomTensor(rng, dev, batch, 1, 28, 28);
        var labels = Enumerable.Range(0, batch).Select(i => i % 10).ToArray();
        (long Thread, long Total) PerStep(bool reuse)
        {
            Module model = which == "lenet" ? new LeNet5(device: dev, seed: 4) : new ResNetSmall(device: dev, seed: 4);
            var opt = new Sgd(model.Parameters(), 0.05f, momentum: 0.9f);
            var loss = new SoftmaxCrossEntropy();
            model.ReuseBuffers(reuse);
            loss.ReuseBuffers(reuse);
            void Run()
            {
                opt.ZeroGrad();
                loss.Forward(model.Forward(x), labels);
                model.Backward(loss.Backward());
                opt.Step();
            }
            for (int i = 0; i < 3; i++) Run();
            // Every thread, the calling one included (it runs items of the parallel loops too), grows its per-thread
            // scratch the first time it meets an item of a new size, which may be in any early step (items are handed
            // out dynamically: a CI run once saw 1,344 bytes on the calling thread in the six steps after warm-up), and
            // other threads of the test host may allocate. So both figures are the smallest of three two-step windows:
            // a one-time growth lands in one window, an allocation every step in all of them.
            long thread = long.MaxValue, total = long.MaxValue;
            for (int w = 0; w < 3; w++)
            {
                long thread0 = GC.GetAllocatedBytesForCurrentThread(), total0 = GC.GetTotalAllocatedBytes(precise: true);
                Run();
                Run();
                thread = Math.Min(thread, (GC.GetAllocatedBytesForCurrentThread() - thread0) / 2);
                total = Math.Min(total, (GC.GetTotalAllocatedBytes(precise: true) - total0) / 2);
            }
            return (thread, total);
        }
        var with = PerStep(true);
        Assert.That(with.Thread, Is.Zero, $"with reuse a {which} step allocated {with.Thread} bytes on the calling thread");
        Assert.That(with.Total, Is.LessThan(1024), $"with reuse a {which} step allocated {with.Total} bytes in the process");
        if (which == "lenet")
            Assert.That(PerStep(false).Total, Is.GreaterThan(5_000_000), "without reuse every activation and gradient is a new tensor");
    }

    [Test]
    public void SoftmaxCrossEntropyWithReuseGivesTheSameGradientInTheSameTensor()
    {
        var rng = new Random(9);
        var plain = new SoftmaxCrossEntropy();
        var reusing = new SoftmaxCrossEntropy();
        reusing.ReuseBuffers();
        Tensor? last = null;
        foreach (int n in new[] { 5, 5, 3 })
        {
            var z = TestUtil.RandomTensor(rng, CpuDevice.Default, n, 7);
            var labels = Enumerable.Range(0, n).Select(i => i % 7).ToArray();
            Assert.That(reusing.Forward(z, labels), Is.EqualTo(plain.Forward(z, labels)));
            var g = reusing.Backward();
            Assert.That(g.ToArray(), Is.EqualTo(plain.Backward().ToArray()));
            if (n == 5 && last is not null) Assert.That(g, Is.SameAs(last), "the same batch size reuses the gradient tensor");
            if (n == 3) Assert.That(g, Is.Not.SameAs(last), "a new batch size gets a new tensor");
            last = g;
        }
        reusing.ReuseBuffers(false);
        reusing.Forward(TestUtil.RandomTensor(rng, CpuDevice.Default, 3, 7), [0, 1, 2]);
        Assert.That(reusing.Backward(), Is.Not.SameAs(last), "reuse off: a new tensor per Backward");
    }

    [Test]
    public void FlattenWithReuseReturnsTheSameViewForTheSameInput()
    {
        var flatten = new Flatten();
        var x = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 2, 2);
        var plain = flatten.Forward(x);
        Assert.That(flatten.Forward(x), Is.Not.SameAs(plain), "without reuse every pass makes a new view");
        flatten.ReuseBuffers();
        var v1 = flatten.Forward(x);
        var v2 = flatten.Forward(x);
        Assert.That(v2, Is.SameAs(v1));
        Assert.That(v2.Shape, Is.EqualTo(new[] { 2, 12 }));
        Assert.That(v2.ToArray(), Is.EqualTo(x.ToArray()));
        var dY = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => -(float)i).ToArray(), 2, 12);
        var d1 = flatten.Backward(dY);
        Assert.That(flatten.Backward(dY), Is.SameAs(d1));
        Assert.That(d1.Shape, Is.EqualTo(new[] { 2, 3, 2, 2 }));
        var other = Tensor.FromArray(new float[24], 2, 3, 2, 2);
        Assert.That(flatten.Forward(other), Is.Not.SameAs(v1), "another input tensor gets its own view");
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
