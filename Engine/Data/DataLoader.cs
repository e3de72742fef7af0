// DataLoader: mini-batches over a Dataset, produced ahead on a worker thread.
//
// Epoch e visits a permutation of [0, Count): with Shuffle it is a Fisher–Yates shuffle driven by Rng.Hash(seed, stream(e), ·),
// so the epoch number mixes into the seed; without Shuffle it is the identity. Batch b holds positions [b·B, min((b+1)·B, Count)),
// the last partial batch is kept unless DropLast. Per sample, in this order:
//   1. augmentation (optional): random crop with zero padding P (shift dx, dy uniform in [−P, P], uncovered pixels = 0 in
//      the [0, 1] pixel space) and horizontal flip with probability 1/2; randomness is a pure function of (seed, epoch, position);
//   2. normalisation: x' = (x − mean[c]) / std[c].
// Output: Batch.Images (n, C, H, W) on the chosen device, Batch.Labels (n). The worker fills pooled host buffers (Prefetch of
// them queued at most) and the consuming thread copies each into a fresh device tensor, so device calls stay on the caller's
// thread. The order and contents are a pure function of (dataset, options, epoch): timing never changes them.
using System.Collections.Concurrent;

namespace ConvEngine.Data;

/// <summary>Options of a <see cref="DataLoader"/>.</summary>
public sealed record DataLoaderOptions
{
    /// <summary>Whether each epoch visits the samples in a seeded random order (default true).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>The seed of shuffling and augmentation.</summary>
    public int Seed { get; init; }

    /// <summary>Whether to drop the last batch when it is smaller than the batch size (default false: kept).</summary>
    public bool DropLast { get; init; }

    /// <summary>Per-channel mean subtracted after augmentation (one value, or one per channel); null for none.</summary>
    public float[]? Mean { get; init; }

    /// <summary>Per-channel standard deviation divided by after subtracting <see cref="Mean"/>; null for none. Values must be positive.</summary>
    public float[]? Std { get; init; }

    /// <summary>Random-crop padding P in pixels (0 = no random crop).</summary>
    public int RandomCropPadding { get; init; }

    /// <summary>Whether to flip images horizontally with probability 1/2.</summary>
    public bool HorizontalFlip { get; init; }

    /// <summary>How many batches the worker thread prepares ahead (0 = produce synchronously on the consuming thread). Default 2.</summary>
    public int Prefetch { get; init; } = 2;

    /// <summary>The device that receives the batch tensors (default <see cref="CpuDevice.Default"/>).</summary>
    public IDevice? Device { get; init; }
}

/// <summary>One mini-batch: images (n, C, H, W) on the loader's device and their labels.</summary>
public sealed class Batch : IDisposable
{
    internal Batch(Tensor images, int[] labels, int index, int epoch)
    {
        Images = images;
        Labels = labels;
        Index = index;
        Epoch = epoch;
    }

    /// <summary>The images, (n, C, H, W), augmented and normalised.</summary>
    public Tensor Images { get; }

    /// <summary>The n labels.</summary>
    public int[] Labels { get; }

    /// <summary>The batch's index within its epoch (0-based).</summary>
    public int Index { get; }

    /// <summary>The epoch this batch belongs to.</summary>
    public int Epoch { get; }

    /// <summary>The number of samples n.</summary>
    public int Count => Labels.Length;

    /// <summary>Releases the image tensor's device memory.</summary>
    public void Dispose() => Images.Dispose();
}

/// <summary>
/// Iterates a <see cref="Dataset"/> in mini-batches with seeded per-epoch shuffling, optional augmentation and normalisation,
/// preparing batches ahead on a worker thread. Enumerate <see cref="Epoch"/> once per epoch; disposing stops the worker.
/// </summary>
public sealed class DataLoader : IDisposable
{
    private readonly Dataset _data;
    private readonly DataLoaderOptions _o;
    private readonly float[] _mean, _invStd;
    private readonly IDevice _device;
    private readonly CancellationTokenSource _disposed = new();
    private int _isDisposed;
    private int _queued;

