using ConvEngine.Reference;

namespace ConvEngine;

/// <summary>
/// The common base of devices whose tensors live in host memory (<see cref="HostBuffer"/>). Every primitive defaults
/// to the naive loop nest in <c>Reference/</c>; <see cref="CpuDevice"/> overrides them with SIMD, threaded kernels,
/// and <see cref="ReferenceDevice"/> keeps the defaults, which makes it the oracle that tests compare against.
/// </summary>
public abstract class HostDevice : IDevice
{
    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <summary>The elements of a host tensor; throws when the tensor belongs to a non-host device.</summary>
    protected static Span<float> S(Tensor t) => t.Buffer is HostBuffer h
        ? h.Data.AsSpan(0, t.Length)
        : throw new ArgumentException($"Tensor '{t.Name ?? "(unnamed)"}' {t.ShapeString} lives on {t.Device.Name}, not in host memory.");

    /// <summary>The raw array behind a host tensor.</summary>
    protected static float[] A(Tensor t) => t.Buffer is HostBuffer h
        ? h.Data
        : throw new ArgumentException($"Tensor '{t.Name ?? "(unnamed)"}' {t.ShapeString} lives on {t.Device.Name}, not in host memory.");

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="arg"/> unless <paramref name="t"/> has at least <paramref name="length"/> elements.</summary>
    protected static void NeedLength(Tensor t, long length, string arg) => DeviceArgs.NeedLength(t, length, arg);

