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
