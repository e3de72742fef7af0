using ConvEngine.Losses;
using ConvEngine.Models;
using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Reliability;

public class ThreadSafetyTests
{
    private const int Threads = 8, CallsPerThread = 4;

    private static Tensor Batch(int seed, int n = 3) => TestUtil.RandomTensor(new Random(seed), n, 1, 28, 28);

    /// <summary>Runs every (thread, call) input through the model from <see cref="Threads"/> threads at once.</summary>
    private static float[][] Concurrent(Module model, Tensor[] inputs)
    {
        var results = new float[inputs.Length][];
        using var start = new Barrier(Threads);
        var errors = new List<Exception>();
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                for (int c = 0; c < CallsPerThread; c++)
                {
                    int i = t * CallsPerThread + c;
                    results[i] = model.Forward(inputs[i]).ToArray();
                }
            }
            catch (Exception e) { lock (errors) errors.Add(e); }   // an exception escaping a thread would end the test host
        })).ToList();
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        Assert.That(errors, Is.Empty, "concurrent eval-mode Forward threw");
        return results;
    }

    private static void AssertEvalForwardIsThreadSafe(Module model)
    {
        model.Eval();
        var inputs = Enumerable.Range(0, Threads * CallsPerThread).Select(i => Batch(100 + i, n: 1 + i % 4)).ToArray();
        var expected = inputs.Select(x => model.Forward(x).ToArray()).ToArray();
        for (int round = 0; round < 3; round++)
        {
            var actual = Concurrent(model, inputs);
            for (int i = 0; i < inputs.Length; i++)
                Assert.That(actual[i], Is.EqualTo(expected[i]), $"round {round}, input {i}: concurrent eval Forward differs from the single-threaded result");
        }
    }

    [Test]
    public void LeNet5InEvalModeServesForwardFromManyThreads() => AssertEvalForwardIsThreadSafe(new LeNet5(numClasses: 5, seed: 3));

    [Test]
    public void ResNetSmallInEvalModeServesForwardFromManyThreads()
    {
        var model = new ResNetSmall(numClasses: 5, width: 8, seed: 4);
        model.Forward(Batch(1, n: 4));   // one training batch: non-trivial running statistics for eval mode
        AssertEvalForwardIsThreadSafe(model);
    }

    [Test]
    public void ReflectPaddedConvolutionInEvalModeIsThreadSafe()
    {
        var model = new Sequential(new Conv2d(1, 4, 3, padding: 2, paddingMode: PaddingMode.Reflect, seed: 1), new ReLU(),
                                   new Conv2d(4, 2, 5, stride: 2, padding: 1, paddingMode: PaddingMode.Replicate, seed: 2));
        AssertEvalForwardIsThreadSafe(model);
    }

    /// <summary>Blocks inside its training-mode Forward until released, so a second thread can be sent in deterministically.</summary>
    private sealed class Gate : Module
    {
        public readonly ManualResetEventSlim Entered = new(), Release = new();
        protected override Tensor ForwardCore(Tensor x)
        {
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(30));
            return x.Clone();
        }
        protected override Tensor BackwardCore(Tensor dY) => dY.Clone();
    }

    [Test]
    public void ASecondThreadTrainingTheSameModelIsRefusedWithTheModuleName()
    {
        var gate = new Gate();
        var model = new Sequential();
        model.Add("fc", new Linear(4, 4, seed: 1));
        model.Add("gate", gate);
        var x = TestUtil.RandomTensor(new Random(1), 2, 4);
        Exception? firstError = null;
        var first = new Thread(() => { try { model.Forward(x); } catch (Exception e) { firstError = e; } });
        first.Start();
        Assert.That(gate.Entered.Wait(TimeSpan.FromSeconds(30)), Is.True);
        var ex = Assert.Throws<InvalidOperationException>(() => model.Forward(x))!;
        Assert.That(ex.Message, Does.Contain("Sequential '(root)'").And.Contain("training-mode Forward").And.Contain("thread"));
        var exBackward = Assert.Throws<InvalidOperationException>(() => model.Backward(x))!;
        Assert.That(exBackward.Message, Does.Contain("training-mode Backward"));
        gate.Release.Set();
        first.Join();
        Assert.That(firstError, Is.Null);
        // The first thread is done: this thread may now train the model, and eval mode is never refused.
        gate.Entered.Reset();
        Assert.DoesNotThrow(() => model.Backward(model.Forward(x)));
    }

    [Test]
    public void AFailedForwardReleasesTheModule()
    {
        var model = new LeNet5(numClasses: 5, seed: 1);
        Assert.Throws<ArgumentException>(() => model.Forward(TestUtil.RandomTensor(new Random(1), 2, 3, 28, 28)));
        Exception? error = null;
        var other = new Thread(() => { try { model.Forward(Batch(2)); } catch (Exception e) { error = e; } });
        other.Start();
        other.Join();
        Assert.That(error, Is.Null, "a throwing Forward must not leave the module claimed");
    }

    [Test]
    public void TwoTrainingLoopsOnOneModelAreRefusedInsteadOfCorruptingIt()
    {
        var model = new LeNet5(numClasses: 5, seed: 2);
        var sgd = new Sgd(model.Parameters(), lr: 0.01f);
        int refused = 0, completed = 0;
        var unexpected = new List<Exception>();
        using var start = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            var loss = new SoftmaxCrossEntropy();
            start.SignalAndWait();
            for (int step = 0; step < 200 && Volatile.Read(ref refused) == 0; step++)
            {
                try
                {
                    var logits = model.Forward(Batch(t * 1000 + step, n: 4));
                    loss.Forward(logits, [0, 1, 2, 3]);
                    model.Backward(loss.Backward());
                    Interlocked.Increment(ref completed);
                }
                catch (InvalidOperationException e) when (e.Message.Contains("training-mode")) { Interlocked.Increment(ref refused); }
                catch (Exception e) { lock (unexpected) unexpected.Add(e); }
            }
        })).ToList();
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        Assert.That(unexpected, Is.Empty, "only the clear refusal, never an index or shape error from torn caches");
        Assert.That(refused, Is.GreaterThan(0), $"two threads training one model overlapped and were refused ({completed} steps completed)");
        Assert.That(sgd.Parameters.All(p => p.Value.ToArray().All(float.IsFinite)), Is.True);
    }
}
