using System.Globalization;

namespace ConvEngine.NN;

// 2-D convolution (cross-correlation, as PyTorch), groups G, input x (N, Cin, H, W), weight W (Cout, Cin/G, KH, KW), bias b (Cout).
//   output size  OH = ⌊(H + 2·pH − dH·(KH − 1) − 1) / sH⌋ + 1, likewise OW
//   forward      per image n and group g, with K = Cin/G·KH·KW and col = im2col(x[n]) of shape (Cin·KH·KW, OH·OW):
//                  y[n, g-block] (Cout/G, OH·OW) = W_g (Cout/G, K) · col_g (K, OH·OW)       then y += b per channel
//   backward     dW_g (Cout/G, K)   += dY[n, g-block] · col_gᵀ                               (accumulated over n)
//                dB   (Cout)        += Σ over n, oh, ow of dY                                 (accumulated)
//                dcol_g (K, OH·OW)   = W_gᵀ · dY[n, g-block];  dX[n] += col2im(dcol)        (col2im is the adjoint of im2col)
//   padding      Zeros: folded into im2col. Reflect/Replicate: x is first padded explicitly (Pad2d, PyTorch's F.pad) and the
//                convolution then runs with padding 0; backward maps dXpad back with Pad2dBackward (the adjoint of Pad2d).
// Parameter gradients are ACCUMULATED (+=) and cleared by ZeroGrad; dX is written whole (a new tensor, or the reused buffer: Module.ReuseBuffers).
// Batching: the images are convolved in chunks of B images (B chosen so that B·OH·OW is at least ChunkColumns and the
// column matrix stays under ColumnBudget elements). im2col lays a chunk's images side by side, col (K, B·OH·OW), so one GEMM
// per group computes the whole chunk, Y' (Cout, B·OH·OW) = W · col, and SwapAxes moves Y' into NCHW. Backward swaps the dY
// chunk into (Cout, B·OH·OW) and runs one dW GEMM (inner dimension B·OH·OW) and one dcol GEMM per group. Small feature maps
// (OH·OW = 49 or 100) thus give GEMMs thousands of columns wide instead of one narrow GEMM per image.
// Cache: the (padded) input. im2col is recomputed in backward instead of keeping N column matrices: the columns of one
// image are KH·KW times larger than the image, so storing them for a batch costs KH·KW× the activation memory, while
// recomputing is a memory-bound copy that is small next to the two GEMMs. The col/dcol/Y' scratch lives in a per-thread
// ConvWorkspace shared by all convolutions (so eval-mode Forward may run on many threads); the padded-input buffers are
// layer fields in training mode and per call in eval mode. Output y and dX come from Module.ReusableBuffer (reused across
// steps when ReuseBuffers is on). The cache is one immutable record, replaced by a single reference write.
// A 1×1 kernel with stride 1 and no padding skips im2col: col is the image itself.
// Threads: with enough chunks (always for small layers such as LeNet's, at least two per thread for larger ones) whole
// chunks go to the threads (image-parallel): each chunk's kernels run on one thread, and in backward each chunk writes its
// own dW partial, added into Weight.Grad in chunk order afterwards. Otherwise each kernel is split over the threads.

/// <summary>A 2-D convolution over NCHW input with PyTorch's arguments and initialisation.</summary>
public sealed class Conv2d : Module
{
    // The last Forward: the (padded) input, the original input's shape, whether Xp is an explicitly padded copy
    // (reflect/replicate), and the geometry over Xp with the zero padding that im2col applies.
    private sealed record Cache(Tensor Xp, int[] XShape, bool Padded, ConvGeometry Geom);
    private Cache? _cache;
    private Tensor? _padScratch, _dPadScratch; // scratch for reflect/replicate padding
    private Tensor? _flipped; // W' of the stride-1 dX convolution (CPU)
    private Tensor? _dwPartials; // per-chunk dW of the image-parallel backward (CPU)
    private double[]? _biasSums; // the bias gradient's per-plane sums of dY, taken by the direct weight gradient (CPU)

