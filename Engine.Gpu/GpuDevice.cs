using System.Runtime.InteropServices;

namespace ConvEngine.Gpu;

/// <summary>
/// The part of the GPU backends that does not depend on the API: every <see cref="IDevice"/> primitive as a kernel launch
/// with the same argument list on OpenCL and CUDA. A backend supplies memory, program builds and launches
/// (<see cref="OpenCl.OpenClDevice"/>, <see cref="Cuda.CudaDevice"/>). Tensors stay in device memory; only
/// <see cref="CopyFromHost"/> and <see cref="CopyToHost"/> cross to the host. Results are deterministic: no atomics,
/// reductions use a fixed tree and add per-group partials in order.
/// </summary>
public abstract unsafe class GpuDevice : IDevice
{
    /// <summary>Work items per group for element-wise kernels.</summary>
    private const int Block = 256;
    /// <summary>Work-group size of the reduction kernels (RED in prelude.h).</summary>
    private const int Red = 256;
    /// <summary>Number of partial sums in stage one of <see cref="Sum"/>.</summary>
    private const int MaxPartials = 64;

    private readonly Dictionary<string, nint> _kernels = new();
    private protected readonly object Gate = new();

    private protected GpuDevice() => NativeLibraries.EnsureResolver();

    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed { get; private set; }

    // ---- what a backend provides -----------------------------------------------------------------------------

    /// <summary>Bytes of the accumulator type <c>acc_t</c> (8 with double support, else 4).</summary>
    private protected abstract int AccumulatorSize { get; }
    /// <summary>Allocates zero-filled device memory.</summary>
    private protected abstract nint AllocateNative(long bytes);
    /// <summary>Frees device memory.</summary>
    internal abstract void FreeNative(nint handle);
    private protected abstract void Write(nint handle, long byteOffset, void* source, long bytes);
    private protected abstract void Read(nint handle, long byteOffset, void* destination, long bytes);
    private protected abstract void CopyNative(nint source, long sourceByteOffset, nint destination, long destinationByteOffset, long bytes);
    /// <summary>Compiles a family (prelude + source) if needed and returns the kernel's handle.</summary>
    private protected abstract nint CreateKernel(string family, string source, string kernel);
    /// <summary>Launches a kernel over a global size (multiples of the local size) with the given arguments.</summary>
    private protected abstract void Launch(nint kernel, int globalX, int globalY, int localX, int localY, ReadOnlySpan<KernelArg> args);
    /// <summary>Waits until all queued work is done.</summary>
    public abstract void Synchronize();
    /// <summary>Releases the backend's native objects.</summary>
    private protected abstract void ReleaseNative();

    /// <summary>One kernel argument: a buffer handle or a scalar.</summary>
    private protected readonly struct KernelArg
    {
        internal enum ArgKind { Buffer, Int, Float, ULong }
        internal readonly ArgKind Kind;
        internal readonly ulong Bits;
        private KernelArg(ArgKind kind, ulong bits) { Kind = kind; Bits = bits; }
        internal static KernelArg Buffer(nint handle) => new(ArgKind.Buffer, (ulong)handle);
        public static implicit operator KernelArg(int v) => new(ArgKind.Int, (uint)v);
        public static implicit operator KernelArg(bool v) => new(ArgKind.Int, v ? 1u : 0u);
        public static implicit operator KernelArg(float v) => new(ArgKind.Float, BitConverter.SingleToUInt32Bits(v));
        public static implicit operator KernelArg(ulong v) => new(ArgKind.ULong, v);
        internal int Size => Kind switch { ArgKind.Buffer => IntPtr.Size, ArgKind.ULong => 8, _ => 4 };
    }

    // ---- helpers ---------------------------------------------------------------------------------------------------