    /// <inheritdoc/>
    public virtual DeviceBuffer Allocate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new HostBuffer(this, length);
    }

    /// <inheritdoc/>
    public virtual void CopyFromHost(ReadOnlySpan<float> source, DeviceBuffer destination, int offset) =>
        source.CopyTo(((HostBuffer)destination).Data.AsSpan(offset, source.Length));

    /// <inheritdoc/>
    public virtual void CopyToHost(DeviceBuffer source, int offset, Span<float> destination) =>
        ((HostBuffer)source).Data.AsSpan(offset, destination.Length).CopyTo(destination);

    /// <inheritdoc/>
    public virtual void Copy(DeviceBuffer source, int sourceOffset, DeviceBuffer destination, int destinationOffset, int length) =>
        ((HostBuffer)source).Data.AsSpan(sourceOffset, length).CopyTo(((HostBuffer)destination).Data.AsSpan(destinationOffset, length));

    /// <inheritdoc/>
    public virtual void Fill(Tensor x, float value) => S(x).Fill(value);

    /// <inheritdoc/>
    public virtual void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, Tensor a, int aOffset, int lda, Tensor b, int bOffset, int ldb, float beta, Tensor c, int cOffset, int ldc)
    {
        if (m == 0 || n == 0) return;
        NaiveBlas.Gemm(transA, transB, m, n, k, alpha, A(a).AsSpan(aOffset), lda, A(b).AsSpan(bOffset), ldb, beta, A(c).AsSpan(cOffset), ldc);
    }

    /// <inheritdoc/>
    public virtual void Unary(UnaryOp op, float alpha, Tensor x, Tensor y) => NaiveElementwise.Unary(op, alpha, S(x), S(y));

    /// <inheritdoc/>
    public virtual void UnaryBackward(UnaryOp op, float alpha, Tensor x, Tensor y, Tensor dY, Tensor dX) =>
        NaiveElementwise.UnaryBackward(op, alpha, S(x), S(y), S(dY), S(dX));

    /// <inheritdoc/>
    public virtual void Add(Tensor a, Tensor b, Tensor y)
    {
        Span<float> sa = S(a), sb = S(b), sy = S(y);
        for (int i = 0; i < sy.Length; i++) sy[i] = sa[i] + sb[i];
    }

    /// <inheritdoc/>
    public virtual void Multiply(Tensor a, Tensor b, Tensor y)
    {
        Span<float> sa = S(a), sb = S(b), sy = S(y);
        for (int i = 0; i < sy.Length; i++) sy[i] = sa[i] * sb[i];
    }

    /// <inheritdoc/>
    public virtual void Axpby(float alpha, Tensor x, float beta, Tensor y)
    {
        Span<float> sx = S(x), sy = S(y);
        for (int i = 0; i < sy.Length; i++) sy[i] = alpha * sx[i] + (beta == 0 ? 0 : beta * sy[i]);
    }

    /// <inheritdoc/>
    public virtual double Sum(Tensor x)
    {
        double s = 0;
        foreach (var v in S(x)) s += v;
        return s;
    }

    /// <inheritdoc/>
    public virtual double SumOfSquares(Tensor x)
    {
        double s = 0;
        foreach (var v in S(x)) s += (double)v * v;
        return s;
    }

    /// <inheritdoc/>
    public virtual void AddChannelBias(Tensor y, Tensor bias, int outer, int channels, int inner) =>
        NaiveElementwise.AddChannelBias(S(y), S(bias), outer, channels, inner);

    /// <inheritdoc/>
    public virtual void ChannelScale(Tensor x, Tensor scale, int outer, int channels, int inner, Tensor y) =>
        NaiveElementwise.ChannelScale(S(x), S(scale), outer, channels, inner, S(y));

    /// <inheritdoc/>
    public virtual void ChannelDot(Tensor a, Tensor? b, int outer, int channels, int inner, Tensor result, bool accumulate) =>
        NaiveElementwise.ChannelDot(S(a), b is null ? default : S(b), outer, channels, inner, S(result), accumulate);

    /// <inheritdoc/>
    public virtual void Im2Col(Tensor x, int image, in ConvGeometry g, Tensor col)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(image);
        int per = DeviceArgs.Batch(x, image, 1, g, col, nameof(x), nameof(col));
        NaiveConv.Im2Col(S(x).Slice(image * per, per), g, S(col));
    }

    /// <inheritdoc/>
    public virtual void Col2Im(Tensor col, in ConvGeometry g, Tensor dX, int image)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(image);
        int per = DeviceArgs.Batch(dX, image, 1, g, col, nameof(dX), nameof(col));
        NaiveConv.Col2Im(S(col), g, S(dX).Slice(image * per, per));
    }

    /// <inheritdoc/>
    public virtual void Im2ColBatch(Tensor x, int firstImage, int images, in ConvGeometry g, Tensor col)
    {
        int per = DeviceArgs.Batch(x, firstImage, images, g, col, nameof(x), nameof(col));
        NaiveConv.Im2ColBatch(S(x).Slice(firstImage * per, images * per), images, g, S(col));
    }

    /// <inheritdoc/>
    public virtual void Col2ImBatch(Tensor col, in ConvGeometry g, Tensor dX, int firstImage, int images)
    {
        int per = DeviceArgs.Batch(dX, firstImage, images, g, col, nameof(dX), nameof(col));
        NaiveConv.Col2ImBatch(S(col), images, g, S(dX).Slice(firstImage * per, images * per));
    }

    /// <inheritdoc/>
    public virtual void SwapAxes(Tensor x, int xOffset, int rows, int cols, int inner, Tensor y, int yOffset)
    {
        long len = DeviceArgs.Swap(x, xOffset, rows, cols, inner, y, yOffset);
        NaiveConv.SwapAxes(S(x).Slice(xOffset, (int)len), rows, cols, inner, S(y).Slice(yOffset, (int)len));
    }

    /// <inheritdoc/>
    public virtual void Pad2d(Tensor x, PaddingMode mode, Padding2d pad, Tensor y)
    {
        var (planes, h, w) = Planes(x);
        NeedLength(y, (long)planes * (h + pad.Top + pad.Bottom) * (w + pad.Left + pad.Right), nameof(y));
        NaiveConv.Pad2d(S(x), planes, h, w, mode, pad, S(y));
    }

    /// <inheritdoc/>
    public virtual void Pad2dBackward(Tensor dY, PaddingMode mode, Padding2d pad, Tensor dX)
    {
        var (planes, h, w) = Planes(dX);
        NeedLength(dY, (long)planes * (h + pad.Top + pad.Bottom) * (w + pad.Left + pad.Right), nameof(dY));
        NaiveConv.Pad2dBackward(S(dY), planes, h, w, mode, pad, S(dX));
    }

    /// <inheritdoc/>
    public virtual void MaxPool2d(Tensor x, in PoolGeometry g, Tensor y)
    {
        int planes = PlaneCount(x, g);
        NeedLength(y, (long)planes * g.OutH * g.OutW, nameof(y));
        NaivePooling.MaxPool2d(S(x), planes, g, S(y));
    }

    /// <inheritdoc/>
    public virtual void MaxPool2dBackward(Tensor x, Tensor dY, in PoolGeometry g, Tensor dX)
    {
        int planes = PlaneCount(x, g);
        NeedLength(dY, (long)planes * g.OutH * g.OutW, nameof(dY));
        NeedLength(dX, x.Length, nameof(dX));
        NaivePooling.MaxPool2dBackward(S(x), S(dY), planes, g, S(dX));
    }

    /// <inheritdoc/>
    public virtual void AvgPool2d(Tensor x, in PoolGeometry g, Tensor y)
    {
        int planes = PlaneCount(x, g);
        NeedLength(y, (long)planes * g.OutH * g.OutW, nameof(y));
        NaivePooling.AvgPool2d(S(x), planes, g, S(y));
    }

    /// <inheritdoc/>
    public virtual void AvgPool2dBackward(Tensor dY, in PoolGeometry g, Tensor dX)
    {
        int planes = PlaneCount(dX, g);
        NeedLength(dY, (long)planes * g.OutH * g.OutW, nameof(dY));
        NaivePooling.AvgPool2dBackward(S(dY), planes, g, S(dX));
    }

    /// <inheritdoc/>
    public virtual void BatchNormStatistics(Tensor x, int outer, int channels, int inner, Tensor mean, Tensor variance) =>
        NaiveNorm.Statistics(S(x), outer, channels, inner, S(mean), S(variance));

    /// <inheritdoc/>
    public virtual void BatchNormForward(Tensor x, Tensor mean, Tensor invStd, Tensor gamma, Tensor beta, int outer, int channels, int inner, Tensor y) =>
        NaiveNorm.Forward(S(x), S(mean), S(invStd), S(gamma), S(beta), outer, channels, inner, S(y));

    /// <inheritdoc/>
    public virtual void BatchNormBackward(Tensor x, Tensor dY, Tensor mean, Tensor invStd, Tensor gamma, int outer, int channels, int inner,
                                          bool batchStatistics, Tensor dX, Tensor dGamma, Tensor dBeta) =>
        NaiveNorm.Backward(S(x), S(dY), S(mean), S(invStd), S(gamma), outer, channels, inner, batchStatistics, S(dX), S(dGamma), S(dBeta));

    /// <inheritdoc/>
    public virtual double SoftmaxCrossEntropy(Tensor logits, ReadOnlySpan<int> labels, Tensor dLogits) =>
        NaiveLossOptim.SoftmaxCrossEntropy(S(logits), logits.Dim(0), logits.Dim(1), labels, S(dLogits));

    /// <inheritdoc/>
    public virtual void DropoutMask(ulong seed, ulong stream, float p, float keepValue, Tensor mask) =>
        NaiveLossOptim.DropoutMask(seed, stream, p, keepValue, S(mask));

    /// <inheritdoc/>
    public virtual void SgdStep(Tensor weight, Tensor grad, Tensor? velocity, float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep) =>
        NaiveLossOptim.SgdStep(S(weight), S(grad), velocity is null ? default : S(velocity), lr, momentum, dampening, weightDecay, nesterov, firstStep);

    /// <inheritdoc/>
    public virtual void AdamStep(Tensor weight, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, bool decoupled, int step) =>
        NaiveLossOptim.AdamStep(S(weight), S(grad), S(m), S(v), lr, beta1, beta2, eps, weightDecay, decoupled, step);

    /// <summary>(planes, H, W) of a tensor whose last two dimensions are a plane.</summary>
    protected static (int Planes, int H, int W) Planes(Tensor t)
    {
        if (t.Rank < 2) throw new ArgumentException($"Expected a tensor with at least two dimensions (.., H, W) but got {t.ShapeString}.", nameof(t));
        int h = t.Dim(-2), w = t.Dim(-1);
        return (h * w == 0 ? 0 : t.Length / (h * w), h, w);
    }

    /// <summary>The number of (H, W) planes in a pooling input, checked against the geometry.</summary>
    protected static int PlaneCount(Tensor x, in PoolGeometry g)
    {
        int per = g.Height * g.Width;
        if (per == 0 || x.Length % per != 0)
            throw new ArgumentException($"Tensor {x.ShapeString} is not a whole number of {g.Height}x{g.Width} planes.", nameof(x));
        return x.Length / per;
    }

    /// <inheritdoc/>
    public virtual void Dispose() => GC.SuppressFinalize(this);

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>
/// A device that runs every primitive as a plain, single-threaded loop nest (the code in <c>Reference/</c>).
/// Slow and obviously correct: the oracle that <see cref="CpuDevice"/> and the GPU backends are tested against, and the version to read when learning.
/// </summary>
public sealed class ReferenceDevice : HostDevice
{
    /// <summary>A shared instance; the device holds no state.</summary>
    public static ReferenceDevice Instance { get; } = new();

    /// <inheritdoc/>
    public override string Name => "reference";
}
