using ConvEngine.Data;
using ConvEngine.Losses;
using ConvEngine.Models;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Reliability;

/// <summary>Long runs keep a flat managed heap: layers replace their caches, kernels reuse or return their scratch buffers.</summary>
[NonParallelizable]
public class ResourceTests
{
    public const int Steps = 1000, WarmUp = 100;
    private const long MarginBytes = 2L << 20;

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    [Test]
    public void AThousandLeNet5TrainStepsKeepTheHeapFlat()
    {
        var data = Shapes.Generate(256, seed: 3);
        var model = new LeNet5(numClasses: 5, seed: 1);
        var sgd = new Sgd(model.Parameters(), lr: 0.01f, momentum: 0.9f);
        var loss = new SoftmaxCrossEntropy();
        using var loader = new DataLoader(data, batchSize: 8, new DataLoaderOptions { Seed = 1, DropLast = true });
        long afterWarmUp = 0, allocatedAfterWarmUp = 0;
        int step = 0;
        for (int epoch = 0; step < Steps; epoch++)
            foreach (var batch in loader.Epoch(epoch))
            {
                using (batch)
                {
                    using var logits = model.Forward(batch.Images);
                    loss.Forward(logits, batch.Labels);
                    model.ZeroGrad();
                    using var dX = model.Backward(loss.Backward());
                    sgd.Step();
                }
                if (++step == WarmUp) { afterWarmUp = Heap(); allocatedAfterWarmUp = GC.GetTotalAllocatedBytes(); }
                if (step == Steps) break;
            }
        long after = Heap();
        double perStep = (GC.GetTotalAllocatedBytes() - allocatedAfterWarmUp) / (double)(Steps - WarmUp);
        TestContext.Out.WriteLine($"heap after {WarmUp} steps {afterWarmUp / 1024.0:F0} KiB, after {Steps} steps {after / 1024.0:F0} KiB; {perStep / 1024.0:F0} KiB allocated per step (collected)");
        Assert.That(after, Is.LessThanOrEqualTo(afterWarmUp + MarginBytes), "the heap grows with the number of steps");
    }

    [Test]
    public void DisposedTensorsAndLoadersLeaveNothingBehind()
    {
        var device = new CpuDevice(threads: 2);
        long before = 0;
        for (int i = 0; i < 100; i++)
        {
            if (i == 10) before = Heap();
            using var t = Tensor.Zeros(device, 1024, 1024);          // 4 MB each
            using var u = t.Clone();
            device.Add(t, u, u);
        }
        long afterTensors = Heap();
        Assert.That(afterTensors, Is.LessThanOrEqualTo(before + MarginBytes), "4 MB tensors, created and disposed 100 times");

        var data = Shapes.Generate(64, seed: 1);
        int threadsBefore = System.Diagnostics.Process.GetCurrentProcess().Threads.Count;
        for (int i = 0; i < 50; i++)
        {
            using var loader = new DataLoader(data, 8, new DataLoaderOptions { Prefetch = 2 });
            foreach (var b in loader.Epoch(i)) { b.Dispose(); break; }   // stop early: the prefetch worker must end
        }
        Assert.That(Heap(), Is.LessThanOrEqualTo(afterTensors + MarginBytes), "50 abandoned loaders");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int threadsAfter;
        while ((threadsAfter = System.Diagnostics.Process.GetCurrentProcess().Threads.Count) > threadsBefore + 8 && sw.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(20);
        Assert.That(threadsAfter, Is.LessThanOrEqualTo(threadsBefore + 8), "loader workers end when the loader is disposed");
    }
}