    /// <summary>How many batches the worker of the current (latest) epoch has queued so far (for tests and diagnostics).</summary>
    internal int BatchesQueued => Volatile.Read(ref _queued);

    /// <summary>Creates a loader over <paramref name="dataset"/>.</summary>
    /// <param name="dataset">The samples.</param>
    /// <param name="batchSize">The batch size (≥ 1).</param>
    /// <param name="options">Shuffling, augmentation, normalisation, prefetch and device; defaults when null.</param>
    public DataLoader(Dataset dataset, int batchSize, DataLoaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _data = dataset;
        _o = options ?? new DataLoaderOptions();
        BatchSize = batchSize;
        _device = _o.Device ?? CpuDevice.Default;
        if (_o.RandomCropPadding < 0)
            throw new ArgumentException($"RandomCropPadding must be ≥ 0 but is {_o.RandomCropPadding}.", nameof(options));
        if (_o.Prefetch < 0)
            throw new ArgumentException($"Prefetch must be ≥ 0 but is {_o.Prefetch}.", nameof(options));
        int c = dataset.Channels;
        _mean = PerChannel(_o.Mean, c, 0f, "Mean");
        var std = PerChannel(_o.Std, c, 1f, "Std");
        _invStd = new float[c];
        for (int i = 0; i < c; i++)
        {
            if (!(std[i] > 0) || float.IsInfinity(std[i]))
                throw new ArgumentException($"Std[{i}] must be positive and finite but is {std[i]}.", nameof(options));
            _invStd[i] = 1f / std[i];
        }
    }

    private static float[] PerChannel(float[]? v, int channels, float dflt, string what)
    {
        if (v is null) return Enumerable.Repeat(dflt, channels).ToArray();
        if (v.Length == 1) return Enumerable.Repeat(v[0], channels).ToArray();
        if (v.Length != channels)
            throw new ArgumentException($"{what} must have 1 or {channels} values (one per channel) but has {v.Length}.", "options");
        return (float[])v.Clone();
    }

    /// <summary>The batch size.</summary>
    public int BatchSize { get; }

    /// <summary>The dataset being iterated.</summary>
    public Dataset Dataset => _data;

    /// <summary>The number of batches per epoch.</summary>
    public int BatchCount => _o.DropLast ? _data.Count / BatchSize : (_data.Count + BatchSize - 1) / BatchSize;

