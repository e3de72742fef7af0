using ConvEngine.Data;
using NUnit.Framework;

namespace ConvEngine.Tests.Data;

public class DataLoaderTests
{
    /// <summary>A dataset whose image i is filled with a pattern that identifies i: pixel (c, y, x) = (i·1000 + c·100 + y·10 + x) / 1e5.</summary>
    private static Dataset Indexed(int count, int channels = 1, int h = 4, int w = 5, int classes = 3)
    {
        int size = channels * h * w;
        var images = new float[count * size];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = (i * 7) % classes;
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        images[i * size + (c * h + y) * w + x] = (i * 1000 + c * 100 + y * 10 + x) / 1e5f;
        }
        return new Dataset(images, labels, channels, h, w, Enumerable.Range(0, classes).Select(k => $"c{k}").ToArray(), "indexed");
    }

    private static List<(float[] Images, int[] Labels, int Index, int[] Shape)> Collect(DataLoader loader, int epoch) =>
        loader.Epoch(epoch).Select(b => { using (b) return (b.Images.ToArray(), b.Labels, b.Index, b.Images.Shape); }).ToList();

    [Test]
    public void EpochIsASeededPermutationAndBatchesFollowIt([Values(0, 2)] int prefetch)
    {
        var ds = Indexed(23);
        using var loader = new DataLoader(ds, 5, new DataLoaderOptions { Seed = 3, Prefetch = prefetch });
        var order = loader.Order(0);
        Assert.That(order.OrderBy(i => i), Is.EqualTo(Enumerable.Range(0, 23)), "a permutation");
        Assert.That(order, Is.Not.EqualTo(Enumerable.Range(0, 23)), "shuffled");
        var batches = Collect(loader, 0);
        Assert.That(batches.Select(b => b.Index), Is.EqualTo(Enumerable.Range(0, 5)));
        Assert.That(batches.Select(b => b.Labels.Length), Is.EqualTo(new[] { 5, 5, 5, 5, 3 }), "last partial batch kept");
        Assert.That(batches[^1].Shape, Is.EqualTo(new[] { 3, 1, 4, 5 }));
        int pos = 0;
        foreach (var b in batches)
            for (int i = 0; i < b.Labels.Length; i++, pos++)
            {
                int src = order[pos];
                Assert.That(b.Labels[i], Is.EqualTo(ds.Label(src)));
                Assert.That(b.Images.AsSpan(i * 20, 20).ToArray(), Is.EqualTo(ds.Image(src).ToArray()), $"sample {pos}");
            }
    }

    [Test]
    public void OutputIsDeterministicAcrossLoadersAndPrefetchModesAndEpochsDiffer()
    {
        var ds = Shapes.Generate(37, seed: 1);
        var opts = new DataLoaderOptions { Seed = 11, RandomCropPadding = 2, HorizontalFlip = true, Mean = [0.2f], Std = [0.3f] };
        using var a = new DataLoader(ds, 8, opts);
        using var b = new DataLoader(ds, 8, opts with { Prefetch = 0 });
        using var c = new DataLoader(ds, 8, opts with { Prefetch = 1 });
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var ea = Collect(a, epoch); var eb = Collect(b, epoch); var ec = Collect(c, epoch);
            for (int i = 0; i < ea.Count; i++)
            {
                Assert.That(eb[i].Images, Is.EqualTo(ea[i].Images), $"epoch {epoch} batch {i}");
                Assert.That(ec[i].Images, Is.EqualTo(ea[i].Images), $"epoch {epoch} batch {i}");
                Assert.That(eb[i].Labels, Is.EqualTo(ea[i].Labels));
            }
        }
        Assert.That(a.Order(1), Is.Not.EqualTo(a.Order(0)), "the epoch number mixes into the seed");
        using var otherSeed = new DataLoader(ds, 8, opts with { Seed = 12 });
        Assert.That(otherSeed.Order(0), Is.Not.EqualTo(a.Order(0)));
    }

    [Test]
    public void NoShuffleKeepsDatasetOrderAndDropLastDropsThePartialBatch()
    {
        var ds = Indexed(10);
        using var loader = new DataLoader(ds, 4, new DataLoaderOptions { Shuffle = false, DropLast = true });
        Assert.That(loader.BatchCount, Is.EqualTo(2));
        var batches = Collect(loader, 5);
        Assert.That(batches.Select(b => b.Labels.Length), Is.EqualTo(new[] { 4, 4 }));
        Assert.That(batches.SelectMany(b => b.Images).ToArray(), Is.EqualTo(ds.Images[..(8 * 20)].ToArray()));
        using var keep = new DataLoader(ds, 4, new DataLoaderOptions { Shuffle = false });
        Assert.That(keep.BatchCount, Is.EqualTo(3));
    }

    [Test]
    public void NormalisationIsPerChannel()
    {
        var ds = Indexed(6, channels: 2);
        float[] mean = [0.01f, 0.02f], std = [0.5f, 0.25f];
        using var loader = new DataLoader(ds, 4, new DataLoaderOptions { Shuffle = false, Mean = mean, Std = std });
        var batches = Collect(loader, 0);
        var got = batches.SelectMany(b => b.Images).ToArray();
        var src = ds.Images.ToArray();
        var expected = new float[src.Length];
        for (int i = 0; i < src.Length; i++) { int c = i / 20 % 2; expected[i] = (src[i] - mean[c]) / std[c]; }
        TestUtil.AssertClose(got, expected, rtol: 1e-6, atol: 1e-6, what: "normalised");
    }

    [Test]
    public void AugmentedImagesAreShiftedOrFlippedCopiesWithZeroPadding()
    {
        var ds = Indexed(40, h: 6, w: 7);
        const int P = 2;
        using var loader = new DataLoader(ds, 16, new DataLoaderOptions { Seed = 4, RandomCropPadding = P, HorizontalFlip = true });
        var order = loader.Order(0);
        int pos = 0, flips = 0, shifted = 0;
        foreach (var b in Collect(loader, 0))
        {
            Assert.That(b.Shape[1..], Is.EqualTo(new[] { 1, 6, 7 }));
            for (int i = 0; i < b.Labels.Length; i++, pos++)
            {
                var got = b.Images.AsSpan(i * 42, 42).ToArray();
                var src = ds.Image(order[pos]).ToArray();
                var match = (from dy in Enumerable.Range(-P, 2 * P + 1)
                             from dx in Enumerable.Range(-P, 2 * P + 1)
                             from flip in new[] { false, true }
                             where Transform(src, 6, 7, dx, dy, flip).SequenceEqual(got)
                             select (dx, dy, flip)).ToList();
                Assert.That(match, Is.Not.Empty, $"sample {pos} is a crop/flip of its source");
                if (match.All(m => m.flip)) flips++;
                if (match.All(m => m.dx != 0 || m.dy != 0)) shifted++;
            }
        }
        Assert.That(flips, Is.InRange(5, 35), "about half the images are flipped");
        Assert.That(shifted, Is.GreaterThan(25), "most images are shifted");
    }

    private static float[] Transform(float[] src, int h, int w, int dx, int dy, bool flip)
    {
        var r = new float[h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int sy = y + dy, sx = (flip ? w - 1 - x : x) + dx;
                r[y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[sy * w + sx] : 0f;
            }
        return r;
    }

    [Test]
    public void BatchesLandOnTheRequestedDevice()
    {
        using var loader = new DataLoader(Indexed(5), 2, new DataLoaderOptions { Device = ReferenceDevice.Instance });
        foreach (var b in loader.Epoch(0))
            Assert.That(b.Images.Device, Is.SameAs(ReferenceDevice.Instance));
    }

    [Test]
    public void CancellationStopsTheIterationAndTheWorker([Values(0, 2)] int prefetch)
    {
        var ds = Indexed(200);
        using var loader = new DataLoader(ds, 3, new DataLoaderOptions { Seed = 1, Prefetch = prefetch });
        using var cts = new CancellationTokenSource();
        int seen = 0;
        Assert.Throws(Is.InstanceOf<OperationCanceledException>(), () =>
        {
            foreach (var b in loader.Epoch(0, cts.Token))
            {
                seen++;
                if (seen == 3) cts.Cancel();
            }
        });
        Assert.That(seen, Is.EqualTo(3));
        // The loader still works for the next epoch after a cancelled one.
        Assert.That(loader.Epoch(1).Count(), Is.EqualTo(loader.BatchCount));
    }

    [Test]
    public void BreakingEarlyAndDisposingStopTheWorker()
    {
        var ds = Indexed(300);
        var loader = new DataLoader(ds, 2, new DataLoaderOptions { Prefetch = 2 });
        var first = loader.Epoch(0).Take(2).Select(b => b.Index).ToList();
        Assert.That(first, Is.EqualTo(new[] { 0, 1 }));
        using var e = loader.Epoch(1).GetEnumerator();
        Assert.That(e.MoveNext(), Is.True);
        loader.Dispose();
        Assert.Throws(Is.InstanceOf<OperationCanceledException>().Or.InstanceOf<ObjectDisposedException>(), () => { while (e.MoveNext()) { } });
        Assert.Throws<ObjectDisposedException>(() => loader.Epoch(2));
    }

    [Test]
    public void WorkerRunsAheadByPrefetchBatchesAndNoMore([Values(1, 3)] int prefetch)
    {
        var ds = Indexed(100);
        using var loader = new DataLoader(ds, 4, new DataLoaderOptions { Prefetch = prefetch });
        using var e = loader.Epoch(0).GetEnumerator();
        Assert.That(e.MoveNext(), Is.True);
        // While the consumer holds batch 0, the worker queues the next `prefetch` batches, then waits (bounded queue).
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (loader.BatchesQueued < 1 + prefetch && DateTime.UtcNow < deadline) Thread.Sleep(1);
        Assert.That(loader.BatchesQueued, Is.EqualTo(1 + prefetch), "prepared ahead");
        Thread.Sleep(50);
        Assert.That(loader.BatchesQueued, Is.EqualTo(1 + prefetch), "bounded");
        Assert.That(e.MoveNext(), Is.True);
        Assert.That(e.Current.Index, Is.EqualTo(1));
    }

    [Test]
    public void RejectsBadOptions()
    {
        var ds = Indexed(4, channels: 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(ds, 0));
        Assert.Throws<ArgumentException>(() => new DataLoader(ds, 2, new DataLoaderOptions { Std = [1f, 0f] }));
        Assert.Throws<ArgumentException>(() => new DataLoader(ds, 2, new DataLoaderOptions { Mean = [1f, 0f, 2f] }));
        Assert.Throws<ArgumentException>(() => new DataLoader(ds, 2, new DataLoaderOptions { RandomCropPadding = -1 }));
    }
}
