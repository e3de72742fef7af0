using System.Diagnostics;
using NUnit.Framework;

namespace ConvEngine.Tests.Devices;

/// <summary>The fork-join pool behind CpuDevice.ParallelFor: every item exactly once, errors surface, no deadlock when nested or contended.</summary>
public class WorkerPoolTests
{
    [Test]
    public void EveryItemRunsExactlyOnce([Values(1, 2, 3, 8)] int threads)
    {
        var dev = new CpuDevice(threads);
        foreach (int count in new[] { 0, 1, 2, 3, 17, 1000 })
        {
            for (int round = 0; round < 20; round++)
            {
                var hits = new int[count];
                dev.ParallelFor(count, i => Interlocked.Increment(ref hits[i]));
                Assert.That(hits, Is.All.EqualTo(1), $"count {count}, round {round}");
            }
        }
    }

    // A job can find the worker still spinning in its semaphore's wait (jobs back to back) or blocked in the kernel (after a
    // pause), and the caller's join can end while spinning or after blocking on the done event, whose previous set may
    // still be pending: pauses from none to 20 ms take every one of those paths.
    [Test]
    public void ItemsRunExactlyOnceAfterPausesOfAnyLength()
    {
        var dev = new CpuDevice(2);
        int[] pausesMicroseconds = [0, 0, 5, 50, 200, 1000, 3000, 0, 20000];
        for (int round = 0; round < 3; round++)
            foreach (int pause in pausesMicroseconds)
            {
                var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency * pause / 1_000_000;
                while (Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
                var hits = new int[37];
                dev.ParallelFor(hits.Length, i => Interlocked.Increment(ref hits[i]));
                Assert.That(hits, Is.All.EqualTo(1), $"after a pause of {pause} µs, round {round}");
            }
    }

    // Two items that each wait for the other to have started can only both finish if a worker really ran one of them
    // alongside the caller: the worker must join both right after a job and after a pause long enough for it to block.
    [Test]
    public void AWorkerJoinsTheCallerRightAfterAJobAndAfterAPause([Values(0, 20)] int pauseMilliseconds)
    {
        if (Environment.ProcessorCount < 2) Assert.Ignore($"needs two cores for a worker thread; this machine has {Environment.ProcessorCount}");
        var dev = new CpuDevice(2);
        dev.ParallelFor(2, _ => { });   // the worker has just finished a job
        if (pauseMilliseconds > 0) Thread.Sleep(pauseMilliseconds);   // long enough for it to block on its semaphore
        using var started0 = new ManualResetEventSlim();
        using var started1 = new ManualResetEventSlim();
        var sawOther = new bool[2];
        dev.ParallelFor(2, i =>
        {
            (i == 0 ? started0 : started1).Set();
            sawOther[i] = (i == 0 ? started1 : started0).Wait(TimeSpan.FromSeconds(10));
        });
        Assert.That(sawOther, Is.All.True, "both items ran at the same time, one of them on a worker");
    }

    [Test]
    public void AnExceptionInABodyReachesTheCallerAndThePoolStaysUsable()
    {
        var dev = new CpuDevice(2);
        var ex = Assert.Throws<InvalidOperationException>(() => dev.ParallelFor(100, i => { if (i == 37) throw new InvalidOperationException("item 37"); }))!;
        Assert.That(ex.Message, Is.EqualTo("item 37"));
        var hits = new int[64];
        dev.ParallelFor(64, i => Interlocked.Increment(ref hits[i]));
        Assert.That(hits, Is.All.EqualTo(1));
    }

    [Test]
    public void NestedAndConcurrentCallsComplete()
    {
        var dev = new CpuDevice(2);
        var outer = new int[8];
        var inner = new int[8 * 16];
        dev.ParallelFor(8, i =>
        {
            dev.ParallelFor(16, j => Interlocked.Increment(ref inner[i * 16 + j]));
            Interlocked.Increment(ref outer[i]);
        });
        Assert.That(outer, Is.All.EqualTo(1));
        Assert.That(inner, Is.All.EqualTo(1));

        var totals = new long[4];
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            for (int r = 0; r < 200; r++)
            {
                long sum = 0;
                var parts = new long[50];
                dev.ParallelFor(50, i => parts[i] = i + 1);
                foreach (var p in parts) sum += p;
                Interlocked.Add(ref totals[t], sum);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        Assert.That(threads.All(t => t.Join(TimeSpan.FromSeconds(60))), "no deadlock");
        Assert.That(totals, Is.All.EqualTo(200L * 50 * 51 / 2));
    }
}