    /// <summary>Creates a convolution with a square kernel and equal stride, padding and dilation along both axes.</summary>
    /// <param name="inChannels">Input channels Cin.</param>
    /// <param name="outChannels">Output channels Cout.</param>
    /// <param name="kernelSize">Kernel height and width.</param>
    /// <param name="stride">Stride along both axes.</param>
    /// <param name="padding">Padding on every side.</param>
    /// <param name="dilation">Dilation along both axes.</param>
    /// <param name="groups">Number of groups; Cin and Cout must be divisible by it (groups = Cin gives a depthwise convolution).</param>
    /// <param name="bias">Whether to learn an additive bias.</param>
    /// <param name="paddingMode">How the border is filled: zeros, reflection or replication.</param>
    /// <param name="device">Where the parameters live (default <see cref="CpuDevice.Default"/>).</param>
    /// <param name="seed">Seed for the initial weights (null: unseeded).</param>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1,
                  bool bias = true, PaddingMode paddingMode = PaddingMode.Zeros, IDevice? device = null, int? seed = null)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), (dilation, dilation),
               groups, bias, paddingMode, device, seed, nameof(kernelSize))
    {
    }

    /// <summary>Creates a convolution with a rectangular kernel and per-axis stride, padding and dilation.</summary>
    /// <param name="inChannels">Input channels Cin.</param>
    /// <param name="outChannels">Output channels Cout.</param>
    /// <param name="kernelSize">Kernel (height, width).</param>
    /// <param name="stride">Stride (vertical, horizontal); default (1, 1).</param>
    /// <param name="padding">Padding (top and bottom, left and right); default (0, 0).</param>
    /// <param name="dilation">Dilation (vertical, horizontal); default (1, 1).</param>
    /// <param name="groups">Number of groups; Cin and Cout must be divisible by it.</param>
    /// <param name="bias">Whether to learn an additive bias.</param>
    /// <param name="paddingMode">How the border is filled: zeros, reflection or replication.</param>
    /// <param name="device">Where the parameters live (default <see cref="CpuDevice.Default"/>).</param>
    /// <param name="seed">Seed for the initial weights (null: unseeded).</param>
    public Conv2d(int inChannels, int outChannels, (int H, int W) kernelSize, (int H, int W)? stride = null, (int H, int W)? padding = null,
                  (int H, int W)? dilation = null, int groups = 1, bool bias = true, PaddingMode paddingMode = PaddingMode.Zeros,
                  IDevice? device = null, int? seed = null)
        : this(inChannels, outChannels, kernelSize, stride ?? (1, 1), padding ?? (0, 0), dilation ?? (1, 1), groups, bias, paddingMode, device, seed, nameof(kernelSize))
    {
    }

    private Conv2d(int inChannels, int outChannels, (int H, int W) kernelSize, (int H, int W) stride, (int H, int W) padding,
                   (int H, int W) dilation, int groups, bool bias, PaddingMode paddingMode, IDevice? device, int? seed, string kernelArg)
    {
        if (inChannels <= 0) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, $"inChannels must be positive but got {inChannels}.");
        if (outChannels <= 0) throw new ArgumentOutOfRangeException(nameof(outChannels), outChannels, $"outChannels must be positive but got {outChannels}.");
        if (kernelSize.H <= 0 || kernelSize.W <= 0)
            throw new ArgumentOutOfRangeException(kernelArg, kernelSize, $"kernelSize must be positive but got {Pair(kernelSize)}.");
        if (stride.H <= 0 || stride.W <= 0)
            throw new ArgumentOutOfRangeException(nameof(stride), stride, $"stride must be positive but got {Pair(stride)}.");
        if (padding.H < 0 || padding.W < 0)
            throw new ArgumentOutOfRangeException(nameof(padding), padding, $"padding must be zero or positive but got {Pair(padding)}.");
        if (dilation.H <= 0 || dilation.W <= 0)
            throw new ArgumentOutOfRangeException(nameof(dilation), dilation, $"dilation must be positive but got {Pair(dilation)}.");
        if (groups <= 0) throw new ArgumentOutOfRangeException(nameof(groups), groups, $"groups must be positive but got {groups}.");
        if (inChannels % groups != 0)
            throw new ArgumentException($"inChannels ({inChannels}) must be divisible by groups ({groups}).", nameof(groups));
        if (outChannels % groups != 0)
            throw new ArgumentException($"outChannels ({outChannels}) must be divisible by groups ({groups}).", nameof(groups));
        if (!Enum.IsDefined(paddingMode))
            throw new ArgumentOutOfRangeException(nameof(paddingMode), paddingMode, $"Unknown padding mode {paddingMode}.");

        InChannels = inChannels; OutChannels = outChannels; KernelSize = kernelSize; Stride = stride; Padding = padding;
        Dilation = dilation; Groups = groups; PaddingMode = paddingMode;
        Device = device ?? CpuDevice.Default;

        int fanIn = inChannels / groups * kernelSize.H * kernelSize.W;
        var rng = Init.Generator(seed);
        var w = new float[outChannels * fanIn];
        Init.KaimingUniform(w, fanIn, rng);
        Weight = RegisterParameter("weight", Tensor.FromArray(Device, w, outChannels, inChannels / groups, kernelSize.H, kernelSize.W));
        if (bias)
        {
            var b = new float[outChannels];
            Init.KaimingUniform(b, fanIn, rng);
            Bias = RegisterParameter("bias", Tensor.FromArray(Device, b, outChannels));
        }
    }

    /// <summary>Input channels Cin.</summary>
    public int InChannels { get; }
    /// <summary>Output channels Cout.</summary>
    public int OutChannels { get; }
    /// <summary>Kernel (height, width).</summary>
    public (int H, int W) KernelSize { get; }
    /// <summary>Stride (vertical, horizontal).</summary>
    public (int H, int W) Stride { get; }
    /// <summary>Padding (top and bottom, left and right).</summary>
    public (int H, int W) Padding { get; }
    /// <summary>Dilation (vertical, horizontal).</summary>
    public (int H, int W) Dilation { get; }
    /// <summary>Number of groups.</summary>
    public int Groups { get; }
    /// <summary>How the border is filled.</summary>
    public PaddingMode PaddingMode { get; }
    /// <summary>The device holding the parameters.</summary>
    public IDevice Device { get; }
    /// <summary>Weight [Cout, Cin/groups, KH, KW].</summary>
    public Parameter Weight { get; }
    /// <summary>Bias [Cout], or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>The output shape [N, Cout, OH, OW] for an input of shape [N, Cin, H, W] (checks the sizes as <see cref="Module.Forward"/> does).</summary>
    /// <param name="inputShape">The input shape.</param>
    public int[] OutputShape(ReadOnlySpan<int> inputShape)
    {
        if (inputShape.Length != 4)
            throw new ArgumentException($"Expected a rank-4 shape [N, C, H, W] but got {ShapeUtil.Format(inputShape)}.", nameof(inputShape));
        int oh = OutSize(inputShape[2], KernelSize.H, Stride.H, Padding.H, Dilation.H, "height", inputShape, nameof(inputShape));
        int ow = OutSize(inputShape[3], KernelSize.W, Stride.W, Padding.W, Dilation.W, "width", inputShape, nameof(inputShape));
        return [inputShape[0], OutChannels, oh, ow];
    }

    /// <summary>Columns (B·OH·OW) a chunk of images aims for, so the GEMMs are wide enough to run at full speed.</summary>
    internal int ChunkColumns { get; set; } = DefaultChunkColumns;

    /// <summary>Default of <see cref="ChunkColumns"/>.</summary>
    internal const int DefaultChunkColumns = 4096;

    /// <summary>The most elements of a chunk's column matrix (K·B·OH·OW): 2^21 floats, 8 MiB.</summary>
    internal const long ColumnBudget = 1 << 21;

    /// <summary>
    /// Columns (OH·OW) from which an image of a large 1x1 layer (more than <see cref="ImageParallelMacs"/> multiply-adds) is
    /// a chunk of its own: its GEMMs are wide enough alone, and a one-image chunk reads dY and writes y and dX in NCHW as
    /// they are, with no swap through a (Cout, B·OH·OW) scratch. With several images the chunks then go whole to the threads.
    /// A 1x1 kernel's GEMMs have a short inner dimension (K = Cin), so the swaps are a large share of its time.
    /// </summary>
    internal int OwnChunkColumns { get; set; } = DefaultOwnChunkColumns;

    // resnet_down (8 x 64 x 56 x 56 -> 128, 1x1/2: 784 columns) in alternating harness runs, 2 threads: forward
    // 0.64-0.85 -> 0.60-0.68 ms, backward 1.37-1.60 -> 1.04-1.27 ms (chunks of 4 images, each kernel split over the threads,
    // against 8 one-image chunks, 4 per thread); 1x1/1 64 -> 64 at 56x56 backward 1.98-2.14 -> 1.65-1.72 ms, 128 -> 128 at
    // 28x28 2.51-2.56 -> 1.54-1.56. With 196 columns (128 -> 256, 1x1/2 at 28x28) one-image chunks were slower (backward
    // 1.22-1.30 -> 1.45-1.53 ms), and so was the forward of ResNet-18's 3x3/2 64 -> 128 (K = 576, 784 columns: 3.62-3.67 ->
    // 3.88-4.09 ms), where the GEMMs outweigh the swaps.
    /// <summary>Default of <see cref="OwnChunkColumns"/>: 768 (a 28x28 output plane has 784 columns).</summary>
    internal const int DefaultOwnChunkColumns = 768;

    // Images per chunk: one for a large 1x1 layer with OwnChunkColumns columns per image; else enough for ChunkColumns columns,
    // within the column budget, at least one, chunks balanced.
    internal int ImagesPerChunk(int n, in ConvGeometry g)
    {
        if (n <= 1) return Math.Max(n, 1);
        if (KernelSize == (1, 1) && g.ColCols >= OwnChunkColumns && MacsPerImage(g) > ImageParallelMacs) return 1;
        long cols = Math.Max(1, g.ColCols), rows = Math.Max(1, g.ColRows);
        long want = (ChunkColumns + cols - 1) / cols;
        long fit = Math.Max(1, ColumnBudget / (rows * cols));
        int nb = (int)Math.Clamp(Math.Min(want, fit), 1, n);
        int chunks = (n + nb - 1) / nb;
        return (n + chunks - 1) / chunks;
    }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        ShapeUtil.RequireRank(x, 4, nameof(x), "[N, C, H, W]");
        ShapeUtil.RequireDim(x, 1, InChannels, nameof(x), "in channels");
        CheckDevice(x, Device, nameof(x));
        int n = x.Dim(0), h = x.Dim(2), w = x.Dim(3);
        OutSize(h, KernelSize.H, Stride.H, Padding.H, Dilation.H, "height", x.ShapeRef, nameof(x));
        OutSize(w, KernelSize.W, Stride.W, Padding.W, Dilation.W, "width", x.ShapeRef, nameof(x));

        Tensor xp = x;
        int padH = Padding.H, padW = Padding.W;
        if (PaddingMode != PaddingMode.Zeros && (padH > 0 || padW > 0))
        {
            if (PaddingMode == PaddingMode.Reflect && (padH >= h || padW >= w))
                throw new ArgumentException(
                    $"Reflect padding {Pair(Padding)} must be smaller than the input's height and width, but the input is {x.ShapeString} (H = {h}, W = {w}).", nameof(x));
            xp = IsTraining || ReusesBuffers ? Scratch(ref _padScratch, n, InChannels, h + 2 * padH, w + 2 * padW)
                            : new Tensor(Device, n, InChannels, h + 2 * padH, w + 2 * padW);
            Device.Pad2d(x, PaddingMode, new Padding2d(padH, padH, padW, padW), xp);
            padH = padW = 0;
        }
        var g = new ConvGeometry(InChannels, xp.Dim(2), xp.Dim(3), KernelSize.H, KernelSize.W, Stride.H, Stride.W, padH, padW, Dilation.H, Dilation.W);
        int cols = g.ColCols;
        var y = ReusableBuffer(0, Device, [n, OutChannels, g.OutH, g.OutW], x);
        // The Winograd and direct kernels add the bias as they store y; the GEMM paths add it per chunk (image-parallel mode)
        // or in a pass of its own.
        bool biasFused;
        if (UsesWinograd(g, n, OutChannels) is { } wcpu)
        {
            wcpu.ConvWinograd(Weight.Value, InChannels * 9, 9, false, OutChannels, xp, 0, n, g, y, Bias?.Value);   // the whole batch at once
            biasFused = true;
        }
        else if (UsesPointwise(g) is { } pcpu)
        {
            pcpu.ConvPointwise(Weight.Value, OutChannels, xp, 0, n, g, y, Bias?.Value);   // the whole batch, (image, row) items
            biasFused = true;
        }
        else if (UsesStridedLanes(g) is { } scpu)
        {
            scpu.ConvStridedLanes(Weight.Value, OutChannels, xp, 0, n, g, y, Bias?.Value);   // the whole batch, (image, band) items
            biasFused = true;
        }
        else
        {
            int nb = ImagesPerChunk(n, g);
            bool direct = IsDirect(g) && nb == 1;
            // On the CPU the GEMMs pack their im2col panels straight from x (implicit GEMM): no column matrix.
            var plan = new Plan(xp, y, g, null, null, n, nb, direct, direct ? null : Device as CpuDevice, null);
            biasFused = UsesDirectKernel(plan.ImplicitCpu, g);
            int chunks = n == 0 ? 0 : (n + nb - 1) / nb;
            if (ImageParallel(chunks, g) is { } cpu)
            {
                // Each chunk adds the bias to its own y while y is still in the core's cache (resnet_down: 400 KB per image),
                // instead of a pass over all of y afterwards (12 % of that forward, 2 threads).
                if (Bias is not null && !biasFused) { plan = plan with { ChunkBias = true }; biasFused = true; }
                cpu.ParallelFor(chunks, new ChunkBody(this, plan, forward: true));
            }
            else for (int i = 0; i < chunks; i++) ForwardChunk(plan, i);
        }
        if (Bias is not null && !biasFused) Device.AddChannelBias(y, Bias.Value, n, OutChannels, cols);
        // A step that repeats the last one (same input tensor, as with reused buffers) keeps the cache it already has.
        var old = _cache;
        bool padded = !ReferenceEquals(xp, x);
        if (old is null || !ReferenceEquals(old.Xp, xp) || old.Padded != padded || old.Geom != g || !old.XShape.AsSpan().SequenceEqual(x.ShapeRef))
            _cache = new Cache(xp, x.Shape, padded, g);
        return y;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var cache = RequireCache(_cache);
        var (xp, xShape, padded, g) = (cache.Xp, cache.XShape, cache.Padded, cache.Geom);
        ArgumentNullException.ThrowIfNull(dY);
        int n = xShape[0];
        ReadOnlySpan<int> expected = [n, OutChannels, g.OutH, g.OutW];
        ShapeUtil.RequireShape(dY, expected, nameof(dY));
        CheckDevice(dY, Device, nameof(dY));

        int cols = g.ColCols;
        var dX = ReusableBuffer(1, Device, xShape, dY);
        Tensor dXp = padded ? Scratch(ref _dPadScratch, xp.ShapeRef) : dX;
        int nb = ImagesPerChunk(n, g);
        bool direct = IsDirect(g) && nb == 1;
        // CPU, stride 1: dX is itself a convolution, of dY with the flipped, transposed kernel (TransposedGeometry), run as
        // an implicit GEMM straight into dX; no dcol matrix and no col2im. Otherwise dcol = Wᵀ·dY and col2im.
        var implicitCpu = direct ? null : Device as CpuDevice;
        var (gw, gT, scatterDx) = DxPath(g, n, implicitCpu);
        bool winogradDx = gw is not null, winogradDw = false;
        if (gw is { } gwv)
        {
            // Winograd where the forward and the dX convolution both take it: dX for the whole batch (W read flipped and
            // transposed: filter (ci, co) at co·Cin·9 + ci·9), then dW += the Winograd weight gradient where it pays (where
            // the forward does; few tiles, as in resnet_l4, as one block); otherwise the chunks below compute dW through the
            // implicit GEMM and skip dX.
            implicitCpu!.ConvWinograd(Weight.Value, 9, InChannels * 9, true, InChannels, dY, 0, n, gwv, dXp);
            if (ForceWinograd || Kernels.Conv.Winograd.WeightGradPays(g, n, OutChannels))
            {
                implicitCpu.ConvWeightGradWinograd(dY, OutChannels, xp, 0, n, g, 1f, Weight.Grad, 0);
                winogradDw = true;
            }
        }
        // The direct kernel takes W' written out; the GEMM reads it flipped straight from W (BlockedGemm.GemmIm2Col).
        Tensor? wT = gT is { } gtw && UsesDirectKernel(implicitCpu, gtw) ? FlippedWeight() : null;
        // col2im accumulates, so dX is cleared first; the other paths, and a 1x1 kernel's col2im on the CPU (its taps never
        // overlap: Col2ImDisjoint writes every element once, zeros included), overwrite dX.
        if (!direct && gT is null && !winogradDx && !scatterDx && !DisjointCol2Im(implicitCpu)) Device.Fill(dXp, 0f);
        int chunks = n == 0 || winogradDw ? 0 : (n + nb - 1) / nb;
        // Where every chunk runs the direct weight gradient, its copy of dY also sums each plane for the bias gradient
        // while the plane is in cache; otherwise ChannelDot reads dY again at the end (the stem: 25.7 MB, 4 % of its backward).
        double[]? biasSums = null;
        if (Bias is not null && chunks > 0 && UsesDirectWeightGradient(implicitCpu, g))
        {
            biasSums = ConvEngine.Scratch.Get(ref _biasSums, n * OutChannels);
            Array.Clear(biasSums, 0, n * OutChannels);
        }
        if (ImageParallel(chunks, g) is { } cpu)
        {
            // Chunks on different threads: each writes its own dW partial (beta 0), added to Weight.Grad in chunk order
            // afterwards, so the result does not depend on which thread ran which chunk.
            int wLen = Weight.Value.Length;
            var partials = Scratch(ref _dwPartials, chunks * wLen);
            cpu.ParallelFor(chunks, new ChunkBody(this, new Plan(xp, dY, g, gT, wT, n, nb, direct, implicitCpu, dXp, partials, winogradDx, scatterDx,
                                                                 BiasSums: biasSums), forward: false));
            var grad = Weight.Grad.AsSpan();
            var part = partials.AsSpan();
            for (int i = 0; i < chunks; i++) System.Numerics.Tensors.TensorPrimitives.Add(grad, part.Slice(i * wLen, wLen), grad);
        }
        else
        {
            var plan = new Plan(xp, dY, g, gT, wT, n, nb, direct, implicitCpu, dXp, SkipDx: winogradDx, ScatterDx: scatterDx, BiasSums: biasSums);
            for (int i = 0; i < chunks; i++) BackwardChunk(plan, i);
        }
        if (biasSums is not null)
        {
            // db[co] += Σ over the images, in image order and in double, of the plane sums: ChannelDot's terms in ChannelDot's
            // order, so the same bits.
            var bg = Bias!.Grad.AsSpan();
            for (int co = 0; co < OutChannels; co++)
            {
                double acc = 0;
                for (int i = 0; i < n; i++) acc += biasSums[i * OutChannels + co];
                bg[co] += (float)acc;
            }
        }
        else if (Bias is not null) Device.ChannelDot(dY, null, n, OutChannels, cols, Bias.Grad, accumulate: true);
        if (padded) Device.Pad2dBackward(dXp, PaddingMode, new Padding2d(Padding.H, Padding.H, Padding.W, Padding.W), dX);
        return dX;
    }

    // What the chunks of one Forward or Backward share. Forward: X = the (padded) input, Y = y. Backward: X = the (padded)
    // input, Y = dY, DX = dX (padded), GT the stride-1 dX convolution when it applies (WT: its W' written out, for the direct
    // kernel; the GEMM reads W flipped), DW the per-chunk dW partials of the image-parallel mode (null: accumulate straight
    // into Weight.Grad), SkipDx: dX is already computed (the Winograd dX of few tiles), the chunks compute dW only;
    // ScatterDx: the chunks compute dX in scatter form (Kernels/Conv/ScatterDx.cs); ChunkBias: each forward chunk adds the
    // bias to its own y (image-parallel mode, CPU only); BiasSums: the direct weight gradient also writes the sum of each of
    // its dY planes there, [n·Cout + co], for the bias gradient (CPU only).
    private readonly record struct Plan(Tensor X, Tensor Y, ConvGeometry G, ConvGeometry? GT, Tensor? WT, int N, int Nb, bool Direct,
                                        CpuDevice? ImplicitCpu, Tensor? DX, Tensor? DW = null, bool SkipDx = false, bool ScatterDx = false,
                                        bool ChunkBias = false, double[]? BiasSums = null);

    /// <summary>Runs chunk <c>item</c> of a Forward or Backward on a pool thread (image-parallel mode).</summary>
    private readonly struct ChunkBody(Conv2d conv, Plan plan, bool forward) : IParallelBody
    {
        public void Invoke(int item)
        {
            if (forward) conv.ForwardChunk(plan, item);
            else conv.BackwardChunk(plan, item);
        }
    }

    // Image-parallel mode (CPU, several threads, several chunks): whole chunks go to the threads and each chunk's kernels run
    // on one thread (a ParallelFor inside a pool job runs inline), so what a chunk writes (its padded copy, its column
    // panels, its outputs) is read back by the core that wrote it. Small layers (at most ImageParallelMacs multiply-adds per
    // image: LeNet's) use it whenever there are two chunks: otherwise their tiny GEMMs are split over the threads ~40 times a
    // pass and waiting costs more than the second thread gives. Larger layers use it when there are at least two chunks per
    // thread (balance) and the per-chunk dW partials stay under ImageParallelPartialLimit floats; splitting each kernel over
    // the threads instead made every core read what the other had just written (backward of 32–64-channel 3x3 layers
    // 10–25 % slower, scratch harness). Null: run the chunks one after another, each kernel parallel.
    private CpuDevice? ImageParallel(int chunks, in ConvGeometry g)
    {
        if (!ImageParallelChunks || Device is not CpuDevice cpu || cpu.Threads == 1 || chunks < 2) return null;
        if (MacsPerImage(g) <= ImageParallelMacs) return cpu;
        return chunks >= 2 * cpu.Threads && (long)chunks * Weight.Value.Length <= ImageParallelPartialLimit ? cpu : null;
    }

    private long MacsPerImage(in ConvGeometry g) => (long)OutChannels * (InChannels / Groups) * KernelSize.H * KernelSize.W * g.ColCols;

    /// <summary>Whether chunks of images may run in parallel (see ImageParallel); false: every kernel is split over the threads.</summary>
    internal bool ImageParallelChunks { get; set; } = true;

    /// <summary>Multiply-adds per image up to which two chunks suffice for the image-parallel mode (see ImageParallel).</summary>
    internal long ImageParallelMacs { get; set; } = DefaultImageParallelMacs;

    /// <summary>Default of <see cref="ImageParallelMacs"/>: 2^20.</summary>
    internal const long DefaultImageParallelMacs = 1 << 20;

    /// <summary>The most floats of per-chunk dW partials (chunks × weight length) the image-parallel mode may use: 2^22 (16 MiB).</summary>
    internal const long ImageParallelPartialLimit = 1 << 22;

    /// <summary>Whether the weight gradient uses the direct kernel too where the forward does (see DirectKernel).</summary>
    internal bool DirectWeightGradient { get; set; } = true;

    /// <summary>The largest Cout·K for which dW uses the direct kernel: 2^16.</summary>
    internal const long DirectWeightGradientMaxSize = 1 << 16;

    /// <summary>Whether convolutions on the CPU use the direct kernel (Kernels/Conv/DirectConv.cs) where it applies.</summary>
    internal bool DirectKernel { get; set; } = true;

    // Whether the backward's chunks compute dW through the direct kernel (DirectConv.WeightGrad) rather than a GEMM; see
    // BackwardChunk for where that wins.
    private bool UsesDirectWeightGradient(CpuDevice? cpu, in ConvGeometry g) =>
        DirectWeightGradient && (long)OutChannels * g.ColRows <= DirectWeightGradientMaxSize && UsesDirectKernel(cpu, g);

    // The direct kernel: CPU, one group, AVX-512, K small enough for its rows to stay in L2 (else the implicit GEMM). With a
    // stride its input copy is a scalar gather into sH·sW phase planes, which pays only when each copied value feeds many
    // multiply-adds: 2·Cout·KH·KW/(sH·sW) ≥ 1024 (the 7x7/2 stem, 1568: 121 → 193 GFLOP/s; a 3x3/2 layer with 64 outputs,
    // 288: 105 → 52; a 1x1/2 projection, 64: 115 → 26, measured with 2 threads). Small planes waste the tiles' columns:
    // at 7x7 only 51 % of them are outputs, and a 128-channel 7x7 layer ran 161 GFLOP/s direct against 186 through the GEMM.
    private bool UsesDirectKernel(CpuDevice? cpu, in ConvGeometry g) =>
        DirectKernel && cpu is not null && Groups == 1 && g.ColRows <= Kernels.Conv.DirectConv.PreferredMaxK && Kernels.Conv.DirectConv.Applies(g)
        && (g.StrideH == 1 && g.StrideW == 1 || 2L * OutChannels * g.KernelH * g.KernelW >= 1024L * g.StrideH * g.StrideW)
        && Kernels.Conv.DirectConv.ColumnEfficiency(g) >= 0.6;

    /// <summary>Whether strided 1x1 convolutions on the CPU use the pointwise kernel (Kernels/Conv/PointwiseConv.cs) where it applies.</summary>
    internal bool PointwiseKernel { get; set; } = true;

    // The pointwise kernel for a strided 1x1 forward (ResNet's projections): CPU, one group, AVX-512, no padding, column
    // stride 1 or 2. It reads x in place where the implicit GEMM packed the even rows and columns into panels first
    // (resnet_down, 2 threads: see docs/performance.md, fourteenth round). The device to run it on, or null.
    private CpuDevice? UsesPointwise(in ConvGeometry g) =>
        PointwiseKernel && Device is CpuDevice cpu && Groups == 1 && (g.StrideH > 1 || g.StrideW > 1) && Kernels.Conv.PointwiseConv.Applies(g) ? cpu : null;

    /// <summary>Whether strided convolutions on the CPU use the strided channel-lanes kernel (Kernels/Conv/StridedLanesConv.cs) where it applies.</summary>
    internal bool StridedLanesKernel { get; set; } = true;

    /// <summary>
    /// The most taps (C·KH·KW) for which a strided forward takes the strided channel-lanes kernel. Its tiles stream a
    /// channel group's packed weights (K x 64 floats) from L2 once per 6 pixels: at K = 1,152 (128 → 256, 3x3/2, 28x28)
    /// it ran 3.20–3.28 ms against 3.84–3.85 on the paths before it, at K = 2,304 (256 → 512, 3x3/2, 14x14: 600 KB of
    /// weights a group, 7-pixel rows) 5.28–5.29 against 3.63–3.69 (8 images, 2 threads, Zen 5).
    /// </summary>
    internal const int StridedLanesMaxTaps = 1536;

    // The strided channel-lanes kernel for a strided forward (not a 1x1 without padding, which PointwiseConv takes): CPU,
    // one group, AVX-512, column stride up to 4, at most StridedLanesMaxTaps taps. It reads x in place where the
    // shifted-rows kernel copied it into phase planes and computed margin columns, and the implicit GEMM packed it, and it
    // streams large outputs to y in whole lines: the 7x7/2 stem 5.29–5.72 → 4.98–5.14 ms, 3x3/2 layers 1.4–2.8x faster
    // (docs/performance.md, fifteenth round). The device to run it on, or null.
    private CpuDevice? UsesStridedLanes(in ConvGeometry g) =>
        StridedLanesKernel && Device is CpuDevice cpu && Groups == 1 && (g.StrideH > 1 || g.StrideW > 1) && g.ColRows <= StridedLanesMaxTaps
        && Kernels.Conv.StridedLanesConv.Applies(g) ? cpu : null;

    /// <summary>Whether the CPU backward may compute dX in scatter form (Kernels/Conv/ScatterDx.cs) where it costs less.</summary>
    internal bool ScatterDxKernel { get; set; } = true;

    // dX in scatter form: CPU (not the 1x1 copy-free path), one group, stride 1, dilation 1, AVX-512, where it costs fewer
    // multiply-adds than the path dX would take otherwise:
    // - the gather form through the direct kernel (gT): DirectConv.Cost. A "valid" convolution's dY is padded by K − 1 all
    //   round there (LeNet's second convolution: 0.42 M against 0.92 M per image; backward 0.49 -> 0.31 ms, 2 threads);
    //   "same" padding wastes little and the gather form wins;
    // - the gather form through the implicit GEMM (gT with a large K): every product of the padded dY, Cin·Cout·KH·KW·H·W;
    // - dcol = Wᵀ·dY and col2im (no gT: fewer than 4 input channels): a GEMM with the short inner dimension Cout, then
    //   col2im reads and adds every dcol element: charged 3·Cout/2 + 32 per dcol element, fitted to backward times with
    //   either path forced (2 threads, 64 images): 3 -> 64 channels 3x3 "same" at 32x32 3.33-3.38 ms against 3.16-3.28
    //   scattered, 1 -> 32 at 28x28 0.73-0.76 against 0.64-0.68, 3 -> 16 at 32x32 1.00-1.09 against 0.73-0.87, LeNet's first
    //   convolution (1 -> 6, 5x5) 0.57 against 0.26-0.29.
    private bool UsesScatterDx(CpuDevice? cpu, in ConvGeometry g, ConvGeometry? gT)
    {
        if (!ScatterDxKernel || cpu is null || Groups != 1 || IsDirect(g) || !Kernels.Conv.ScatterDx.Applies(g)) return false;
        long other = gT is { } t
            ? UsesDirectKernel(cpu, t) ? Kernels.Conv.DirectConv.Cost(t, InChannels) : (long)InChannels * t.ColRows * t.ColCols
            : (long)g.ColRows * g.ColCols * (3L * OutChannels / 2 + 32);
        return Kernels.Conv.ScatterDx.Cost(g, OutChannels) < other;
    }

    // How the backward computes dX on the CPU (implicitCpu: null off the CPU and for the copy-free 1x1 path), at most one
    // of: Gw, the Winograd dX's geometry, where the forward and the dX convolution both take Winograd; Scatter, the
    // scatter form; GT, the geometry of the gather form (the stride-1 dX as a convolution of dY). None: dcol and col2im.
    private (ConvGeometry? Gw, ConvGeometry? GT, bool Scatter) DxPath(in ConvGeometry g, int n, CpuDevice? implicitCpu)
    {
        if (implicitCpu is not null && UsesWinograd(g, n, OutChannels) is not null && DxGeometry(g) is { } gw && UsesWinograd(gw, n, InChannels) is not null)
            return (gw, null, false);
        var gT = implicitCpu is not null && InChannels / Groups >= 4 ? TransposedGeometry(g, implicitCpu) : null;
        return UsesScatterDx(implicitCpu, g, gT) ? (null, null, true) : (null, gT, false);
    }

    /// <summary>Tests: whether a backward over <paramref name="g"/> (the geometry Forward builds) for <paramref name="n"/> images computes dX in scatter form.</summary>
    internal bool ScatterDxFor(in ConvGeometry g, int n) =>
        DxPath(g, n, IsDirect(g) && ImagesPerChunk(n, g) == 1 ? null : Device as CpuDevice).Scatter;

    /// <summary>Whether convolutions on the CPU use the Winograd kernel (Kernels/Conv/Winograd.cs) where it applies and pays.</summary>
    internal bool WinogradKernel { get; set; } = true;

    // The Winograd F(2x2, 3x3) kernel, for the whole batch at once: CPU, one group, AVX-512, 3x3 stride 1, and a shape where
    // it measured faster than the direct kernel and the implicit GEMM (Winograd.Pays). The device to run it on, or null.
    private CpuDevice? UsesWinograd(in ConvGeometry g, int images, int outChannels) =>
        WinogradKernel && Device is CpuDevice cpu && Groups == 1 && Kernels.Conv.Winograd.Applies(g)
        && (ForceWinograd || Kernels.Conv.Winograd.Pays(g, images, outChannels)) ? cpu : null;

    // A 1x1 kernel on the CPU: dX = col2im(Wᵀ·dY) writes each dX element at most once (the ResNet projection, stride 2:
    // a quarter of them), so it is written in one pass instead of cleared and then accumulated into.
    private bool DisjointCol2Im(CpuDevice? cpu) => cpu is not null && KernelSize == (1, 1);

    /// <summary>Tests: the Winograd kernel wherever it applies, also where it would not pay (small layers).</summary>
    internal bool ForceWinograd { get; set; }

    // Forward of chunk i: images b0 .. b0 + bn − 1.
    private void ForwardChunk(in Plan p, int i)
    {
        var (xp, y, g) = (p.X, p.Y, p.G);
        int b0 = i * p.Nb, bn = Math.Min(p.Nb, p.N - b0), cols = g.ColCols, ld = bn * cols;
        if (UsesDirectKernel(p.ImplicitCpu, g))
        {
            p.ImplicitCpu!.ConvDirect(Weight.Value, OutChannels, xp, b0, bn, g, y, Bias?.Value);   // straight into NCHW y with the bias, no scratch
            return;
        }
        int kg = InChannels / Groups * KernelSize.H * KernelSize.W, coutG = OutChannels / Groups;
        int imageLen = g.Channels * g.Height * g.Width, outLen = OutChannels * cols;
        var ws = ConvWorkspace.For(Device);   // this thread's scratch
        var col = p.Direct || p.ImplicitCpu is not null ? null : ws.Col((long)g.ColRows * p.Nb * cols);
        var yc = p.Nb == 1 ? null : ws.Out((long)OutChannels * p.Nb * cols);
        if (col is not null) Device.Im2ColBatch(xp, b0, bn, g, col);
        var b = col ?? xp;
        int bBase = col is null ? b0 * imageLen : 0;
        // One image: the GEMM writes y directly; several: into Y' (Cout, bn·cols), then swapped into NCHW.
        var c = bn == 1 ? y : yc!;
        int cBase = bn == 1 ? b0 * outLen : 0;
        for (int grp = 0; grp < Groups; grp++)
        {
            if (p.ImplicitCpu is { } cpu)
                cpu.GemmIm2Col(coutG, kg, Weight.Value, grp * coutG * kg, kg, xp, b0, bn, g, grp * kg, 0f, c, cBase + grp * coutG * ld, ld);
            else
                Device.Gemm(false, false, coutG, ld, kg, 1f, Weight.Value, grp * coutG * kg, kg, b, bBase + grp * kg * ld, ld,
                            0f, c, cBase + grp * coutG * ld, ld);
        }
        if (bn > 1) Device.SwapAxes(yc!, 0, OutChannels, bn, cols, y, b0 * outLen);
        if (p.ChunkBias) ((CpuDevice)Device).AddChannelBiasRows(y, Bias!.Value, OutChannels, cols, b0 * OutChannels, bn * OutChannels);
    }

    // Backward of chunk i: dW (+= into Weight.Grad, or = into the chunk's partial) and dX of images b0 .. b0 + bn − 1.
    private void BackwardChunk(in Plan p, int i)
    {
        var (xp, dY, g, dXp) = (p.X, p.Y, p.G, p.DX!);
        int b0 = i * p.Nb, bn = Math.Min(p.Nb, p.N - b0), cols = g.ColCols, ld = bn * cols;
        int kg = InChannels / Groups * KernelSize.H * KernelSize.W, coutG = OutChannels / Groups;
        int imageLen = g.Channels * g.Height * g.Width, outLen = OutChannels * cols;
        int cinG = InChannels / Groups, kT = coutG * KernelSize.H * KernelSize.W, planeLen = g.Height * g.Width;
        // The direct dW reads 10 rows per 24 accumulators, so it wins only while Cout·K is small enough for those rows to be
        // re-read from L1/L2 (2 threads, backward: resnet_l1, 64·576, 323 against 294 GF/s through the GEMM; the stem; LeNet);
        // vgg_l1 (128·576) was level, resnet_l2 (128·1152) 280 against 301, resnet_l3 (256·2304) 205 against 237: there the
        // GEMM's packed panels, each serving a whole 8 x 32 tile, are cheaper.
        bool directDw = UsesDirectWeightGradient(p.ImplicitCpu, g);
        bool directDx = p.GT is { } gtx && UsesDirectKernel(p.ImplicitCpu, gtx);
        // The direct kernels read dY in NCHW; the GEMMs want dY of the chunk as (Cout, bn·cols): the NCHW slice itself for
        // one image, swapped for several. Scratch is fetched only for the paths that use it.
        bool swapDy = bn > 1 && !(directDw && (directDx || p.ScatterDx));
        var ws = ConvWorkspace.For(Device);   // this thread's scratch
        var col = p.Direct || p.ImplicitCpu is not null ? null : ws.Col((long)g.ColRows * p.Nb * cols);
        var dcol = p.Direct || p.GT is not null || p.SkipDx || p.ScatterDx ? null : ws.DCol((long)g.ColRows * p.Nb * cols);
        var dyc = swapDy ? ws.Out((long)OutChannels * p.Nb * cols) : null;
        var dxc = p.GT is null || directDx || p.Nb == 1 ? null : ws.DCol((long)imageLen * p.Nb);
        var (dw, dwBase, dwBeta) = p.DW is { } part ? (part, i * Weight.Value.Length, 0f) : (Weight.Grad, 0, 1f);
        if (col is not null) Device.Im2ColBatch(xp, b0, bn, g, col);
        var b = col ?? xp;
        var db = dcol ?? dXp;
        int bBase = col is null ? b0 * imageLen : 0, dBase = dcol is null ? b0 * imageLen : 0;
        var a = bn == 1 ? dY : dyc!;
        int aBase = bn == 1 ? b0 * outLen : 0;
        if (swapDy) Device.SwapAxes(dY, b0 * outLen, bn, OutChannels, cols, dyc!, 0);
        for (int grp = 0; grp < Groups; grp++)
        {
            int yOff = aBase + grp * coutG * ld;
            // dW_g += dY_g · col_gᵀ (on the CPU with col packed straight from x, or by the direct kernel from dY and x in NCHW)
            if (directDw)
            {
                if (grp == 0) p.ImplicitCpu!.ConvWeightGradDirect(dY, OutChannels, xp, b0, bn, g, dwBeta, dw, dwBase, p.BiasSums);
            }
            else if (p.ImplicitCpu is { } cpu)
                cpu.GemmIm2ColT(coutG, kg, a, yOff, ld, xp, b0, bn, g, grp * kg, dwBeta, dw, dwBase + grp * coutG * kg, kg);
            else
                Device.Gemm(false, true, coutG, kg, ld, 1f, a, yOff, ld, b, bBase + grp * kg * ld, ld,
                            dwBeta, dw, dwBase + grp * coutG * kg, kg);
            if (directDx)
            {
                if (grp == 0) p.ImplicitCpu!.ConvDirect(p.WT!, InChannels, dY, b0, bn, p.GT!.Value, dXp);   // straight into NCHW dX
            }
            else if (p.ScatterDx)
            {
                if (grp == 0) p.ImplicitCpu!.ConvDataGradScatter(Weight.Value, OutChannels, dY, b0, bn, g, dXp);   // straight into NCHW dX
            }
            else if (p.GT is { } gt)
            {
                // dX_g (Cin/G, bn·H·W) = W'_g · im2col'(dY)_g; one image: straight into dX, several: swapped in below.
                var c = bn == 1 ? dXp : dxc!;
                int ldx = bn * planeLen, cOff = bn == 1 ? b0 * imageLen + grp * cinG * planeLen : grp * cinG * ldx;
                // W'_g read flipped straight from W_g (rows co of kg floats; taps reversed): W' is never written out.
                p.ImplicitCpu!.GemmIm2Col(cinG, kT, Weight.Value, grp * coutG * kg, kg, dY, b0, bn, gt, grp * kT, 0f, c, cOff, ldx,
                                          flipTaps: KernelSize.H * KernelSize.W);
            }
            else if (!p.SkipDx)
            {
                // dcol_g = W_gᵀ · dY_g
                Device.Gemm(true, false, kg, ld, coutG, 1f, Weight.Value, grp * coutG * kg, kg, a, yOff, ld,
                            0f, db, dBase + grp * kg * ld, ld);
            }
        }
        if (dcol is not null)
        {
            if (DisjointCol2Im(p.ImplicitCpu)) p.ImplicitCpu!.Col2ImDisjoint(dcol, g, dXp, b0, bn);
            else Device.Col2ImBatch(dcol, g, dXp, b0, bn);
        }
        if (dxc is not null && bn > 1) Device.SwapAxes(dxc, 0, InChannels, bn, planeLen, dXp, b0 * imageLen);
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Conv2d({InChannels}, {OutChannels}, kernel_size={Pair(KernelSize)}, stride={Pair(Stride)}");
        if (Padding != (0, 0)) sb.Append(", padding=").Append(Pair(Padding));
        if (Dilation != (1, 1)) sb.Append(", dilation=").Append(Pair(Dilation));
        if (Groups != 1) sb.Append(CultureInfo.InvariantCulture, $", groups={Groups}");
        if (Bias is null) sb.Append(", bias=False");
        if (PaddingMode != PaddingMode.Zeros) sb.Append(", padding_mode=").Append(PaddingMode.ToString().ToLowerInvariant());
        return sb.Append(')').ToString();
    }

    private static string Pair((int H, int W) p) => string.Create(CultureInfo.InvariantCulture, $"({p.H}, {p.W})");

    // The geometry of dX as a convolution of dY (stride 1 only): channels Cout over the OH x OW output, the same kernel and
    // dilation, padding d·(K − 1) − p, which gives back H x W. Null where that does not hold (stride > 1, or p > d·(K − 1)),
    // and where dY would need more padding than x had (a "valid" convolution) unless the direct kernel takes it: padded by
    // K − 1, dY feeds many zero products (LeNet's second convolution: 10x10 of 14x14 outputs' taps are real), which the
    // implicit GEMM would pay for in full, but the direct kernel still beats dcol = Wᵀ·dY plus col2im there (lenet_c2
    // backward, 2 threads: 0.57-0.58 ms -> 0.50 ms in alternating runs).
    private ConvGeometry? TransposedGeometry(in ConvGeometry g, CpuDevice cpu) =>
        DxGeometry(g) is { } t && (t.PadH <= g.PadH && t.PadW <= g.PadW || UsesDirectKernel(cpu, t)) ? t : null;

    // The geometry of dX as a convolution of dY, wherever it exists (stride 1, d·(K − 1) − p ≥ 0): the transposed geometry
    // above without its choice of kernels. The Winograd backward takes it as is (3x3: padding 2 − p).
    private ConvGeometry? DxGeometry(in ConvGeometry g)
    {
        if (g.StrideH != 1 || g.StrideW != 1) return null;
        int ph = g.DilationH * (g.KernelH - 1) - g.PadH, pw = g.DilationW * (g.KernelW - 1) - g.PadW;
        if (ph < 0 || pw < 0) return null;
        var t = new ConvGeometry(OutChannels, g.OutH, g.OutW, g.KernelH, g.KernelW, 1, 1, ph, pw, g.DilationH, g.DilationW);
        return t.OutH == g.Height && t.OutW == g.Width ? t : null;
    }

    // W' for the stride-1 dX convolution by the direct kernel, per group: W'[g][ci][co][kh][kw] = W[g·Cout/G + co][ci][KH−1−kh][KW−1−kw],
    // i.e. each group's block transposed (Cin/G rows of Cout/G·KH·KW) with the kernel rotated by 180°. Host tensors only
    // (the caller is the CPU path); rebuilt every backward since the weights change every step. (The GEMM path reads W'
    // straight from W while packing instead: for resnet_l4's 2.4 M weights this copy took about 2 ms.)
    private Tensor FlippedWeight()
    {
        var wt = Scratch(ref _flipped, Weight.Value.Length);
        int cinG = InChannels / Groups, blocks = (cinG + FlipBlock - 1) / FlipBlock;
        var body = new FlipBlocks(Weight.Value, wt, KernelSize.H * KernelSize.W, cinG, OutChannels / Groups, blocks);
        int items = Groups * blocks;
        if (Device is CpuDevice cpu && cpu.Threads > 1 && Weight.Value.Length >= 1 << 16) cpu.ParallelFor(items, body);
        else for (int i = 0; i < items; i++) body.Invoke(i);
        return wt;
    }

    private const int FlipBlock = 16;

    // Item = (group, block of FlipBlock input channels): for each co, the block's KH·KW taps are contiguous in W (one
    // read) and go reversed to FlipBlock rows of W'.
    private readonly struct FlipBlocks(Tensor w, Tensor wt, int taps, int cinG, int coutG, int blocks) : IParallelBody
    {
        public unsafe void Invoke(int item)
        {
            int grp = item / blocks, ci0 = item % blocks * FlipBlock, ciEnd = Math.Min(cinG, ci0 + FlipBlock);
            fixed (float* w0 = w.AsSpan(), d0 = wt.AsSpan())
                for (int co = 0; co < coutG; co++)
                {
                    float* src = w0 + ((long)(grp * coutG + co) * cinG + ci0) * taps;
                    for (int ci = ci0; ci < ciEnd; ci++, src += taps)
                    {
                        float* dst = d0 + ((long)(grp * cinG + ci) * coutG + co) * taps;
                        for (int t = 0; t < taps; t++) dst[t] = src[taps - 1 - t];
                    }
                }
        }
    }

    // A 1×1 kernel with stride 1 and no padding: the column matrix of an image is the image itself.
    private static bool IsDirect(in ConvGeometry g) =>
        g.KernelH == 1 && g.KernelW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0;

    private static int OutSize(int size, int k, int s, int p, int d, string axis, ReadOnlySpan<int> shape, string arg)
    {
        int effective = d * (k - 1) + 1, padded = size + 2 * p;
        if (effective > padded)
            throw new ArgumentException(
                $"Input {ShapeUtil.Format(shape)} is too small: the kernel {axis} {k} (dilation {d}, effective {effective}) is larger than the padded input {axis} {size} + 2·{p} = {padded}.", arg);
        return (padded - effective) / s + 1;
    }

    private Tensor Scratch(ref Tensor? field, params ReadOnlySpan<int> shape)
    {
        if (field is null || !field.ShapeRef.AsSpan().SequenceEqual(shape)) field = new Tensor(Device, shape.ToArray());
        return field;
    }
}
