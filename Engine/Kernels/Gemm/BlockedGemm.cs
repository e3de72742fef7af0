// BLIS-style single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, row-major, with leading dimensions and offsets.
//
// Loop nest (BLIS names), run by each work item on its tile of C:
//   work item = (mbPer blocks of MC rows) x (chunk of NR-column panels, at most NC wide)   one parallel region per call
//     pc over K in KC                            packed B chunk      KC x chunk  (this thread's buffer, L2/L3)
//       ic over the item's MC blocks             packed A block      MC x KC     (this thread's buffer, L2)
//         jr over NR panels                      one B panel         KC x NR     (L1)
//           ir over MR panels → micro-kernel     MR x NR accumulators in registers
// (mbPer, chunk) come from a cost model of arithmetic plus packing (Tiling).
// Transposes are absorbed by packing: the micro-kernel always sees A panels as [p][MR] and B panels as [p][NR],
// zero padded past the matrix edge, so edge tiles run the same kernel and only their store is masked.
// beta applies on the first K block only (later blocks accumulate with beta = 1); with beta == 0, C is never read.
// When op(B) = B and M fits one A panel (m <= MR, e.g. the 6-filter first convolution), every B element is used exactly
// once, so packing B would only add a copy: full-width B panels are read in place (stride ldb) and only the right-edge
// panel is packed (zero padded).
// Determinism: each C element is produced by one work item with a fixed k order, so the result does not depend on
// the thread count or scheduling at all.
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvEngine.Kernels.Gemm;

/// <summary>A register micro-kernel: computes an MR x NR tile of C from packed panels (see <c>MicroKernels.cs</c>).</summary>
internal interface IMicroKernel
{
    static abstract int MR { get; }
    static abstract int NR { get; }
    static abstract bool IsSupported { get; }
    static abstract unsafe void Run(int kc, float* a, float* b, int ldb, float* c, int ldc, float alpha, float beta, int mr, int nr);
}

/// <summary>Which micro-kernel this process uses, chosen once at start-up from the processor's features.</summary>
internal enum GemmKernelKind
{
    /// <summary>8 x 32 on Vector512 with FMA.</summary>
    Avx512,
    /// <summary>6 x 16 on Vector256 with FMA3.</summary>
    Avx2,
    /// <summary>4 x 2·Vector&lt;float&gt;.Count, portable.</summary>
    Portable,
}

/// <summary>Where the GEMM's B panels come from: packs op(B) columns [j0, j0 + nr) x depth [p0, p0 + kc) as [p][NR], zero padding to NR.</summary>
internal interface IBSource
{
    unsafe void Pack(int p0, int kc, int j0, int nr, int NR, float* dst);

    /// <summary>Whether <see cref="InPlace"/> works: a matrix with op(B) = B.</summary>
    bool CanReadInPlace { get; }

    /// <summary>The relative cost of packing one float (a plain copy: 1), for the tiling's cost model.</summary>
    double PackCost { get; }

    /// <summary>For sources that can be read in place (a plain matrix): the address of op(B)(p0, j) and the row stride.</summary>
    unsafe float* InPlace(int p0, int j, out int stride);
}

/// <summary>B is a row-major matrix (op(B) = B or Bᵀ) at <c>B0</c> with leading dimension <c>ldb</c>.</summary>
internal readonly struct MatrixB(nint b0, int ldb, bool transB) : IBSource
{
    public bool CanReadInPlace => !transB;

    public double PackCost => transB ? 1.5 : 1;

    public unsafe void Pack(int p0, int kc, int j0, int nr, int NR, float* dst) => BlockedGemm.PackB((float*)b0, ldb, transB, p0, kc, j0, nr, NR, dst);

    public unsafe float* InPlace(int p0, int j, out int stride)
    {
        stride = ldb;
        return (float*)b0 + (long)p0 * ldb + j;
    }
}