    private nint Kernel(string name)
    {
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            if (_kernels.TryGetValue(name, out var k)) return k;
            var family = KernelSources.FamilyOf(name);
            k = CreateKernel(family, KernelSources.Program(family), name);
            _kernels[name] = k;
            return k;
        }
    }

    private static int RoundUp(int n, int m) => (n + m - 1) / m * m;

    /// <summary>One work item per element, groups of <see cref="Block"/>.</summary>
    private void Run(string kernel, int n, params KernelArg[] args)
    {
        if (n <= 0) return;
        Launch(Kernel(kernel), RoundUp(n, Block), 1, Block, 1, args);
    }

    /// <summary>One work-group of <see cref="Red"/> items per group index.</summary>
    private void RunGroups(string kernel, int groups, params KernelArg[] args)
    {
        if (groups <= 0) return;
        Launch(Kernel(kernel), groups * Red, 1, Red, 1, args);
    }

    /// <summary>The native handle of a tensor of this device.</summary>
    private KernelArg B(Tensor t, string arg)
    {
        if (t.Buffer is GpuBuffer g && ReferenceEquals(g.Device, this))
        {
            if (g.Handle == 0) throw new ObjectDisposedException(arg, $"Tensor '{t.Name ?? "(unnamed)"}' {t.ShapeString} was released.");
            return KernelArg.Buffer(g.Handle);
        }
        throw new ArgumentException($"Tensor '{t.Name ?? "(unnamed)"}' {t.ShapeString} lives on {t.Device.Name}, not on {Name}.", arg);
    }

    private static nint H(DeviceBuffer b, string arg) => b is GpuBuffer g && g.Handle != 0
        ? g.Handle
        : throw new ArgumentException($"Buffer of {b.Length} elements on {b.Device.Name} is not a live buffer of this device.", arg);

    private static void Need(Tensor t, long length, string arg) => DeviceArgs.NeedLength(t, length, arg);

    private static void Range(DeviceBuffer b, long offset, long length, string arg)
    {
        if (offset < 0 || length < 0 || offset + length > b.Length)
            throw new ArgumentOutOfRangeException(arg, $"Range [{offset}, {offset + length}) is outside a buffer of {b.Length} elements.");
    }

    private static (int Planes, int H, int W) Planes(Tensor t)
    {
        if (t.Rank < 2) throw new ArgumentException($"Expected a tensor with at least two dimensions (.., H, W) but got {t.ShapeString}.", nameof(t));
        int h = t.Dim(-2), w = t.Dim(-1);
        return (h * w == 0 ? 0 : t.Length / (h * w), h, w);
    }

    private static int PlaneCount(Tensor x, in PoolGeometry g)
    {
        int per = g.Height * g.Width;
        if (per == 0 || x.Length % per != 0)
            throw new ArgumentException($"Tensor {x.ShapeString} is not a whole number of {g.Height}x{g.Width} planes.", nameof(x));
        return x.Length / per;
    }

    /// <summary>Allocates scratch memory, runs <paramref name="body"/>, frees it.</summary>
    private void WithScratch(long bytes, Action<nint> body)
    {
        var h = AllocateNative(Math.Max(bytes, 4));
        try { body(h); }
        finally { FreeNative(h); }
    }

    /// <summary>Reads <paramref name="count"/> accumulators and adds them in index order in double.</summary>
    private double SumAccumulators(nint handle, int count)
    {
        double total = 0;
        if (AccumulatorSize == 8)
        {
            var values = new double[count];
            fixed (double* p = values) Read(handle, 0, p, count * 8L);
            foreach (var v in values) total += v;
        }
        else
        {
            var values = new float[count];
            fixed (float* p = values) Read(handle, 0, p, count * 4L);
            foreach (var v in values) total += v;
        }
        return total;
    }

    // ---- memory ------------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public DeviceBuffer Allocate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return new GpuBuffer(this, length, AllocateNative(Math.Max(length, 1) * 4L));
    }

    /// <inheritdoc/>
    public void CopyFromHost(ReadOnlySpan<float> source, DeviceBuffer destination, int offset)
    {
        Range(destination, offset, source.Length, nameof(destination));
        if (source.Length == 0) return;
        fixed (float* p = source) Write(H(destination, nameof(destination)), offset * 4L, p, source.Length * 4L);
    }

    /// <inheritdoc/>
    public void CopyToHost(DeviceBuffer source, int offset, Span<float> destination)
    {
        Range(source, offset, destination.Length, nameof(source));
        if (destination.Length == 0) return;
        fixed (float* p = destination) Read(H(source, nameof(source)), offset * 4L, p, destination.Length * 4L);
    }

    /// <inheritdoc/>
    public void Copy(DeviceBuffer source, int sourceOffset, DeviceBuffer destination, int destinationOffset, int length)
    {
        Range(source, sourceOffset, length, nameof(source));
        Range(destination, destinationOffset, length, nameof(destination));
        if (length == 0) return;
        CopyNative(H(source, nameof(source)), sourceOffset * 4L, H(destination, nameof(destination)), destinationOffset * 4L, length * 4L);
    }

    /// <inheritdoc/>
    public void Fill(Tensor x, float value) => Run("fill", x.Length, B(x, nameof(x)), x.Length, value);

    // ---- dense linear algebra ------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, Tensor a, int aOffset, int lda, Tensor b, int bOffset, int ldb,
                     float beta, Tensor c, int cOffset, int ldc)
    {
        if (m == 0 || n == 0) return;
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), $"GEMM sizes must be non-negative (m={m}, n={n}, k={k}).");
        if (k > 0)
        {
            Need(a, aOffset + (long)((transA ? k : m) - 1) * lda + (transA ? m : k), nameof(a));
            Need(b, bOffset + (long)((transB ? n : k) - 1) * ldb + (transB ? k : n), nameof(b));
        }
        Need(c, cOffset + (long)(m - 1) * ldc + n, nameof(c));
        // 16x16 items per group, each computing a 4x4 block of a 64x64 tile.
        Launch(Kernel("gemm"), (n + 63) / 64 * 16, (m + 63) / 64 * 16, 16, 16,
            [transA, transB, m, n, k, alpha, B(a, nameof(a)), aOffset, lda, B(b, nameof(b)), bOffset, ldb, beta, B(c, nameof(c)), cOffset, ldc]);
    }

    // ---- element-wise --------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Unary(UnaryOp op, float alpha, Tensor x, Tensor y)
    {
        if (!Enum.IsDefined(op)) throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown unary op.");
        Need(y, x.Length, nameof(y));
        Run("unary", x.Length, (int)op, alpha, B(x, nameof(x)), B(y, nameof(y)), x.Length);
    }

    /// <inheritdoc/>
    public void UnaryBackward(UnaryOp op, float alpha, Tensor x, Tensor y, Tensor dY, Tensor dX)
    {
        if (!Enum.IsDefined(op)) throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown unary op.");
        Need(y, x.Length, nameof(y)); Need(dY, x.Length, nameof(dY)); Need(dX, x.Length, nameof(dX));
        Run("unary_backward", x.Length, (int)op, alpha, B(x, nameof(x)), B(y, nameof(y)), B(dY, nameof(dY)), B(dX, nameof(dX)), x.Length);
    }

    /// <inheritdoc/>
    public void Add(Tensor a, Tensor b, Tensor y)
    {
        Need(a, y.Length, nameof(a)); Need(b, y.Length, nameof(b));
        Run("add", y.Length, B(a, nameof(a)), B(b, nameof(b)), B(y, nameof(y)), y.Length);
    }

    /// <inheritdoc/>
    public void Multiply(Tensor a, Tensor b, Tensor y)
    {
        Need(a, y.Length, nameof(a)); Need(b, y.Length, nameof(b));
        Run("multiply", y.Length, B(a, nameof(a)), B(b, nameof(b)), B(y, nameof(y)), y.Length);
    }

    /// <inheritdoc/>
    public void Axpby(float alpha, Tensor x, float beta, Tensor y)
    {
        Need(x, y.Length, nameof(x));
        Run("axpby", y.Length, alpha, B(x, nameof(x)), beta, B(y, nameof(y)), y.Length);
    }

    /// <inheritdoc/>
    public double Sum(Tensor x) => Reduce(x, squares: false);

    /// <inheritdoc/>
    public double SumOfSquares(Tensor x) => Reduce(x, squares: true);

    private double Reduce(Tensor x, bool squares)
    {
        int n = x.Length;
        if (n == 0) return 0;
        int groups = Math.Min(MaxPartials, (n + Red - 1) / Red);
        int block = (n + groups - 1) / groups;
        double total = 0;
        var xb = B(x, nameof(x));
        WithScratch((long)groups * AccumulatorSize, partial =>
        {
            RunGroups("sum_partials", groups, xb, n, squares, block, KernelArg.Buffer(partial));
            total = SumAccumulators(partial, groups);
        });
        return total;
    }

    // ---- per-channel -----------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void AddChannelBias(Tensor y, Tensor bias, int outer, int channels, int inner)
    {
        int n = outer * channels * inner;
        Need(y, n, nameof(y)); Need(bias, channels, nameof(bias));
        Run("add_channel_bias", n, B(y, nameof(y)), B(bias, nameof(bias)), channels, inner, n);
    }

    /// <inheritdoc/>
    public void ChannelScale(Tensor x, Tensor scale, int outer, int channels, int inner, Tensor y)
    {
        int n = outer * channels * inner;
        Need(x, n, nameof(x)); Need(y, n, nameof(y)); Need(scale, channels, nameof(scale));
        Run("channel_scale", n, B(x, nameof(x)), B(scale, nameof(scale)), channels, inner, B(y, nameof(y)), n);
    }

    /// <inheritdoc/>
    public void ChannelDot(Tensor a, Tensor? b, int outer, int channels, int inner, Tensor result, bool accumulate)
    {
        long n = (long)outer * channels * inner;
        Need(a, n, nameof(a)); if (b is not null) Need(b, n, nameof(b)); Need(result, channels, nameof(result));
        var ab = B(a, nameof(a));
        RunGroups("channel_dot", channels, ab, b is null ? ab : B(b, nameof(b)), b is not null, outer, channels, inner, B(result, nameof(result)), accumulate);
    }

    // ---- convolution helpers -----------------------------------------------------------------------------------------------

    private static KernelArg[] ConvArgs(KernelArg first, KernelArg second, KernelArg offset, in ConvGeometry g, bool offsetSecond, int images) =>
        offsetSecond
            ? [first, second, offset, g.Channels, g.Height, g.Width, g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.DilationH, g.DilationW, g.OutH, g.OutW, images]
            : [first, offset, second, g.Channels, g.Height, g.Width, g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.DilationH, g.DilationW, g.OutH, g.OutW, images];

    /// <inheritdoc/>
    public void Im2Col(Tensor x, int image, in ConvGeometry g, Tensor col)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(image);
        Im2ColBatch(x, image, 1, g, col);
    }

    /// <inheritdoc/>
    public void Col2Im(Tensor col, in ConvGeometry g, Tensor dX, int image)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(image);
        Col2ImBatch(col, g, dX, image, 1);
    }

    /// <inheritdoc/>
    public void Im2ColBatch(Tensor x, int firstImage, int images, in ConvGeometry g, Tensor col)
    {
        int per = DeviceArgs.Batch(x, firstImage, images, g, col, nameof(x), nameof(col));
        if (images == 0 || g.ColRows == 0 || g.ColCols == 0) return;
        Run("im2col", g.ColRows * images * g.ColCols, ConvArgs(B(x, nameof(x)), B(col, nameof(col)), firstImage * per, g, offsetSecond: false, images));
    }

    /// <inheritdoc/>
    public void Col2ImBatch(Tensor col, in ConvGeometry g, Tensor dX, int firstImage, int images)
    {
        int per = DeviceArgs.Batch(dX, firstImage, images, g, col, nameof(dX), nameof(col));
        if (images == 0 || per == 0) return;
        Run("col2im", images * per, ConvArgs(B(col, nameof(col)), B(dX, nameof(dX)), firstImage * per, g, offsetSecond: true, images));
    }

    /// <inheritdoc/>
    public void SwapAxes(Tensor x, int xOffset, int rows, int cols, int inner, Tensor y, int yOffset)
    {
        long len = DeviceArgs.Swap(x, xOffset, rows, cols, inner, y, yOffset);
        if (len == 0) return;
        Run("swap_axes", (int)len, B(x, nameof(x)), xOffset, B(y, nameof(y)), yOffset, rows, cols, inner);
    }

    /// <inheritdoc/>
    public void Pad2d(Tensor x, PaddingMode mode, Padding2d pad, Tensor y)
    {
        var (planes, h, w) = Planes(x);
        int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
        Need(y, (long)planes * oh * ow, nameof(y));
        Run("pad2d", planes * oh * ow, B(x, nameof(x)), B(y, nameof(y)), planes, h, w, (int)mode, pad.Top, pad.Left, oh, ow);
    }

    /// <inheritdoc/>
    public void Pad2dBackward(Tensor dY, PaddingMode mode, Padding2d pad, Tensor dX)
    {
        var (planes, h, w) = Planes(dX);
        int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
        Need(dY, (long)planes * oh * ow, nameof(dY));
        Run("pad2d_backward", planes * h * w, B(dY, nameof(dY)), B(dX, nameof(dX)), planes, h, w, (int)mode, pad.Top, pad.Left, oh, ow);
    }

    // ---- pooling ---------------------------------------------------------------------------------------------------------------

    private static KernelArg[] PoolArgs(KernelArg[] buffers, int planes, in PoolGeometry g) =>
        [.. buffers, planes, g.Height, g.Width, g.OutH, g.OutW, g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.CountIncludePad, g.Adaptive];

    /// <inheritdoc/>
    public void MaxPool2d(Tensor x, in PoolGeometry g, Tensor y)
    {
        int planes = PlaneCount(x, g);
        Need(y, (long)planes * g.OutH * g.OutW, nameof(y));
        Run("maxpool2d", planes * g.OutH * g.OutW, PoolArgs([B(x, nameof(x)), B(y, nameof(y))], planes, g));
    }

    /// <inheritdoc/>
    public void MaxPool2dBackward(Tensor x, Tensor dY, in PoolGeometry g, Tensor dX)
    {
        int planes = PlaneCount(x, g);
        Need(dY, (long)planes * g.OutH * g.OutW, nameof(dY));
        Need(dX, x.Length, nameof(dX));
        Run("maxpool2d_backward", x.Length, PoolArgs([B(x, nameof(x)), B(dY, nameof(dY)), B(dX, nameof(dX))], planes, g));
    }

    /// <inheritdoc/>
    public void AvgPool2d(Tensor x, in PoolGeometry g, Tensor y)
    {
        int planes = PlaneCount(x, g);
        Need(y, (long)planes * g.OutH * g.OutW, nameof(y));
        Run("avgpool2d", planes * g.OutH * g.OutW, PoolArgs([B(x, nameof(x)), B(y, nameof(y))], planes, g));
    }

    /// <inheritdoc/>
    public void AvgPool2dBackward(Tensor dY, in PoolGeometry g, Tensor dX)
    {
        int planes = PlaneCount(dX, g);
        Need(dY, (long)planes * g.OutH * g.OutW, nameof(dY));
        Run("avgpool2d_backward", planes * g.Height * g.Width, PoolArgs([B(dY, nameof(dY)), B(dX, nameof(dX))], planes, g));
    }

    // ---- batch normalisation -----------------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void BatchNormStatistics(Tensor x, int outer, int channels, int inner, Tensor mean, Tensor variance)
    {
        Need(x, (long)outer * channels * inner, nameof(x)); Need(mean, channels, nameof(mean)); Need(variance, channels, nameof(variance));
        RunGroups("bn_statistics", channels, B(x, nameof(x)), outer, channels, inner, B(mean, nameof(mean)), B(variance, nameof(variance)));
    }

    /// <inheritdoc/>
    public void BatchNormForward(Tensor x, Tensor mean, Tensor invStd, Tensor gamma, Tensor beta, int outer, int channels, int inner, Tensor y)
    {
        int n = outer * channels * inner;
        Need(x, n, nameof(x)); Need(y, n, nameof(y));
        Need(mean, channels, nameof(mean)); Need(invStd, channels, nameof(invStd)); Need(gamma, channels, nameof(gamma)); Need(beta, channels, nameof(beta));
        Run("bn_forward", n, B(x, nameof(x)), B(mean, nameof(mean)), B(invStd, nameof(invStd)), B(gamma, nameof(gamma)), B(beta, nameof(beta)),
            channels, inner, B(y, nameof(y)), n);
    }

    /// <inheritdoc/>
    public void BatchNormBackward(Tensor x, Tensor dY, Tensor mean, Tensor invStd, Tensor gamma, int outer, int channels, int inner,
                                  bool batchStatistics, Tensor dX, Tensor dGamma, Tensor dBeta)
    {
        long n = (long)outer * channels * inner;
        Need(x, n, nameof(x)); Need(dY, n, nameof(dY)); Need(dX, n, nameof(dX));
        Need(mean, channels, nameof(mean)); Need(invStd, channels, nameof(invStd)); Need(gamma, channels, nameof(gamma));
        Need(dGamma, channels, nameof(dGamma)); Need(dBeta, channels, nameof(dBeta));
        RunGroups("bn_backward", channels, B(x, nameof(x)), B(dY, nameof(dY)), B(mean, nameof(mean)), B(invStd, nameof(invStd)), B(gamma, nameof(gamma)),
            outer, channels, inner, batchStatistics, B(dX, nameof(dX)), B(dGamma, nameof(dGamma)), B(dBeta, nameof(dBeta)));
    }

    // ---- losses, randomness, optimizers ----------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public double SoftmaxCrossEntropy(Tensor logits, ReadOnlySpan<int> labels, Tensor dLogits)
    {
        int n = logits.Dim(0), k = logits.Dim(1);
        if (labels.Length < n) throw new ArgumentException($"Expected {n} labels but got {labels.Length}.", nameof(labels));
        for (int r = 0; r < n; r++)
            if ((uint)labels[r] >= (uint)k)
                throw new ArgumentOutOfRangeException(nameof(labels), labels[r], $"Label {r} is {labels[r]} but must be in [0, {k}).");
        Need(dLogits, (long)n * k, nameof(dLogits));
        if (n == 0) return 0;
        var lb = B(logits, nameof(logits));
        var db = B(dLogits, nameof(dLogits));
        var labelCopy = labels[..n].ToArray();
        double total = 0;
        WithScratch(n * 4L, labelBuffer =>
        {
            fixed (int* p = labelCopy) Write(labelBuffer, 0, p, n * 4L);
            WithScratch((long)n * AccumulatorSize, rowLoss =>
            {
                Run("softmax_xent", n, lb, KernelArg.Buffer(labelBuffer), n, k, db, KernelArg.Buffer(rowLoss));
                total = SumAccumulators(rowLoss, n);
            });
        });
        return total / n;
    }

    /// <inheritdoc/>
    public void DropoutMask(ulong seed, ulong stream, float p, float keepValue, Tensor mask) =>
        Run("dropout_mask", mask.Length, seed, stream, p, keepValue, B(mask, nameof(mask)), mask.Length);

    /// <inheritdoc/>
    public void SgdStep(Tensor weight, Tensor grad, Tensor? velocity, float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        int n = weight.Length;
        Need(grad, n, nameof(grad));
        if (momentum != 0)
        {
            if (velocity is null) throw new ArgumentNullException(nameof(velocity), "SGD with momentum needs a velocity tensor.");
            Need(velocity, n, nameof(velocity));
        }
        var wb = B(weight, nameof(weight));
        Run("sgd_step", n, wb, B(grad, nameof(grad)), velocity is null ? wb : B(velocity, nameof(velocity)), velocity is not null,
            lr, momentum, dampening, weightDecay, nesterov, firstStep, n);
    }

    /// <inheritdoc/>
    public void AdamStep(Tensor weight, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, bool decoupled, int step)
    {
        int n = weight.Length;
        Need(grad, n, nameof(grad)); Need(m, n, nameof(m)); Need(v, n, nameof(v));
        // The same host-side scalars as the reference update.
        double bc1 = 1 - Math.Pow(beta1, step);
        double bc2 = 1 - Math.Pow(beta2, step);
        float stepSize = (float)(lr / bc1);
        float bc2Sqrt = (float)Math.Sqrt(bc2);
        Run("adam_step", n, B(weight, nameof(weight)), B(grad, nameof(grad)), B(m, nameof(m)), B(v, nameof(v)),
            lr, beta1, beta2, eps, weightDecay, decoupled, stepSize, bc2Sqrt, n);
    }

    // ---- lifetime ----------------------------------------------------------------------------------------------------------------------

    /// <summary>Releases kernels, programs and the context. Buffers still alive become unusable.</summary>
    public void Dispose()
    {
        lock (Gate)
        {
            if (IsDisposed) return;
            IsDisposed = true;
            _kernels.Clear();
            ReleaseNative();
        }
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