    /// <summary>
    /// The batches of epoch <paramref name="epoch"/> in order. Each enumeration starts its own worker (unless Prefetch is 0);
    /// stopping early (break) or cancelling stops it. Cancellation throws <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <param name="epoch">The epoch number, mixed into the shuffling and augmentation seed.</param>
    /// <param name="cancellationToken">Stops the iteration and the worker.</param>
    public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_isDisposed != 0, this);
        return _o.Prefetch == 0 ? Synchronous(epoch, cancellationToken) : Prefetched(epoch, cancellationToken);
    }

    /// <summary>The sample order of epoch <paramref name="epoch"/> (the dataset indices, in visiting order).</summary>
    /// <param name="epoch">The epoch number.</param>
    public int[] Order(int epoch)
    {
        var order = new int[_data.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (_o.Shuffle) Dataset.Shuffle(order, (ulong)_o.Seed, EpochStream(epoch, 0));
        return order;
    }

    private static ulong EpochStream(int epoch, ulong purpose) => ((ulong)(uint)epoch << 8) | purpose;

    private IEnumerable<Batch> Synchronous(int epoch, CancellationToken ct)
    {
        var order = Order(epoch);
        var host = new float[BatchSize * _data.ImageSize];
        for (int b = 0; b < BatchCount; b++)
        {
            ct.ThrowIfCancellationRequested();
            ObjectDisposedException.ThrowIf(_isDisposed != 0, this);
            var labels = Fill(order, epoch, b, host);
            yield return Upload(host, labels, b, epoch);
        }
    }

    private IEnumerable<Batch> Prefetched(int epoch, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, _disposed.Token);
        int depth = _o.Prefetch;
        using var free = new BlockingCollection<float[]>(depth + 1);
        using var ready = new BlockingCollection<(float[] Host, int[] Labels, int Index)>(depth);
        for (int i = 0; i < depth + 1; i++) free.Add(new float[BatchSize * _data.ImageSize]);
        var order = Order(epoch);
        Exception? failure = null;
        Volatile.Write(ref _queued, 0);
        var worker = new Thread(() =>
        {
            try
            {
                for (int b = 0; b < BatchCount; b++)
                {
                    var host = free.Take(stop.Token);
                    var labels = Fill(order, epoch, b, host);
                    ready.Add((host, labels, b), stop.Token);
                    Interlocked.Increment(ref _queued);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            catch (Exception e) { failure = e; }
            finally { ready.CompleteAdding(); }
        })
        { IsBackground = true, Name = "DataLoader worker" };
        worker.Start();
        try
        {
            for (int b = 0; b < BatchCount; b++)
            {
                if (!ready.TryTake(out var item, Timeout.Infinite, stop.Token))
                {
                    // The worker finished early: it failed, or it was stopped by cancellation/disposal.
                    if (failure is not null) throw new InvalidOperationException($"The DataLoader worker failed while preparing batch {b}: {failure.Message}", failure);
                    ct.ThrowIfCancellationRequested();
                    throw new ObjectDisposedException(nameof(DataLoader));
                }
                var batch = Upload(item.Host, item.Labels, item.Index, epoch);
                free.Add(item.Host);
                yield return batch;
            }
        }
        finally
        {
            stop.Cancel();
            worker.Join();
        }
    }

    private Batch Upload(float[] host, int[] labels, int index, int epoch)
    {
        int n = labels.Length;
        var t = new Tensor(_device, n, _data.Channels, _data.Height, _data.Width);
        _device.CopyFromHost(host.AsSpan(0, n * _data.ImageSize), t.Buffer, 0);
        return new Batch(t, labels, index, epoch);
    }

    /// <summary>Writes batch <paramref name="b"/> of the epoch into <paramref name="host"/> and returns its labels.</summary>
    private int[] Fill(int[] order, int epoch, int b, float[] host)
    {
        int start = b * BatchSize;
        int n = Math.Min(BatchSize, _data.Count - start);
        var labels = new int[n];
        int size = _data.ImageSize, C = _data.Channels, H = _data.Height, W = _data.Width, P = _o.RandomCropPadding;
        var images = _data.Images;
        for (int i = 0; i < n; i++)
        {
            int pos = start + i, idx = order[pos];
            labels[i] = _data.Label(idx);
            var src = images.Slice(idx * size, size);
            var dst = host.AsSpan(i * size, size);
            int dx = 0, dy = 0; bool flip = false;
            if (P > 0 || _o.HorizontalFlip)
            {
                ulong stream = EpochStream(epoch, 1);
                ulong h = Rng.Hash((ulong)_o.Seed, stream, (ulong)pos);
                if (P > 0)
                {
                    dx = (int)(h % (ulong)(2 * P + 1)) - P;
                    dy = (int)((h >> 20) % (ulong)(2 * P + 1)) - P;
                }
                flip = _o.HorizontalFlip && ((h >> 63) & 1) == 1;
            }
            for (int c = 0; c < C; c++)
            {
                float m = _mean[c], s = _invStd[c];
                for (int y = 0; y < H; y++)
                {
                    int sy = y + dy;
                    var drow = dst.Slice((c * H + y) * W, W);
                    if ((uint)sy >= (uint)H)
                    {
                        drow.Fill((0f - m) * s);
                        continue;
                    }
                    var srow = src.Slice((c * H + sy) * W, W);
                    for (int x = 0; x < W; x++)
                    {
                        int sx = (flip ? W - 1 - x : x) + dx;
                        float v = (uint)sx < (uint)W ? srow[sx] : 0f;
                        drow[x] = (v - m) * s;
                    }
                }
            }
        }
        return labels;
    }

    /// <summary>Stops any running worker; further <see cref="Epoch"/> calls throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _isDisposed, 1) != 0) return;
        _disposed.Cancel();
    }
}