/// <summary>The blocked GEMM driver: blocking, packing, threading; the arithmetic lives in the micro-kernels.</summary>
internal static class BlockedGemm
{
    /// <summary>Depth of a K block: a KC x NR B panel (256·32·4 B = 32 KiB) stays in L1 while the micro-kernel streams A.</summary>
    public const int KC = 256;
    /// <summary>Rows of an A block (rounded down to a multiple of MR): MC x KC (≈128 KiB) fits the per-core L2 with room for C.</summary>
    public const int MC = 128;
    /// <summary>Columns of a B block (rounded down to a multiple of NR): KC x NC (4 MiB) is shared by all threads from L3.</summary>
    public const int NC = 4096;
    /// <summary>Below this many multiply-adds (m·n·k) a direct loop beats packing.</summary>
    public const long TinyWork = 2048;
    /// <summary>Below this many multiply-adds a call stays on the calling thread.</summary>
    public const long ParallelWork = 1L << 18;

    /// <summary>The micro-kernel selected for this processor.</summary>
    public static readonly GemmKernelKind Kind =
        Avx512Kernel.IsSupported ? GemmKernelKind.Avx512 :
        Avx2Kernel.IsSupported ? GemmKernelKind.Avx2 : GemmKernelKind.Portable;

    /// <summary>MR x NR of the selected micro-kernel, for documentation and benchmarks.</summary>
    public static string Describe() => Kind switch
    {
        GemmKernelKind.Avx512 => $"Avx512 {Avx512Kernel.MR}x{Avx512Kernel.NR}",
        GemmKernelKind.Avx2 => $"Avx2 {Avx2Kernel.MR}x{Avx2Kernel.NR}",
        _ => $"Portable {VectorKernel.MR}x{VectorKernel.NR}",
    };

    [ThreadStatic] private static float[]? t_packA, t_packB;

    /// <summary>
    /// The tiling cost model's price of packing one float, in multiply-adds: the micro-kernel retires about 100 multiply-adds
    /// per ns on a core while a plain packing copy moves a few floats per ns. Calibrated on 2 threads (Zen 5): 12–60 all
    /// beat the one-A-block-per-item tiling, 30 best overall (1024³ 318 → 387 GFLOP/s, resnet_l4's 4608 x 392 x 512 dX
    /// 291 → 366, its dW 319 → 398).
    /// </summary>
    public const double PackBeta = 30;

    /// <summary>Multiply-adds (m·n·k) from which the tiling is chosen by the cost model (below it: one M block per item).</summary>
    public const long TilingModelWork = 1L << 24;

    /// <summary>
    /// How the work items cut C: each item is mbPer consecutive M blocks (MC rows) x perChunk NR-column panels; it packs its
    /// B panels once per K block for all of its M blocks, and each A block once. Small GEMMs and in-place B keep one M block
    /// per item with N chunks for about three items per thread. Larger ones take the (mbPer, perChunk) that minimises
    /// rounds x (an item's multiply-adds + PackBeta x the floats it packs, B weighted by the source's PackCost): with one M
    /// block per item every item re-packs its B chunk, which for an im2col source (resnet_l4: 4 M blocks, K = 4608) cost
    /// about as much as the arithmetic.
    /// </summary>
    internal static (int MbPer, int PerChunk) Tiling(int m, int n, int k, int mBlocks, int nPanels, int mr, int nr, int ncBlock,
                                                    int threads, bool directB, double packCostB)
    {
        if (directB || (long)m * n * k < TilingModelWork)
        {
            int nChunks = Math.Max((nPanels * nr + ncBlock - 1) / ncBlock, (3 * threads + mBlocks - 1) / mBlocks);
            nChunks = Math.Clamp(nChunks, 1, nPanels);
            return (1, (nPanels + nChunks - 1) / nChunks);
        }
        int mcBlock = Math.Max(mr, MC / mr * mr);
        double best = double.MaxValue; (int, int) choice = (1, nPanels);
        for (int mbPer = 1; mbPer <= mBlocks; mbPer++)
        {
            int mRanges = (mBlocks + mbPer - 1) / mbPer;
            if (mbPer > 1 && (mBlocks + mbPer - 2) / (mbPer - 1) == mRanges) continue; // same ranges as a smaller mbPer
            long rows = Math.Min((long)mbPer * mcBlock, (m + mr - 1) / mr * mr);
            for (int nChunks = 1; nChunks <= nPanels; nChunks++)
            {
                int perChunk = (nPanels + nChunks - 1) / nChunks;
                if ((nPanels + perChunk - 1) / perChunk != nChunks || (long)perChunk * nr > ncBlock) continue;
                long items = (long)mRanges * nChunks, rounds = (items + threads - 1) / threads;
                double cols = (double)perChunk * nr;
                double item = rows * cols + PackBeta * (cols * packCostB + rows);
                double cost = rounds * item;
                if (cost < best * 0.999) { best = cost; choice = (mbPer, perChunk); }
            }
        }
        return choice;
    }
    [ThreadStatic] private static bool t_inUse;

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C on host arrays. Arguments must already be validated (see CpuDevice.Gemm):
    /// every addressed element lies inside its array.
    /// </summary>
    public static void Gemm(CpuDevice device, bool transA, bool transB, int m, int n, int k, float alpha,
                            float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float beta, float[] c, int cOffset, int ldc)
    {
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0) { ScaleC(m, n, beta, c, cOffset, ldc); return; }
        if ((long)m * n * k <= TinyWork) { Tiny(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc); return; }
        unsafe
        {
            fixed (float* bp = b)
                Dispatch(device, transA, m, n, k, alpha, a, aOffset, lda, new MatrixB((nint)(bp + bOffset), ldb, transB), beta, c, cOffset, ldc);
        }
    }

    /// <summary>Runs the blocked algorithm with the micro-kernel selected for this processor (<see cref="Kind"/>).</summary>
    private static void Dispatch<TB>(CpuDevice device, bool transA, int m, int n, int k, float alpha, float[] a, int aOffset, int lda,
                                     TB bsrc, float beta, float[] c, int cOffset, int ldc, int flipTaps = 0) where TB : struct, IBSource
    {
        switch (Kind)
        {
            case GemmKernelKind.Avx512: Run<Avx512Kernel, TB>(device, transA, m, n, k, alpha, a, aOffset, lda, bsrc, beta, c, cOffset, ldc, flipTaps); break;
            case GemmKernelKind.Avx2: Run<Avx2Kernel, TB>(device, transA, m, n, k, alpha, a, aOffset, lda, bsrc, beta, c, cOffset, ldc, flipTaps); break;
            default: Run<VectorKernel, TB>(device, transA, m, n, k, alpha, a, aOffset, lda, bsrc, beta, c, cOffset, ldc, flipTaps); break;
        }
    }

    /// <summary>Runs the blocked algorithm with micro-kernel <typeparamref name="TK"/> (exposed so tests can force a kernel).</summary>
    /// <remarks>
    /// One parallel region per call: C is cut into tiles of (mbPer x MC rows) x (a chunk of NR-column panels, at most NC wide), and
    /// each tile is one work item that packs its own A block and B panels into the executing thread's buffers and runs the
    /// whole K loop. Work items never wait for each other (no barrier between packing and computing), which matters for
    /// the narrow GEMMs of convolutions where a phase lasts only microseconds. An A block is packed once per N chunk and a
    /// B chunk once per M range of mbPer blocks; Tiling weighs those redundant copies against balancing the threads.
    /// </remarks>
    internal static unsafe void Run<TK>(CpuDevice device, bool transA, bool transB, int m, int n, int k, float alpha,
                                        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float beta, float[] c, int cOffset, int ldc)
        where TK : IMicroKernel
    {
        fixed (float* bp = b)
            Run<TK, MatrixB>(device, transA, m, n, k, alpha, a, aOffset, lda, new MatrixB((nint)(bp + bOffset), ldb, transB), beta, c, cOffset, ldc);
    }

    /// <summary>
    /// C (M x images·OH·OW) = alpha·A (M x K)·B + beta·C where B is rows [rowOffset, rowOffset + K) of the im2col matrix of
    /// <paramref name="images"/> consecutive images starting at element <paramref name="xOffset"/> of x, packed straight from
    /// the images (implicit GEMM: the column matrix is never written to memory). Arguments must already be validated.
    /// With <paramref name="flipTaps"/> = T > 0, A is read as the flipped transpose of a convolution weight block W at
    /// aOffset with row stride lda: A(i, co·T + t) = W[co][i·T + T − 1 − t] (the stride-1 dX convolution's W').
    /// </summary>
    public static unsafe void GemmIm2Col(CpuDevice device, int m, int k, float alpha, float[] a, int aOffset, int lda,
                                         float[] x, int xOffset, int images, in ConvGeometry g, int rowOffset,
                                         float beta, float[] c, int cOffset, int ldc, int flipTaps = 0)
    {
        int n = images * g.ColCols;
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0) { ScaleC(m, n, beta, c, cOffset, ldc); return; }
        if (PaddedIm2Col.Applies(g))
        {
            var src = PaddedIm2Col.Prepare(device, x, xOffset, images, g, rowOffset, k, out var view, out int start);
            fixed (float* sp = src)
                Dispatch(device, false, m, n, k, alpha, a, aOffset, lda, new Im2ColB<PaddedRows>(new PaddedRows((nint)(sp + start), view), rowOffset), beta, c, cOffset, ldc, flipTaps);
            return;
        }
        fixed (float* xp = x)
            Dispatch(device, false, m, n, k, alpha, a, aOffset, lda, new Im2ColB<ClippedRows>(new ClippedRows((nint)(xp + xOffset), g), rowOffset), beta, c, cOffset, ldc, flipTaps);
    }

    /// <summary>
    /// C (M x N) = alpha·A (M x K)·colᵀ + beta·C where col is rows [rowOffset, rowOffset + N) of the im2col matrix of
    /// <paramref name="images"/> images at element <paramref name="xOffset"/> of x, and K = images·OH·OW (its columns):
    /// the weight-gradient GEMM of a convolution, packed straight from the images. Arguments must already be validated.
    /// </summary>
    public static unsafe void GemmIm2ColT(CpuDevice device, int m, int n, float alpha, float[] a, int aOffset, int lda,
                                          float[] x, int xOffset, int images, in ConvGeometry g, int rowOffset,
                                          float beta, float[] c, int cOffset, int ldc)
    {
        int k = images * g.ColCols;
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0) { ScaleC(m, n, beta, c, cOffset, ldc); return; }
        if (PaddedIm2Col.Applies(g))
        {
            var src = PaddedIm2Col.Prepare(device, x, xOffset, images, g, rowOffset, n, out var view, out int start);
            fixed (float* sp = src)
                Dispatch(device, false, m, n, k, alpha, a, aOffset, lda, new Im2ColTB<PaddedRows>(new PaddedRows((nint)(sp + start), view), rowOffset), beta, c, cOffset, ldc);
            return;
        }
        fixed (float* xp = x)
            Dispatch(device, false, m, n, k, alpha, a, aOffset, lda, new Im2ColTB<ClippedRows>(new ClippedRows((nint)(xp + xOffset), g), rowOffset), beta, c, cOffset, ldc);
    }

    /// <summary>The blocked algorithm over any source of B panels (a matrix, or the im2col view of images).</summary>
    private static unsafe void Run<TK, TB>(CpuDevice device, bool transA, int m, int n, int k, float alpha, float[] a, int aOffset, int lda,
                                           TB bsrc, float beta, float[] c, int cOffset, int ldc, int flipTaps = 0)
        where TK : IMicroKernel where TB : struct, IBSource
    {
        // B read in place (no packing) when the source allows it and M fits one A panel: see the file header.
        bool directB = bsrc.CanReadInPlace && m <= TK.MR;
        int MR = TK.MR, NR = TK.NR;
        int mcBlock = Math.Max(MR, MC / MR * MR);
        int ncBlock = Math.Max(NR, NC / NR * NR);
        bool parallel = device.Threads > 1 && (long)m * n * k >= ParallelWork;
        int threads = parallel ? device.Threads : 1;

        int mBlocks = (m + mcBlock - 1) / mcBlock;
        int nPanels = (n + NR - 1) / NR;
        var (mbPer, perChunk) = Tiling(m, n, k, mBlocks, nPanels, MR, NR, ncBlock, threads, directB, bsrc.PackCost);
        int mRanges = (mBlocks + mbPer - 1) / mbPer, nChunks = (nPanels + perChunk - 1) / perChunk;
        int items = mRanges * nChunks;
        int kcMax = KStep(k);
        int needA = Math.Min(mcBlock, (m + MR - 1) / MR * MR) * kcMax + 16, needB = perChunk * NR * kcMax + 16 + PaddedIm2Col.Slack;

        fixed (float* ap = a, cp = c)
        {
            nint A0 = (nint)(ap + aOffset), C0 = (nint)(cp + cOffset);
            var tile = new Tile<TB, TK>(A0, lda, transA, bsrc, C0, ldc, m, n, k, alpha, beta, MR, NR, mcBlock, perChunk, directB, needA, needB, kcMax, mbPer, flipTaps);
            if (parallel && items > 1) device.ParallelFor(items, tile);
            else for (int i = 0; i < items; i++) tile.Invoke(i);
        }
    }

    // One GEMM's tiling, shared by its work items (the arrays are pinned by the caller's fixed block for the whole call).
    // A struct handed to ParallelFor by reference: a call allocates no tile object and no delegate.
    private readonly struct Tile<TB, TK>(nint a0, int lda, bool transA, TB bsrc, nint c0, int ldc, int m, int n, int k,
                                         float alpha, float beta, int mr, int nr, int mcBlock, int perChunk, bool directB, int needA, int needB, int kStep, int mbPer, int flipTaps)
        : IParallelBody
        where TB : struct, IBSource where TK : IMicroKernel
    {
        public unsafe void Invoke(int item)
        {
            TB src = bsrc; // a local: calls on a readonly field of a type parameter would copy it each time
            // Items with consecutive numbers share an N chunk (the B panels stay in L3 for the next M block).
            int mBlocks = (m + mcBlock - 1) / mcBlock;
            int mRanges = (mBlocks + mbPer - 1) / mbPer;
            int mbFirst = item % mRanges * mbPer, mbEnd = Math.Min(mBlocks, mbFirst + mbPer), nb = item / mRanges;
            int j0 = nb * perChunk * nr, nc = Math.Min(perChunk * nr, n - j0);
            if (nc <= 0) return;
            int nPanels = (nc + nr - 1) / nr, fullPanels = nc / nr;

            bool owner = !t_inUse;
            float[] bufA, bufB;
            if (owner)
            {
                t_inUse = true;
                bufA = t_packA is { } pa0 && pa0.Length >= needA ? pa0 : (t_packA = GC.AllocateUninitializedArray<float>(Math.Max(needA, 1 << 16), pinned: true));
                bufB = t_packB is { } pb0 && pb0.Length >= needB ? pb0 : (t_packB = GC.AllocateUninitializedArray<float>(Math.Max(needB, 1 << 16), pinned: true));
            }
            else
            {
                bufA = ArrayPool<float>.Shared.Rent(needA);
                bufB = ArrayPool<float>.Shared.Rent(needB);
            }
            try
            {
                fixed (float* pa0 = bufA, pb0 = bufB)
                {
                    float* packA = LineAligned(pa0), packB = LineAligned(pb0);
                    float* A0 = (float*)a0, C0 = (float*)c0;
                    for (int pc = 0; pc < k; pc += kStep)
                    {
                        int kc = Math.Min(kStep, k - pc);
                        float betaEff = pc == 0 ? beta : 1f;
                        if (!directB)
                            for (int jp = 0; jp < nPanels; jp++)
                                src.Pack(pc, kc, j0 + jp * nr, Math.Min(nr, nc - jp * nr), nr, packB + (long)jp * nr * kc);
                        else if (fullPanels < nPanels) // only the right-edge panel, into the first slot
                            src.Pack(pc, kc, j0 + fullPanels * nr, nc - fullPanels * nr, nr, packB);
                        for (int mb = mbFirst; mb < mbEnd; mb++)
                        {
                            int i0 = mb * mcBlock, mc = Math.Min(mcBlock, m - i0), mPanels = (mc + mr - 1) / mr;
                            for (int ip = 0; ip < mPanels; ip++)
                                PackA(A0, lda, transA, flipTaps, pc, kc, i0 + ip * mr, Math.Min(mr, mc - ip * mr), mr, packA + (long)ip * mr * kc);

                            for (int jp = 0; jp < nPanels; jp++)
                            {
                                int j = jp * nr, nrr = Math.Min(nr, nc - j);
                                float* bPanel; int bStride;
                                if (!directB) { bPanel = packB + (long)jp * nr * kc; bStride = nr; }
                                else if (jp < fullPanels) { bPanel = src.InPlace(pc, j0 + j, out bStride); }
                                else { bPanel = packB; bStride = nr; }
                                for (int ip = 0; ip < mPanels; ip++)
                                {
                                    int i = ip * mr, mrr = Math.Min(mr, mc - i);
                                    TK.Run(kc, packA + (long)ip * mr * kc, bPanel, bStride, C0 + (long)(i0 + i) * ldc + j0 + j, ldc, alpha, betaEff, mrr, nrr);
                                }
                            }
                        }
                    }
                }
            }
            finally
            {
                if (owner) t_inUse = false;
                else { ArrayPool<float>.Shared.Return(bufA); ArrayPool<float>.Shared.Return(bufB); }
            }
        }
    }

    /// <summary>
    /// The depth of the K blocks: K in equal blocks of at most KC (a K of 288 runs as one block of 288 rather than 256 + 32,
    /// where the short block would pay a full load and store of C for 32 steps); up to 5/4·KC runs as one block.
    /// </summary>
    internal static int KStep(int k)
    {
        if (k <= KC + KC / 4) return k;
        int blocks = (k + KC - 1) / KC;
        return (k + blocks - 1) / blocks;
    }

    /// <summary>Packs rows [i0, i0 + mr) x depth [p0, p0 + kc) of op(A) as [p][MR], zero padding rows mr..MR.</summary>
    private static unsafe void PackA(float* a, int lda, bool transA, int flipTaps, int p0, int kc, int i0, int mr, int MR, float* dst)
    {
        if (flipTaps > 0)
        {
            // op(A)(i, p) = a[co·lda + i·taps + taps − 1 − t] with p = co·taps + t: the flipped, transposed convolution
            // weight W' read straight from W (see GemmIm2Col), so W' is never written out. For one co the panel's rows
            // are a contiguous MR x taps block of W, and its taps depth steps are that block's columns in reverse order:
            // with MR = 8, whole co go through 8x8 register transposes (8 columns at a time, written backwards); a co
            // cut by the K block's ends, and the last taps mod 8 columns, one value at a time.
            int T = flipTaps, co = p0 / T, t = p0 - co * T;
            bool blocks = MR == 8 && T >= 8 && Avx.IsSupported;
            for (int p = 0; p < kc; co++, t = 0)
            {
                float* block = a + (long)co * lda + (long)i0 * T;   // row r of the panel: block[r·T .. r·T + T)
                int tEnd = Math.Min(T, t + kc - p);
                if (blocks && t == 0 && tEnd == T)
                {
                    float* d0 = dst + (long)p * MR;   // depth step t of this co at d0 + t·MR, holding column T − 1 − t
                    int q = 0;
                    for (; q + 8 <= T; q += 8) Transpose8Rows(block + q, T, mr, d0 + (long)(T - 1 - q) * MR, -MR);
                    for (; q < T; q++) FlippedColumn(block + q, T, mr, MR, d0 + (long)(T - 1 - q) * MR);
                }
                else
                    for (int tt = t; tt < tEnd; tt++) FlippedColumn(block + (T - 1 - tt), T, mr, MR, dst + (long)(p + tt - t) * MR);
                p += tEnd - t;
            }
            return;
        }
        if (transA)
        {
            // op(A)(i, p) = a[p·lda + i]: each depth step is a contiguous run of mr values.
            for (int p = 0; p < kc; p++)
            {
                float* src = a + (long)(p0 + p) * lda + i0;
                float* d = dst + p * MR;
                int r = 0;
                for (; r < mr; r++) d[r] = src[r];
                for (; r < MR; r++) d[r] = 0;
            }
        }
        else
        {
            // op(A)(i, p) = a[i·lda + p]: a transpose. With MR = 8, 8x8 blocks go through registers (Transpose8Rows);
            // the remaining depth, and other MR, read each row contiguously and scatter with stride MR.
            int done = 0;
            if (MR == 8 && Avx.IsSupported)
            {
                done = kc & ~7;
                for (int p = 0; p < done; p += 8)
                    Transpose8Rows(a + (long)i0 * lda + p0 + p, lda, mr, dst + p * 8, 8);
                if (done == kc) return;
            }
            for (int r = 0; r < mr; r++)
            {
                float* src = a + (long)(i0 + r) * lda + p0;
                float* d = dst + r;
                for (int p = done; p < kc; p++) d[p * MR] = src[p];
            }
            for (int r = mr; r < MR; r++)
                for (int p = done; p < kc; p++) dst[p * MR + r] = 0;
            return;
        }
    }

    // d[r] = src[r·stride] for r < mr, zeros up to MR: one depth step of a flipped-weight A panel.
    private static unsafe void FlippedColumn(float* src, int stride, int mr, int MR, float* d)
    {
        int r = 0;
        for (; r < mr; r++) d[r] = src[(long)r * stride];
        for (; r < MR; r++) d[r] = 0;
    }

    /// <summary>The first 64-byte (cache-line) boundary at or after <paramref name="p"/>: a buffer needs 15 floats of slack for it.</summary>
    internal static unsafe float* LineAligned(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    /// <summary>
    /// Transposes an 8 (rows, stride <paramref name="ld"/>; rows ≥ <paramref name="rows"/> read as zero) x 8 (contiguous)
    /// block into 8 vectors of 8: output vector q (at dst + q·dstStride) holds element q of every row.
    /// </summary>
    internal static unsafe void Transpose8Rows(float* src, int ld, int rows, float* dst, int dstStride)
    {
        Vector256<float> z = Vector256<float>.Zero;
        var r0 = rows > 0 ? Avx.LoadVector256(src) : z;
        var r1 = rows > 1 ? Avx.LoadVector256(src + ld) : z;
        var r2 = rows > 2 ? Avx.LoadVector256(src + 2L * ld) : z;
        var r3 = rows > 3 ? Avx.LoadVector256(src + 3L * ld) : z;
        var r4 = rows > 4 ? Avx.LoadVector256(src + 4L * ld) : z;
        var r5 = rows > 5 ? Avx.LoadVector256(src + 5L * ld) : z;
        var r6 = rows > 6 ? Avx.LoadVector256(src + 6L * ld) : z;
        var r7 = rows > 7 ? Avx.LoadVector256(src + 7L * ld) : z;
        StoreTransposed(r0, r1, r2, r3, r4, r5, r6, r7, dst, dstStride);
    }

    /// <summary>
    /// <see cref="Transpose8Rows"/> of 8 full rows of which only the first <paramref name="cols"/> (below 8) columns are read
    /// (masked loads: nothing past them is touched, so a block at the end of an array is safe); the other columns come out as
    /// zeros.
    /// </summary>
    internal static unsafe void Transpose8Columns(float* src, int ld, int cols, float* dst, int dstStride)
    {
        var m = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(cols)).AsSingle();
        var z = Vector256<float>.Zero;
        StoreTransposed(Avx512F.VL.MaskLoad(src, m, z), Avx512F.VL.MaskLoad(src + ld, m, z), Avx512F.VL.MaskLoad(src + 2L * ld, m, z),
                        Avx512F.VL.MaskLoad(src + 3L * ld, m, z), Avx512F.VL.MaskLoad(src + 4L * ld, m, z), Avx512F.VL.MaskLoad(src + 5L * ld, m, z),
                        Avx512F.VL.MaskLoad(src + 6L * ld, m, z), Avx512F.VL.MaskLoad(src + 7L * ld, m, z), dst, dstStride);
    }

    // The 8x8 transpose of rows r0..r7: output vector q (at dst + q·dstStride) holds element q of every row.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreTransposed(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
                                               Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7,
                                               float* dst, int dstStride)
    {
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(u0, u4, 0x20).Store(dst);
        Avx.Permute2x128(u1, u5, 0x20).Store(dst + dstStride);
        Avx.Permute2x128(u2, u6, 0x20).Store(dst + 2L * dstStride);
        Avx.Permute2x128(u3, u7, 0x20).Store(dst + 3L * dstStride);
        Avx.Permute2x128(u0, u4, 0x31).Store(dst + 4L * dstStride);
        Avx.Permute2x128(u1, u5, 0x31).Store(dst + 5L * dstStride);
        Avx.Permute2x128(u2, u6, 0x31).Store(dst + 6L * dstStride);
        Avx.Permute2x128(u3, u7, 0x31).Store(dst + 7L * dstStride);
    }

    /// <summary>
    /// How far ahead (floats) <see cref="PackB"/> prefetches along each row of an untransposed B. Its panels walk kc rows
    /// side by side, 128 bytes of each at a time, too many streams for the hardware prefetchers to follow: the stem's dcol
    /// GEMM (64 rows of dY) spent 8.9 % of its backward in the packing without, 5.5 % with 512 (one thread, perf).
    /// </summary>
    internal const int PackBPrefetch = 512;

    /// <summary>Packs columns [j0, j0 + nr) x depth [p0, p0 + kc) of op(B) as [p][NR], zero padding columns nr..NR.</summary>
    internal static unsafe void PackB(float* b, int ldb, bool transB, int p0, int kc, int j0, int nr, int NR, float* dst)
    {
        if (!transB)
        {
            // op(B)(p, j) = b[p·ldb + j]: each depth step is a contiguous run of nr values. A full run of 16 or 32 is moved
            // by vector loads and stores rather than CopyBlockUnaligned, which with a size known only at run time calls
            // memmove for each 128-byte run (7 % of the stem's backward on one thread, its dcol GEMM packing 25.7 MB of
            // dY; nearly all of it waiting for memory, since the vector copy alone measured level). The rows are
            // prefetched PackBPrefetch floats ahead while that stays inside the row's stride.
            bool wide = nr == NR && NR % 16 == 0 && Vector512.IsHardwareAccelerated;
            bool ahead = wide && Sse.IsSupported && j0 + NR + PackBPrefetch <= ldb;
            for (int p = 0; p < kc; p++)
            {
                float* src = b + (long)(p0 + p) * ldb + j0;
                float* d = dst + p * NR;
                if (wide)
                    for (int j = 0; j < NR; j += 16)
                    {
                        if (ahead) Sse.Prefetch0(src + j + PackBPrefetch);
                        Vector512.Store(Vector512.Load(src + j), d + j);
                    }
                else if (nr == NR) Unsafe.CopyBlockUnaligned(d, src, (uint)(NR * sizeof(float)));
                else
                {
                    int j = 0;
                    for (; j < nr; j++) d[j] = src[j];
                    for (; j < NR; j++) d[j] = 0;
                }
            }
        }
        else
        {
            // op(B)(p, j) = b[j·ldb + p]: a transpose. With NR a multiple of 8, 8x8 blocks go through registers (groups
            // of 8 columns j, 8 depths p at a time); the remaining depth reads each row contiguously and scatters with stride NR.
            int done = 0;
            if (NR % 8 == 0 && Avx.IsSupported)
            {
                done = kc & ~7;
                for (int p = 0; p < done; p += 8)
                    for (int jg = 0; jg < NR; jg += 8)
                        Transpose8Rows(b + (long)(j0 + jg) * ldb + p0 + p, ldb, Math.Clamp(nr - jg, 0, 8), dst + p * NR + jg, NR);
                if (done == kc) return;
            }
            for (int j = 0; j < nr; j++)
            {
                float* src = b + (long)(j0 + j) * ldb + p0;
                float* d = dst + j;
                for (int p = done; p < kc; p++) d[p * NR] = src[p];
            }
            for (int j = nr; j < NR; j++)
                for (int p = done; p < kc; p++) dst[p * NR + j] = 0;
        }
    }

    /// <summary>C = beta·C (beta == 0 writes zeros without reading C): the whole GEMM when k == 0 or alpha == 0.</summary>
    private static void ScaleC(int m, int n, float beta, float[] c, int cOffset, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.AsSpan(cOffset + i * ldc, n);
            if (beta == 0) row.Clear();
            else if (beta != 1) Simd.SimdDriver.Map(row, row, new Simd.ScaleOp(beta));
        }
    }

    /// <summary>Direct loop for tiny problems (no packing), accumulating each dot product in float in k order.</summary>
    private static void Tiny(bool transA, bool transB, int m, int n, int k, float alpha,
                             float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float beta, float[] c, int cOffset, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float acc = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[aOffset + p * lda + i] : a[aOffset + i * lda + p];
                    float bv = transB ? b[bOffset + j * ldb + p] : b[bOffset + p * ldb + j];
                    acc += av * bv;
                }
                int ci = cOffset + i * ldc + j;
                c[ci] = beta == 0 ? alpha * acc : alpha * acc + beta * c[ci];
            }
    }
}
