// Winograd F(2x2, 3x3) convolution on AVX-512: stride 1, dilation 1, 3x3 kernel, any zero padding, one group.
//
// Cut the output (Co, OH, OW) of each image into 2x2 tiles: tH = ⌈OH/2⌉ x tW = ⌈OW/2⌉ tiles per image, T = N·tH·tW in all.
// Tile (n, i, j) reads the 4x4 input patch d whose corner is (2i − pH, 2j − pW) (zeros outside the image). Then
//     Y_tile[co] = Aᵀ [ Σ_ci U[co][ci] ⊙ V[ci] ] A        (2x2; ⊙: elementwise over the 4x4 "frequencies" ξ)
//     U[co][ci] = G g[co][ci] Gᵀ   (the 3x3 filter, as 4x4)     V[ci] = Bᵀ d[ci] B   (the tile's patch of channel ci, as 4x4)
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]   Aᵀ = [1 1 1 0; 0 1 −1 −1]
// so for each of the 16 ξ the sum over ci is a matrix product M_ξ (Co x T) = U_ξ (Co x Ci) · V_ξ (Ci x T): 16 GEMMs
// of depth Ci cost 16·Co·Ci·T multiply-adds against 36·Co·Ci·T for the 3x3 direct convolution (2.25x fewer; fewer
// still in effect where OH or OW is odd and the last tiles are cut). The transforms cost O(Ci·T) and O(Co·T) adds.
// Rounding: the transforms use only ±1 and ½, so the error stays within a small multiple of the direct sum's
// (measured against the double-precision loop nest in WinogradTests).
//
// Work items: blocks of consecutive tiles (NB of them, across tile rows and images) x a range of output channels. An item
//   1. transforms its tiles' patches into V[ξ][panel][ci][32] (its own buffer; 32 tiles per panel: the GEMM's B panels)
//   2. per block of up to 64 output channels: for each ξ, the micro-kernel (Kernels/Gemm, 8 x 32) multiplies the A panels
//      of U_ξ by its V_ξ panels into M[ξ][co][tiles]; then the output transform writes the 2x2 tiles into y (NCHW).
// U[co/8][ξ][ci][8] (A panels, zero rows past Co) is computed once per call by each thread, for itself, before its first
// item. V, M and U stay in the core that wrote them: on this VM data written by one core and read by the other costs more
// than the arithmetic it saves. Items go to the threads through a shared counter, whole blocks first and then the last
// blocks cut by output channels where the blocks do not divide evenly among the threads (Plan).
// The result does not depend on the thread count: each output is one item's fixed-order sum.
// Few tiles with many channels (resnet_l4: 128 tiles of 512 channels; FewTiles) turn that around: U (16/9 the weights,
// 16 MB there) written out and streamed once per tile block cost more than the 2.25x it saves. There V is built first for
// all the tiles (shared, read-only), and each item of FewCo output channels builds its own U block, FewKc input channels
// at a time (1 MB for resnet_l4, written and read back by the same core), multiplies it into its M (all tiles; blocks
// after the first add into it) and runs the output transform.
// The forward adds the bias in the output transform.
// Used by Conv2d's CPU forward, its dX (flipTaps: U from the flipped, transposed filter) and, through WeightGrad below, its
// dW where that pays (WeightGradPays: where the forward pays; few tiles as one block); the naive twin is NaiveWinograd (Reference/), the oracle the convolution summed in double (WinogradTests).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvEngine.Kernels.Gemm;
using ConvEngine.Kernels.Simd;

namespace ConvEngine.Kernels.Conv;

internal static class Winograd
{
    /// <summary>Tiles per B panel (the micro-kernel's NR).</summary>
    public const int Lanes = 32;
    /// <summary>Output channels per A panel (the micro-kernel's MR).</summary>
    public const int MR = 8;
    /// <summary>Output channels whose 16 products M_ξ are computed before the output transform reads them (≤ 64·16·NB floats).</summary>
    public const int KB = 64;

    /// <summary>Whether the processor runs the kernel (AVX-512F).</summary>
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx512Kernel.IsSupported;

    /// <summary>
    /// Whether the kernel beats the direct kernel and the implicit GEMM (2 threads, Zen 5, scratch harness, forward): at least
    /// 32 input and output channels (16 → 16 at 28x28 was level) and at least 256 tiles, over which U, 16/9 the size of the
    /// weights and written every call, is spread (resnet_l3, 392 tiles: 3.4–3.7 against 5.7–6.3; resnet_l1 3.2 against 5.3;
    /// vgg_l1 10.9 against 19.4); or few tiles and many channels, which the few-tile path takes (<see cref="FewTiles"/>:
    /// resnet_l4, 8 x 512 x 7x7, 128 tiles, 4.1–4.8 ms against 5.9–6.0 through the GEMM; 6.1 when U was written out).
    /// </summary>
    public static bool Pays(in ConvGeometry g, int images, int outChannels)
    {
        long tiles = (long)images * ((g.OutH + 1) / 2) * ((g.OutW + 1) / 2);
        return g.Channels >= 32 && outChannels >= 32 && tiles >= 256 || FewTiles(tiles, g.Channels, outChannels);
    }

    /// <summary>
    /// Whether the Winograd weight gradient beats the implicit GEMM's: where <see cref="Pays"/> says so for the forward.
    /// Many tiles take the blocked path with partial sums per thread; few tiles and many channels the one-block path
    /// (<see cref="FusedMaxTiles"/>: resnet_l4, 128 tiles, 4.5–4.85 ms on 2 threads against 5.0–5.6 through the implicit
    /// GEMM; 9.5–10.5 ms when it went through the partial sums as one item).
    /// </summary>
    public static bool WeightGradPays(in ConvGeometry g, int images, int outChannels) => Pays(g, images, outChannels);

    /// <summary>Whether <paramref name="g"/> is a convolution this kernel computes: 3x3, stride 1, dilation 1, a non-empty output.</summary>
    public static bool Applies(in ConvGeometry g) =>
        IsSupported && g.KernelH == 3 && g.KernelW == 3 && g.StrideH == 1 && g.StrideW == 1 && g.DilationH == 1 && g.DilationW == 1
        && g.OutH > 0 && g.OutW > 0 && g.Channels > 0;

    [ThreadStatic] private static float[]? t_u, t_v, t_m;

    /// <summary>
    /// y[firstImage + i] (outChannels, OH, OW) = w ⊛ x[firstImage + i] for i in [0, images), overwriting y, plus
    /// <paramref name="bias"/>[o] on output channel o where given (added in the output transform: no second pass over y).
    /// w holds the filter of output o and input c at o·strideO + c·strideI (9 taps, row-major; reversed when
    /// <paramref name="flipTaps"/>): (Ci·9, 9) for a forward weight [Co, Ci, 3, 3], (9, Co·9) with flipTaps for the dX
    /// convolution's W' read straight from W [Ci', Co', 3, 3]. x and y are NCHW arrays of whole batches.
    /// </summary>
    public static unsafe void Forward(CpuDevice device, float[] w, int strideO, int strideI, bool flipTaps, int outChannels,
                                      float[] x, int firstImage, int images, in ConvGeometry g, float[] y, float[]? bias = null)
    {
        int ci = g.Channels, oh = g.OutH, ow = g.OutW, th = (oh + 1) / 2, tw = (ow + 1) / 2;
        long tiles = (long)images * th * tw;
        if (tiles == 0 || outChannels == 0) return;
        if (FewTiles(tiles, ci, outChannels))
        {
            fixed (float* w0 = w, x0 = x, y0 = y, b0 = bias)
                ForwardFewTiles(device, w0, strideO, strideI, flipTaps, outChannels, x0 + (long)firstImage * ci * g.Height * g.Width,
                                y0 + (long)firstImage * outChannels * oh * ow, b0, g, tiles);
            return;
        }
        int mPanels = (outChannels + MR - 1) / MR;
        int uLen = checked((int)(16 * mPanels * XiStride(ci * MR)));
        var plan = Plan.For(device.Threads, tiles, ci, outChannels);
        fixed (float* w0 = w, x0 = x, y0 = y, b0 = bias)
        {
            float* xs = x0 + (long)firstImage * ci * g.Height * g.Width, ys = y0 + (long)firstImage * outChannels * oh * ow;
            if (plan.Items > 1 && device.Threads > 1)
            {
                // Each thread builds all of U itself and then takes items from a shared counter: every item reads all of
                // U, and read from the cache of the core that wrote it, U cost more than building it twice (resnet_l3,
                // 2 threads: U, 4 MB, written half by each core, 0.45 ms a call; built by each for itself, 0.2).
                int next = 0;
                device.ParallelFor(device.Threads, new WorkerBody(new WeightBody(w0, strideO, strideI, flipTaps, outChannels, ci, null),
                                                                  mPanels, uLen, new TileBody(g, null, xs, ys, b0, outChannels, tiles, plan), &next));
                return;
            }
            var u = Scratch.Get(ref t_u, uLen);
            fixed (float* u0 = u)
            {
                var wt = new WeightBody(w0, strideO, strideI, flipTaps, outChannels, ci, u0);
                if ((long)mPanels * ci >= 1024 && device.Threads > 1) device.ParallelFor(mPanels, wt);
                else for (int i = 0; i < mPanels; i++) wt.Invoke(i);
                var body = new TileBody(g, u0, xs, ys, b0, outChannels, tiles, plan);
                for (int i = 0; i < plan.Items; i++) body.Invoke(i);
            }
        }
    }

    // One thread of the multi-threaded forward: once it has an item, it builds U into its own buffer (t_u), runs that item
    // and then every further item the shared counter hands it. A thread that finds no item left builds nothing (a nested
    // ParallelFor runs its items one after another on one thread: the first takes them all).
    private readonly unsafe struct WorkerBody(WeightBody weights, int mPanels, int uLen, TileBody tiles, int* next) : IParallelBody
    {
        public void Invoke(int worker)
        {
            int items = tiles.Plan.Items, item = Interlocked.Increment(ref *next) - 1;
            if (item >= items) return;
            var u = Scratch.Get(ref t_u, uLen);
            fixed (float* u0 = u)
            {
                var wt = weights with { U = u0 };
                for (int mp = 0; mp < mPanels; mp++) wt.Invoke(mp);
                var body = tiles with { U = u0 };
                for (; item < items; item = Interlocked.Increment(ref *next) - 1) body.Invoke(item);
            }
        }
    }

    /// <summary>Output channels per item of the few-tile path (16 items for resnet_l4; 32 x 512 measured best of 16–128 x 64–512).</summary>
    public const int FewCo = 32;
    /// <summary>
    /// Input channels per block of U in the few-tile path (the depth of its GEMMs; more channels are summed block by block
    /// into M). resnet_l4's 512 run as one block: 4.1–4.8 ms, against 4.4–5.9 in blocks of 128 or 256.
    /// </summary>
    public const int FewKc = 512;
    /// <summary>The most tiles the few-tile path takes.</summary>
    public const int FewMaxTiles = 192;

    /// <summary>
    /// Whether the few-tile path computes the convolution: many channels over few tiles (resnet_l4, 8 x 512 x 7x7: 128 tiles),
    /// where U (16/9 the size of the weights) written out once and streamed per block of tiles costs more than it saves.
    /// </summary>
    internal static bool FewTiles(long tiles, int ci, int co) => tiles <= FewMaxTiles && ci >= 128 && co >= 128;

    [ThreadStatic] private static float[]? t_fv, t_fu, t_fm;

    // Few tiles, many channels: V for all the tiles first (panels of 32 tiles; each thread builds its own, FewWorker), then
    // items of FewCo output channels, each building U for its outputs FewKc input channels at a time into its own buffer,
    // multiplying it into its M (all tiles; beta 1 after the first block) and finishing with the output transform. U is
    // never written out in full, and V (read-only, 4 MB for resnet_l4) is the only operand every item reads.
    private static unsafe void ForwardFewTiles(CpuDevice device, float* w, int strideO, int strideI, bool flip, int co, float* x, float* y,
                                               float* bias, in ConvGeometry g, long tiles)
    {
        int ci = g.Channels, panels = (int)((tiles + Lanes - 1) / Lanes);
        long vPer = XiStride((long)panels * ci * Lanes);
        int items = (co + FewCo - 1) / FewCo, next = 0;
        var worker = new FewWorker(new FewTileBody(g, w, strideO, strideI, flip, co, null, vPer, panels, tiles, y, bias), x, items, &next);
        if (device.Threads > 1 && items > 1) device.ParallelFor(device.Threads, worker);
        else worker.Invoke(0);   // one worker takes every item
    }

    // One thread of the few-tile path: once it has an item, it builds all of V into its own buffer (t_fv) and then runs
    // that item and every further one the shared counter hands it. Every item reads all of V; built half by
    // each core and shared, the half the other core had written cost more to read than building it again: resnet_l4's
    // forward on 2 threads 3.37–3.76 → 3.22–3.50 ms in six alternating pairs (the input transform had taken 2.4x and
    // the weight transposes 2x the CPU time of one thread); its backward level. A thread that finds no item left builds
    // nothing.
    private readonly unsafe struct FewWorker(FewTileBody body, float* x, int items, int* next) : IParallelBody
    {
        public void Invoke(int worker)
        {
            int item = Interlocked.Increment(ref *next) - 1;
            if (item >= items) return;
            var v = Scratch.Get(ref t_fv, checked((int)(16 * body.VPer)));
            fixed (float* v0 = v)
            {
                // V panel by panel: tiles [32p, 32p + 32) of every input channel.
                for (int p = 0; p < body.Panels; p++)
                    InputTransform(body.G, x, (long)p * Lanes, Math.Min(body.Tiles, (long)(p + 1) * Lanes), v0 + (long)p * body.G.Channels * Lanes, body.VPer);
                var b = body with { V = v0 };
                for (; item < items; item = Interlocked.Increment(ref *next) - 1) b.Invoke(item);
            }
        }
    }

    // Output channels [item·FewCo, +FewCo) for all the tiles.
    private readonly unsafe struct FewTileBody(ConvGeometry g, float* w, int strideO, int strideI, bool flip, int co, float* v, long vPer,
                                               int panels, long tiles, float* y, float* bias) : IParallelBody
    {
        public float* V { get => v; init => v = value; }
        public long VPer => vPer;
        public int Panels => panels;
        public long Tiles => tiles;
        public ConvGeometry G => g;

        public void Invoke(int item)
        {
            int ci = g.Channels, k0 = item * FewCo, kn = Math.Min(FewCo, co - k0), mPanels = (kn + MR - 1) / MR;
            int ldm = panels * Lanes, kcMax = Math.Min(FewKc, ci);
            long mPer = XiStride((long)FewCo * ldm), uPer = XiStride((long)kcMax * MR);
            var m = Scratch.Get(ref t_fm, checked((int)(16 * mPer + 16)));
            var u = Scratch.Get(ref t_fu, checked((int)(16 * uPer * ((FewCo + MR - 1) / MR))));
            fixed (float* m0 = m, u0 = u)
            {
                for (int c0 = 0; c0 < ci; c0 += kcMax)
                {
                    int kc = Math.Min(kcMax, ci - c0);
                    float beta = c0 == 0 ? 0f : 1f;
                    for (int mp = 0; mp < mPanels; mp++)
                        TransformWeights(w, strideO, strideI, flip, co, k0 + mp * MR, c0, c0 + kc, u0 + (long)mp * 16 * uPer, uPer);
                    for (int xi = 0; xi < 16; xi++)
                    {
                        float* vXi = v + xi * vPer + (long)c0 * Lanes, mXi = m0 + xi * mPer;
                        for (int p = 0; p < panels; p++)
                            for (int mp = 0; mp < mPanels; mp++)
                                Avx512Kernel.Run(kc, u0 + ((long)mp * 16 + xi) * uPer, vXi + (long)p * ci * Lanes, Lanes,
                                                 mXi + (long)mp * MR * ldm + p * Lanes, ldm, 1f, beta, Math.Min(MR, kn - mp * MR), Lanes);
                    }
                }
                OutputTransform(g, m0, ldm, mPer, k0, kn, co, 0, tiles, y, bias);
            }
        }
    }

    /// <summary>
    /// How the tiles are cut: blocks of Nb tiles (a multiple of 32, V of a block ≤ about 512 KiB) x KSplit ranges of output
    /// channels, enough items for every thread to get the same number of them where the blocks alone do not divide evenly.
    /// With many blocks that do not divide evenly, the last Tail blocks are each cut into TailSplit ranges of TailPer output
    /// channels instead (resnet_l3: 13 one-panel blocks on 2 threads, 12 whole and the last in halves: 6.5 blocks a thread
    /// instead of 7). Items run whole blocks first, then the cut ones.
    /// </summary>
    internal readonly record struct Plan(int Nb, int Blocks, int KSplit, int KPer, int Tail = 0, int TailSplit = 1, int TailPer = 0)
    {
        /// <summary>The number of items.</summary>
        public int Items => (Blocks - Tail) * KSplit + Tail * TailSplit;

        /// <summary>Item <paramref name="item"/>: its block of tiles and its output channels [K0, K1) of <paramref name="co"/>.</summary>
        public (int Block, int K0, int K1) Item(int item, int co)
        {
            int whole = (Blocks - Tail) * KSplit;
            if (item < whole)
            {
                int ks = item % KSplit;
                return (item / KSplit, ks * KPer, Math.Min(co, (ks + 1) * KPer));
            }
            int j = item - whole, kt = j % TailSplit;
            return (Blocks - Tail + j / TailSplit, kt * TailPer, Math.Min(co, (kt + 1) * TailPer));
        }

        public static Plan For(int threads, long tiles, int ci, int co)
        {
            long panels = (tiles + Lanes - 1) / Lanes;
            int maxPanels = (int)Math.Clamp(512 * 1024 / (16L * ci * 4 * Lanes), 1, 4);
            int blocksWanted = (int)Math.Max(1, (panels + maxPanels - 1) / maxPanels);
            // At least one block per thread where there are panels enough.
            blocksWanted = (int)Math.Min(panels, Math.Max(blocksWanted, threads));
            int per = (int)((panels + blocksWanted - 1) / blocksWanted);
            int blocks = (int)((panels + per - 1) / per);
            int kSplit = 1;
            // Few, uneven blocks (7 on 2 threads): split the output channels of all of them.
            if (threads > 1 && blocks % threads != 0 && blocks < 4 * threads && co >= 2 * KB) kSplit = 2;
            int kPer = (co / kSplit + MR - 1) / MR * MR;
            // Many uneven blocks: cut only the last blocks % threads of them, into one range of output channels per thread.
            if (kSplit == 1 && threads > 1 && blocks % threads != 0 && co >= 2 * MR * threads)
            {
                int tailPer = (co + threads - 1) / threads;
                tailPer = (tailPer + MR - 1) / MR * MR;
                return new Plan(per * Lanes, blocks, 1, kPer, blocks % threads, (co + tailPer - 1) / tailPer, tailPer);
            }
            return new Plan(per * Lanes, blocks, kSplit, kPer);
        }
    }

    // U for the A panel mp: U[mp][ξ][c][r] = (G g Gᵀ)[ξ] of output o = mp·8 + r (zeros past outChannels) and input c.
    private readonly unsafe struct WeightBody(float* w, int strideO, int strideI, bool flip, int co, int ci, float* u)
        : IParallelBody
    {
        public float* U { get => u; init => u = value; }

        public void Invoke(int mp)
        {
            long uPer = XiStride(ci * MR);
            TransformWeights(w, strideO, strideI, flip, co, mp * MR, 0, ci, u + (long)mp * 16 * uPer, uPer);
        }
    }

    // One A panel's U for inputs [c0, c1): u[ξ·uPer + (c − c0)·8 + r] = (G g Gᵀ)[ξ] of output o0 + r (zeros past co) and
    // input c. The eight outputs go side by side in one Vector256: their taps 0..7 through an 8x8 register transpose, tap 8
    // one by one, then the transform and 16 stores.
    [SkipLocalsInit]   // t is written in full (transpose and tap 8) before it is read
    private static unsafe void TransformWeights(float* w, int strideO, int strideI, bool flip, int co, int o0, int c0, int c1, float* u, long uPer)
    {
        int rows = Math.Min(MR, co - o0);
        float* t = stackalloc float[72];
        for (int c = c0; c < c1; c++)
        {
            float* src = w + (long)o0 * strideO + (long)c * strideI;
            float* dst = u + (long)(c - c0) * MR;
            BlockedGemm.Transpose8Rows(src, strideO, rows, t, MR);   // t[8·tap + r]
            for (int r = 0; r < MR; r++) t[64 + r] = r < rows ? src[(long)r * strideO + 8] : 0f;
            int t0 = flip ? 64 : 0, dt = flip ? -8 : 8;
            var g00 = Vector256.Load(t + t0); var g01 = Vector256.Load(t + t0 + dt); var g02 = Vector256.Load(t + t0 + 2 * dt);
            var g10 = Vector256.Load(t + t0 + 3 * dt); var g11 = Vector256.Load(t + t0 + 4 * dt); var g12 = Vector256.Load(t + t0 + 5 * dt);
            var g20 = Vector256.Load(t + t0 + 6 * dt); var g21 = Vector256.Load(t + t0 + 7 * dt); var g22 = Vector256.Load(t + t0 + 8 * dt);
            var half = Vector256.Create(0.5f);
            // Gg (4x3): rows g0, ½(g0 + g1 + g2), ½(g0 − g1 + g2), g2 (gk: filter row k); then (Gg) Gᵀ row by row.
            Row(g00, g01, g02, dst, uPer);
            Row(half * (g00 + g10 + g20), half * (g01 + g11 + g21), half * (g02 + g12 + g22), dst + 4 * uPer, uPer);
            Row(half * (g00 - g10 + g20), half * (g01 - g11 + g21), half * (g02 - g12 + g22), dst + 8 * uPer, uPer);
            Row(g20, g21, g22, dst + 12 * uPer, uPer);
        }
    }

    // One row (p, q, s) of Gg times Gᵀ: (p, ½(p + q + s), ½(p − q + s), s), for eight outputs.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Row(Vector256<float> p, Vector256<float> q, Vector256<float> s, float* dst, long stride)
    {
        var half = Vector256.Create(0.5f);
        p.Store(dst);
        (half * (p + q + s)).Store(dst + stride);
        (half * (p - q + s)).Store(dst + 2 * stride);
        s.Store(dst + 3 * stride);
    }

    /// <summary>(G g Gᵀ) of the 3x3 filter g (row-major), element ξ = 4·row + col written to dst[ξ·stride].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void TransformFilter(float* g, float* dst, long stride)
    {
        // Gg (4x3): rows g0, ½(g0 + g1 + g2), ½(g0 − g1 + g2), g2 (gk: filter row k); then (Gg) Gᵀ row by row.
        float g00 = g[0], g01 = g[1], g02 = g[2], g10 = g[3], g11 = g[4], g12 = g[5], g20 = g[6], g21 = g[7], g22 = g[8];
        Row(g00, g01, g02, dst, stride);
        Row(0.5f * (g00 + g10 + g20), 0.5f * (g01 + g11 + g21), 0.5f * (g02 + g12 + g22), dst + 4 * stride, stride);
        Row(0.5f * (g00 - g10 + g20), 0.5f * (g01 - g11 + g21), 0.5f * (g02 - g12 + g22), dst + 8 * stride, stride);
        Row(g20, g21, g22, dst + 12 * stride, stride);
    }

    // One row (p, q, s) of Gg times Gᵀ: (p, ½(p + q + s), ½(p − q + s), s).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Row(float p, float q, float s, float* dst, long stride)
    {
        dst[0] = p;
        dst[stride] = 0.5f * (p + q + s);
        dst[2 * stride] = 0.5f * (p - q + s);
        dst[3 * stride] = s;
    }

    // Item of the plan: its tiles' V, then per KB output channels the 16 products M_ξ and the output transform. U: all of U
    // (null until a WorkerBody sets its own).
    private readonly unsafe struct TileBody(ConvGeometry g, float* u, float* x, float* y, float* bias, int co, long tiles, Plan plan) : IParallelBody
    {
        public Plan Plan => plan;
        public float* U { get => u; init => u = value; }

        public void Invoke(int item)
        {
            var (block, k0, k1) = plan.Item(item, co);
            long t0 = (long)block * plan.Nb, t1 = Math.Min(tiles, t0 + plan.Nb);
            if (t0 >= t1 || k0 >= k1) return;
            int nt = (int)(t1 - t0), panels = (nt + Lanes - 1) / Lanes, ci = g.Channels;
            int ldm = panels * Lanes;
            long vPer = XiStride(panels * ci * Lanes);
            var v = Scratch.Get(ref t_v, checked((int)(16 * vPer)));
            long mPer = XiStride(KB * ldm);
            var m = Scratch.Get(ref t_m, checked((int)(16 * mPer + 16)));
            fixed (float* v0 = v, m0 = m)
            {
                InputTransform(g, x, t0, t1, v0, vPer);
                for (int kb = k0; kb < k1; kb += KB)
                {
                    int kn = Math.Min(KB, k1 - kb);
                    for (int xi = 0; xi < 16; xi++)
                    {
                        float* vXi = v0 + xi * vPer, mXi = m0 + xi * mPer;
                        for (int r = 0; r < kn; r += MR)
                        {
                            float* a = u + ((long)(kb + r) / MR * 16 + xi) * XiStride(ci * MR);
                            int mr = Math.Min(MR, kn - r);
                            for (int p = 0; p < panels; p++)
                                Avx512Kernel.Run(ci, a, vXi + (long)p * ci * Lanes, Lanes, mXi + r * ldm + p * Lanes, ldm, 1f, 0f, mr, Lanes);
                        }
                    }
                    OutputTransform(g, m0, ldm, mPer, kb, kn, co, t0, t1, y, bias);
                }
            }
        }
    }

    /// <summary>
    /// The distance between the 16 ξ slices of U, V and M: their size plus 32 floats. Slices a multiple of 4 KiB apart
    /// would put the 16 streams a transform reads or writes into the same L1 set (12 ways); skewed by 128 B they spread.
    /// </summary>
    private static long XiStride(long floats) => floats + 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreFirst(Vector512<float> v, float* p, int count)
    {
        if (count >= 16) v.Store(p);
        else if (count > 0) Avx512F.MaskStore(p, Lanes512.First(count), v);
    }

    /// <summary>
    /// The widest tile row (tiles per row, ⌈OW/2⌉) whose input transform reads x in place through masked loads instead of
    /// first copying four zero-padded rows per channel into a buffer. Narrow planes spend more on those short copies
    /// (memmove and memset calls of 7 to 30 floats) than on the transform: ResNetSmall's 7x7 and 14x14 layers ran their
    /// forward 10–25 % and their weight gradient 12–16 % faster in place (2 threads, Zen 5). A 28x28 plane (14 tiles per
    /// row) ran its forward 21–27 % slower in place, so wider rows keep the copies. Rows this narrow are also packed, several
    /// to a vector, in the input and output transforms (<see cref="InputTransformInPlace"/>, <see cref="OutputTransformPacked"/>).
    /// </summary>
    public const int InPlaceMaxTiles = 8;

    /// <summary>Whether <see cref="InputTransform"/> reads <paramref name="g"/>'s input in place and the transforms pack several rows to a vector (rows of at most <see cref="InPlaceMaxTiles"/> tiles).</summary>
    public static bool ReadsInPlace(in ConvGeometry g) => (g.OutW + 1) / 2 <= InPlaceMaxTiles;

    // V[ξ][p][c][lane] for the tiles [t0, t1) and the channels [chLo, chHi) (default all): tile t0 + lanes·p + lane
    // (panels of 32 for the forward GEMM's B; one panel of the whole block, rows of tiles, for the weight gradient's A).
    // Each tile row segment of each channel, 16 tiles at a time: columns 2j..2j+3 of the four input rows, loaded straight
    // from x (masked loads give the padding's zeros; RowBAt), by even/odd permutes. They used to be copied into a
    // zero-padded row buffer first, with Span Clear/CopyTo calls; reading in place, with the next channels' rows
    // prefetched, was 3–11 % faster on resnet_l1 and vgg_l1 (two threads).
    // Rows of at most InPlaceMaxTiles tiles pack several tile rows into each vector (InputTransformInPlace).
    private static unsafe void InputTransform(in ConvGeometry g, float* x, long t0, long t1, float* v, long vPer, int lanes = Lanes,
                                              int chLo = 0, int chHi = -1)
    {
        if (chHi < 0) chHi = g.Channels;
        if (ReadsInPlace(g)) { InputTransformInPlace(g, x, t0, t1, v, vPer, lanes, chLo, chHi); return; }
        int c = g.Channels, h = g.Height, w = g.Width, ph = g.PadH, pw = g.PadW;
        int th = (g.OutH + 1) / 2, tw = (g.OutW + 1) / 2, perImage = th * tw;
        long plane = (long)h * w;
        for (long t = t0; t < t1;)
        {
            int n = (int)(t / perImage), rem = (int)(t % perImage), i = rem / tw, j0 = rem % tw;
            int j1 = (int)Math.Min(tw, j0 + (t1 - t));
            int local = (int)(t - t0);
            // Patch columns u ↔ input column u − pW (zero outside [0, W)); the segment's 16-tile groups read u in [uLo, uHi).
            int uLo = 2 * j0, uHi = 2 * (j0 + (j1 - j0 - 1) / 16 * 16) + 34;
            // The patch's four input rows: row r reads x row 2i − pH + r at column u − pW for u in [a_r, b_r) (none for a row
            // outside the plane), zeros elsewhere.
            int ih0 = 2 * i - ph;
            var (a0, b0) = RowColumns(ih0, h, w, pw);
            var (a1, b1) = RowColumns(ih0 + 1, h, w, pw);
            var (a2, b2) = RowColumns(ih0 + 2, h, w, pw);
            var (a3, b3) = RowColumns(ih0 + 3, h, w, pw);
            int pa = Math.Max(uLo, pw), pb = Math.Min(uHi, w + pw);   // the columns the segment reads from x
            for (int ch = chLo; ch < chHi; ch++)
            {
                float* xr = x + ((long)n * c + ch) * plane + (long)ih0 * w - pw;   // xr[r·W + u] ↔ row r, column u − pW
                if (ch + PrefetchChannels < chHi)
                {
                    // The rows this segment reads, PrefetchChannels channels ahead: the planes are far apart, so the
                    // hardware prefetchers lose the rows at each change of channel.
                    float* xp = xr + PrefetchChannels * plane;
                    for (int r = 0; r < 4; r++)
                        if ((uint)(ih0 + r) < (uint)h)
                            for (int u = pa; u < pb + 15; u += 16) Sse.Prefetch0(xp + (long)r * w + Math.Min(u, pb - 1));
                }
                for (int j = j0; j < j1; j += 16)
                {
                    int u0 = 2 * j;
                    RowBAt(xr, u0, a0, b0, out var e0, out var e1, out var e2, out var e3);
                    RowBAt(xr + w, u0, a1, b1, out var f0, out var f1, out var f2, out var f3);
                    RowBAt(xr + 2 * w, u0, a2, b2, out var k0, out var k1, out var k2, out var k3);
                    RowBAt(xr + 3 * w, u0, a3, b3, out var l0, out var l1, out var l2, out var l3);
                    CombineRows(e0, e1, e2, e3, f0, f1, f2, f3, k0, k1, k2, k3, l0, l1, l2, l3,
                                out var r0, out var r1, out var r2, out var r3, out var r4, out var r5, out var r6, out var r7,
                                out var r8, out var r9, out var r10, out var r11, out var r12, out var r13, out var r14, out var r15);
                    StoreTiles(v, vPer, c, ch, lanes, local + (j - j0), Math.Min(16, j1 - j),
                               r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15);
                }
            }
            t += j1 - j0;
        }
    }

    // InputTransform for narrow planes (rows of at most InPlaceMaxTiles tiles): the same V, with the patch rows loaded
    // straight from x and several tile rows packed into the 16 lanes of one vector. A group is up to P consecutive row
    // segments (whole tile rows, or the part of a row a block starts or ends in, of any image) holding at most 16 tiles:
    // each segment row is S floats read into its own slot of lanes (S = 16, 8 or 4 for rows of at most 8, 4 or 2 tiles;
    // 16/S slots per register, two registers, P = 32/S), and one two-source permute per patch column picks the even or
    // odd columns of every slot into consecutive tiles. A 14x14 plane's 7-tile rows thus fill 14 of 16 lanes where one
    // row filled 7, a 7x7 plane's 4-tile rows 16 where one filled 4. Masked loads read only the columns inside the plane
    // and give zeros for the padding (a row outside the plane: all-false masks, nothing read); the masks and permute
    // indices depend on the group only, so they are built once for all channels.
    [SkipLocalsInit]   // the group's tables are written before they are read
    private static unsafe void InputTransformInPlace(in ConvGeometry g, float* x, long t0, long t1, float* v, long vPer, int lanes, int chLo, int chHi)
    {
        int c = g.Channels, h = g.Height, w = g.Width, ph = g.PadH, pw = g.PadW;
        int th = (g.OutH + 1) / 2, tw = (g.OutW + 1) / 2, perImage = th * tw;
        long plane = (long)h * w;
        int s = tw <= 2 ? 4 : tw <= 4 ? 8 : 16, slots = 16 / s, segs = 2 * slots;
        long* at = stackalloc long[4 * 8];                      // [4·q + r]: row q's patch row r, from x's lane 0
        var mk = stackalloc Vector512<float>[2 * 4 * 8];        // [2·(4·q + r)]: its mask; + 1: the mask two columns on
        int* idx = stackalloc int[16];
        for (long t = t0; t < t1;)
        {
            long start = t;
            int count = 0, used = 0;
            for (; used < segs && t < t1; used++)
            {
                int n = (int)(t / perImage), rem = (int)(t % perImage), i = rem / tw, j0 = rem % tw;
                int len = (int)Math.Min(tw - j0, t1 - t), q = used;
                int laneBase = (q % slots) * s, col = 2 * j0 - pw - laneBase;   // lane L of the slot reads column col + L
                var slot = Lanes512.Between(laneBase, laneBase + s);
                var cols = InRow(col, w) & slot;
                var cols2 = InRow(col + 2, w) & slot;
                for (int r = 0; r < 4; r++)
                {
                    int ih = 2 * i - ph + r;
                    bool ok = (uint)ih < (uint)h;
                    at[4 * q + r] = (long)n * c * plane + (long)Math.Clamp(ih, 0, h - 1) * w + col;
                    mk[2 * (4 * q + r)] = ok ? cols : Vector512<float>.Zero;
                    mk[2 * (4 * q + r) + 1] = ok ? cols2 : Vector512<float>.Zero;
                }
                for (int jj = 0; jj < len; jj++) idx[count + jj] = q * s + 2 * jj;
                count += len;
                t += len;
            }
            for (int l = count; l < 16; l++) idx[l] = 0;
            var even = Vector512.Load(idx);
            var odd = even + Vector512<int>.One;
            int l0 = (int)(start - t0), inA = Math.Min(used, slots);
            // Where the group's tiles go: lanes [lane, lane + first) of panel p, the rest (if any) from lane 0 of panel p + 1.
            int p = l0 / lanes, lane = l0 % lanes, first = Math.Min(count, lanes - lane);
            float* dst1 = v + (long)p * c * lanes + lane, dst2 = v + (long)(p + 1) * c * lanes;
            var m1 = Lanes512.First(first);
            var m2 = Lanes512.First(count - first);
            var shift = Lanes512.Index + Vector512.Create(first);
            bool split = first < count;
            for (int ch = chLo; ch < chHi; ch++)
            {
                float* xc = x + (long)ch * plane, o1 = dst1 + (long)ch * lanes, o2 = dst2 + (long)ch * lanes;
                // Bᵀ over the rows as the rows come (CombineRows): ξ 0..3 = R0 − R2, 4..7 = R1 + R2, 8..11 = R2 − R1, 12..15 = R1 − R3.
                PackedRowB(xc, at, mk, 0, inA, used, even, odd, out var a0, out var a1, out var a2, out var a3);
                PackedRowB(xc, at, mk, 2, inA, used, even, odd, out var c0, out var c1, out var c2, out var c3);
                Put(a0 - c0, o1, o2, 0, m1, m2, shift, split); Put(a1 - c1, o1, o2, vPer, m1, m2, shift, split);
                Put(a2 - c2, o1, o2, 2 * vPer, m1, m2, shift, split); Put(a3 - c3, o1, o2, 3 * vPer, m1, m2, shift, split);
                PackedRowB(xc, at, mk, 1, inA, used, even, odd, out var b0, out var b1, out var b2, out var b3);
                Put(b0 + c0, o1, o2, 4 * vPer, m1, m2, shift, split); Put(b1 + c1, o1, o2, 5 * vPer, m1, m2, shift, split);
                Put(b2 + c2, o1, o2, 6 * vPer, m1, m2, shift, split); Put(b3 + c3, o1, o2, 7 * vPer, m1, m2, shift, split);
                Put(c0 - b0, o1, o2, 8 * vPer, m1, m2, shift, split); Put(c1 - b1, o1, o2, 9 * vPer, m1, m2, shift, split);
                Put(c2 - b2, o1, o2, 10 * vPer, m1, m2, shift, split); Put(c3 - b3, o1, o2, 11 * vPer, m1, m2, shift, split);
                PackedRowB(xc, at, mk, 3, inA, used, even, odd, out var d0, out var d1, out var d2, out var d3);
                Put(b0 - d0, o1, o2, 12 * vPer, m1, m2, shift, split); Put(b1 - d1, o1, o2, 13 * vPer, m1, m2, shift, split);
                Put(b2 - d2, o1, o2, 14 * vPer, m1, m2, shift, split); Put(b3 - d3, o1, o2, 15 * vPer, m1, m2, shift, split);
            }
        }
    }

    // One ξ of a packed group's tiles: lanes under m1 at o1 + off, and where the group crosses into the next panel the
    // lanes from `first` on, shifted down to lane 0, under m2 at o2 + off.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Put(Vector512<float> r, float* o1, float* o2, long off, Vector512<float> m1, Vector512<float> m2,
                                   Vector512<int> shift, bool split)
    {
        Avx512F.MaskStore(o1 + off, m1, r);
        if (split) Avx512F.MaskStore(o2 + off, m2, Avx512F.PermuteVar16x32x2(r, shift, r));
    }

    // d B (as RowBAt) of patch row r of a packed group: the group's segment rows loaded into their slots of two registers (segments
    // [0, inA) into the first, [inA, used) into the second; masked loads merged into what the earlier slots left), the same
    // two columns on, and the permutes that gather each tile's four columns (even: columns 2j and 2j + 2; odd: 2j + 1, 2j + 3).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PackedRowB(float* xc, long* at, Vector512<float>* mk, int r, int inA, int used, Vector512<int> even, Vector512<int> odd,
                                          out Vector512<float> o0, out Vector512<float> o1, out Vector512<float> o2, out Vector512<float> o3)
    {
        var lo = Vector512<float>.Zero; var lo2 = lo; var hi = lo; var hi2 = lo;
        for (int q = 0; q < inA; q++)
        {
            float* p = xc + at[4 * q + r];
            lo = Avx512F.MaskLoad(p, mk[2 * (4 * q + r)], lo);
            lo2 = Avx512F.MaskLoad(p + 2, mk[2 * (4 * q + r) + 1], lo2);
        }
        for (int q = inA; q < used; q++)
        {
            float* p = xc + at[4 * q + r];
            hi = Avx512F.MaskLoad(p, mk[2 * (4 * q + r)], hi);
            hi2 = Avx512F.MaskLoad(p + 2, mk[2 * (4 * q + r) + 1], hi2);
        }
        var d0 = Avx512F.PermuteVar16x32x2(lo, even, hi);
        var d1 = Avx512F.PermuteVar16x32x2(lo, odd, hi);
        var d2 = Avx512F.PermuteVar16x32x2(lo2, even, hi2);
        var d3 = Avx512F.PermuteVar16x32x2(lo2, odd, hi2);
        o0 = d0 - d2; o1 = d1 + d2; o2 = d2 - d1; o3 = d1 - d3;
    }

    // Lanes l with 0 ≤ col + l < w.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> InRow(int col, int w) => Lanes512.Between(-col, w - col);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Sh(Vector512<float> v, Vector512<int> idx) => Avx512F.PermuteVar16x32x2(v, idx, v);

    // V of 16 tiles for channel ch: tiles l .. l + count − 1 of the call, lanes of panels of `lanes` tiles, possibly
    // across two panels.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreTiles(float* v, long vPer, int c, int ch, int lanes, int l, int count,
        Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, Vector512<float> r3, Vector512<float> r4, Vector512<float> r5,
        Vector512<float> r6, Vector512<float> r7, Vector512<float> r8, Vector512<float> r9, Vector512<float> r10, Vector512<float> r11,
        Vector512<float> r12, Vector512<float> r13, Vector512<float> r14, Vector512<float> r15)
    {
        int p = l / lanes, lane = l % lanes, first = Math.Min(count, lanes - lane);
        float* d = v + ((long)p * c + ch) * lanes + lane;
        Store16(d, vPer, first, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15);
        if (first < count)
        {
            float* d2 = v + ((long)(p + 1) * c + ch) * lanes;
            // Shift the lanes down by `first` so lane `first` lands at lane 0 of the next panel.
            var shift = Lanes512.Index + Vector512.Create(first);
            Store16(d2, vPer, count - first,
                    Sh(r0, shift), Sh(r1, shift), Sh(r2, shift), Sh(r3, shift), Sh(r4, shift), Sh(r5, shift), Sh(r6, shift), Sh(r7, shift),
                    Sh(r8, shift), Sh(r9, shift), Sh(r10, shift), Sh(r11, shift), Sh(r12, shift), Sh(r13, shift), Sh(r14, shift), Sh(r15, shift));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store16(float* d, long stride, int count,
        Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, Vector512<float> r3, Vector512<float> r4, Vector512<float> r5,
        Vector512<float> r6, Vector512<float> r7, Vector512<float> r8, Vector512<float> r9, Vector512<float> r10, Vector512<float> r11,
        Vector512<float> r12, Vector512<float> r13, Vector512<float> r14, Vector512<float> r15)
    {
        StoreFirst(r0, d, count); StoreFirst(r1, d + stride, count); StoreFirst(r2, d + 2 * stride, count); StoreFirst(r3, d + 3 * stride, count);
        StoreFirst(r4, d + 4 * stride, count); StoreFirst(r5, d + 5 * stride, count); StoreFirst(r6, d + 6 * stride, count); StoreFirst(r7, d + 7 * stride, count);
        StoreFirst(r8, d + 8 * stride, count); StoreFirst(r9, d + 9 * stride, count); StoreFirst(r10, d + 10 * stride, count); StoreFirst(r11, d + 11 * stride, count);
        StoreFirst(r12, d + 12 * stride, count); StoreFirst(r13, d + 13 * stride, count); StoreFirst(r14, d + 14 * stride, count); StoreFirst(r15, d + 15 * stride, count);
    }

    // Bᵀ over the rows (a, b, c, d: the four rows after d B): (R0 − R2, R1 + R2, R2 − R1, R1 − R3).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CombineRows(
        Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3,
        Vector512<float> b0, Vector512<float> b1, Vector512<float> b2, Vector512<float> b3,
        Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3,
        Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3,
        out Vector512<float> v0, out Vector512<float> v1, out Vector512<float> v2, out Vector512<float> v3,
        out Vector512<float> v4, out Vector512<float> v5, out Vector512<float> v6, out Vector512<float> v7,
        out Vector512<float> v8, out Vector512<float> v9, out Vector512<float> v10, out Vector512<float> v11,
        out Vector512<float> v12, out Vector512<float> v13, out Vector512<float> v14, out Vector512<float> v15)
    {
        v0 = a0 - c0; v1 = a1 - c1; v2 = a2 - c2; v3 = a3 - c3;
        v4 = b0 + c0; v5 = b1 + c1; v6 = b2 + c2; v7 = b3 + c3;
        v8 = c0 - b0; v9 = c1 - b1; v10 = c2 - b2; v11 = c3 - b3;
        v12 = b0 - d0; v13 = b1 - d1; v14 = b2 - d2; v15 = b3 - d3;
    }

    private const int PrefetchChannels = 2;

    // The columns u of a patch row read from x (u − pW in [0, W)): [pW, W + pW) for an input row inside the plane, none
    // (an empty range: zeros) for one in the padding.
    private static (int A, int B) RowColumns(int ih, int h, int w, int pw) => (uint)ih < (uint)h ? (pw, w + pw) : (0, 0);

    // d B for one patch row of 16 tiles side by side, (d0 − d2, d1 + d2, d2 − d1, d1 − d3) with d the tile's columns
    // u0 + 2·lane + (0..3), read straight from x: columns of xr outside [a, b) read as zeros (masked loads there, which
    // touch no memory outside the row's valid columns).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void RowBAt(float* xr, int u0, int a, int b, out Vector512<float> o0, out Vector512<float> o1,
                                      out Vector512<float> o2, out Vector512<float> o3)
    {
        var lo = LoadColumns(xr, u0, a, b);
        var hi = LoadColumns(xr, u0 + 16, a, b);
        var lo2 = LoadColumns(xr, u0 + 2, a, b);
        var hi2 = LoadColumns(xr, u0 + 18, a, b);
        var d0 = Avx512F.PermuteVar16x32x2(lo, Lanes512.Evens, hi);
        var d1 = Avx512F.PermuteVar16x32x2(lo, Lanes512.Odds, hi);
        var d2 = Avx512F.PermuteVar16x32x2(lo2, Lanes512.Evens, hi2);
        var d3 = Avx512F.PermuteVar16x32x2(lo2, Lanes512.Odds, hi2);
        o0 = d0 - d2; o1 = d1 + d2; o2 = d2 - d1; o3 = d1 - d3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> LoadColumns(float* xr, int u, int a, int b) =>
        u >= a && u + 16 <= b ? Vector512.Load(xr + u) : Avx512F.MaskLoad(xr + u, Lanes512.Between(a - u, b - u), Vector512<float>.Zero);

    // OutputTransform for narrow planes (rows of at most InPlaceMaxTiles tiles): 16 consecutive tiles per vector, whatever
    // rows and images they fall in, instead of one tile row's 4 or 7 (7x7 and 14x14 planes). The 2x2 outputs come out
    // interleaved as 32 floats (tile by tile, two columns each) per output row; each row segment of the group is stored
    // with masks that pick its floats, at the address that puts its first float on its first output column.
    [SkipLocalsInit]   // the group's tables are written before they are read
    private static unsafe void OutputTransformPacked(in ConvGeometry g, float* m, int ldm, long xiStride, int kb, int kn, int co, long t0, long t1,
                                                     float* y, float* bias)
    {
        int oh = g.OutH, ow = g.OutW, th = (oh + 1) / 2, tw = (ow + 1) / 2, perImage = th * tw;
        long plane = (long)oh * ow;
        long* at = stackalloc long[16];                  // segment q: where float 0 of the group's first output row would go
        var mk = stackalloc Vector512<float>[32];        // its floats among the 32: [2q] in the first 16, [2q + 1] in the second
        int* has = stackalloc int[16];                   // bit 0: floats in the first 16, bit 1: in the second, bit 2: a second row
        for (long t = t0; t < t1;)
        {
            int l0 = (int)(t - t0), count = (int)Math.Min(16, t1 - t), segs = 0;
            for (int l = 0; l < count; segs++)
            {
                int n = (int)(t / perImage), rem = (int)(t % perImage), i = rem / tw, j0 = rem % tw;
                int len = Math.Min(tw - j0, count - l), cols = Math.Min(2 * len, ow - 2 * j0);
                at[segs] = ((long)n * co + kb) * plane + (long)(2 * i) * ow + 2 * j0 - 2 * l;
                var lo = Lanes512.Between(2 * l, 2 * l + cols);
                var hi = Lanes512.Between(2 * l - 16, 2 * l + cols - 16);
                mk[2 * segs] = lo; mk[2 * segs + 1] = hi;
                has[segs] = (2 * l < 16 ? 1 : 0) | (2 * l + cols > 16 ? 2 : 0) | (2 * i + 1 < oh ? 4 : 0);
                l += len; t += len;
            }
            for (int k = 0; k < kn; k++)
            {
                OutputTile(m + (long)k * ldm + l0, xiStride, out var y00, out var y01, out var y10, out var y11);
                if (bias is not null)
                {
                    var b = Vector512.Create(bias[kb + k]);
                    y00 += b; y01 += b; y10 += b; y11 += b;
                }
                var lo0 = Avx512F.PermuteVar16x32x2(y00, Lanes512.InterLo, y01);
                var hi0 = Avx512F.PermuteVar16x32x2(y00, Lanes512.InterHi, y01);
                var lo1 = Avx512F.PermuteVar16x32x2(y10, Lanes512.InterLo, y11);
                var hi1 = Avx512F.PermuteVar16x32x2(y10, Lanes512.InterHi, y11);
                long ko = (long)k * plane;
                for (int q = 0; q < segs; q++)
                {
                    float* d = y + at[q] + ko;
                    int f = has[q];
                    if ((f & 1) != 0)
                    {
                        Avx512F.MaskStore(d, mk[2 * q], lo0);
                        if ((f & 4) != 0) Avx512F.MaskStore(d + ow, mk[2 * q], lo1);
                    }
                    if ((f & 2) != 0)
                    {
                        Avx512F.MaskStore(d + 16, mk[2 * q + 1], hi0);
                        if ((f & 4) != 0) Avx512F.MaskStore(d + ow + 16, mk[2 * q + 1], hi1);
                    }
                }
            }
        }
    }

    // Aᵀ M A for 16 consecutive tiles at s (ξ slices xiStride apart): over each row of 4 (ξ = 4·row + col)
    // (m0 + m1 + m2, m1 − m2 − m3), then over the rows: top = R0 + R1 + R2, bottom = R1 − R2 − R3.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void OutputTile(float* s, long xiStride, out Vector512<float> y00, out Vector512<float> y01,
                                          out Vector512<float> y10, out Vector512<float> y11)
    {
        var x0 = Vector512.Load(s); var x1 = Vector512.Load(s + xiStride); var x2 = Vector512.Load(s + 2 * xiStride); var x3 = Vector512.Load(s + 3 * xiStride);
        var p0 = x0 + x1 + x2; var q0 = x1 - x2 - x3;
        x0 = Vector512.Load(s + 4 * xiStride); x1 = Vector512.Load(s + 5 * xiStride); x2 = Vector512.Load(s + 6 * xiStride); x3 = Vector512.Load(s + 7 * xiStride);
        var p1 = x0 + x1 + x2; var q1 = x1 - x2 - x3;
        x0 = Vector512.Load(s + 8 * xiStride); x1 = Vector512.Load(s + 9 * xiStride); x2 = Vector512.Load(s + 10 * xiStride); x3 = Vector512.Load(s + 11 * xiStride);
        var p2 = x0 + x1 + x2; var q2 = x1 - x2 - x3;
        x0 = Vector512.Load(s + 12 * xiStride); x1 = Vector512.Load(s + 13 * xiStride); x2 = Vector512.Load(s + 14 * xiStride); x3 = Vector512.Load(s + 15 * xiStride);
        var p3 = x0 + x1 + x2; var q3 = x1 - x2 - x3;
        y00 = p0 + p1 + p2; y01 = q0 + q1 + q2;
        y10 = p1 - p2 - p3; y11 = q1 - q2 - q3;
    }


    // y for output channels [kb, kb + kn) of the tiles [t0, t1): Aᵀ M A per tile, M[ξ][co − kb][tile − t0] with row stride ldm.
    private static unsafe void OutputTransform(in ConvGeometry g, float* m, int ldm, long xiStride, int kb, int kn, int co, long t0, long t1, float* y, float* bias)
    {
        if (ReadsInPlace(g)) { OutputTransformPacked(g, m, ldm, xiStride, kb, kn, co, t0, t1, y, bias); return; }
        int oh = g.OutH, ow = g.OutW, th = (oh + 1) / 2, tw = (ow + 1) / 2, perImage = th * tw;
        long plane = (long)oh * ow;
        for (long t = t0; t < t1;)
        {
            int n = (int)(t / perImage), rem = (int)(t % perImage), i = rem / tw, j0 = rem % tw;
            int j1 = (int)Math.Min(tw, j0 + (t1 - t));
            int local = (int)(t - t0);
            bool secondRow = 2 * i + 1 < oh;
            for (int k = 0; k < kn; k++)
            {
                float* yr = y + ((long)n * co + kb + k) * plane + (long)(2 * i) * ow;
                float* mk = m + (long)k * ldm + local;
                bool biased = bias is not null;
                var b = biased ? Vector512.Create(bias[kb + k]) : default;
                for (int j = j0; j < j1; j += 16)
                {
                    OutputTile(mk + (j - j0), xiStride, out var y00, out var y01, out var y10, out var y11);
                    if (biased) { y00 += b; y01 += b; y10 += b; y11 += b; }
                    int cols = Math.Min(2 * (j1 - j), ow - 2 * j);   // output columns of this group on the row
                    float* d = yr + 2 * j;
                    var lo = Avx512F.PermuteVar16x32x2(y00, Lanes512.InterLo, y01);
                    var hi = Avx512F.PermuteVar16x32x2(y00, Lanes512.InterHi, y01);
                    StoreFirst(lo, d, cols); StoreFirst(hi, d + 16, cols - 16);
                    if (secondRow)
                    {
                        lo = Avx512F.PermuteVar16x32x2(y10, Lanes512.InterLo, y11);
                        hi = Avx512F.PermuteVar16x32x2(y10, Lanes512.InterHi, y11);
                        StoreFirst(lo, d + ow, cols); StoreFirst(hi, d + ow + 16, cols - 16);
                    }
                }
            }
            t += j1 - j0;
        }
    }

    // ---- Weight gradient ----------------------------------------------------------------------------------------------
    // Y = Aᵀ [Σ_c U ⊙ V] A, so for one tile the gradient of U[co][c] is dM[co] ⊙ V[c] with dM = A dY Aᵀ (4x4, from the
    // tile's 2x2 of dY; zeros where the tile is cut), and dW = Gᵀ (Σ_tiles dM ⊙ V) G. Per ξ the sum over tiles is a GEMM of
    // depth T: dUᵀ_ξ (C x Co) = V_ξ (C x T) · dM_ξᵀ (T x Co).
    // Work items: one per thread, each an equal range of tiles with its own partial dUᵀ, in blocks of at most DwBlock tiles;
    // or, where each thread would get few tiles (ChannelSplitMaxTiles), all tiles and an equal range of input channels,
    // writing its own rows of a single dUᵀ (no partial sums to add; each item builds dM for itself). Per block an item
    // writes V[ξ][c][tile] (rows of tiles, as the forward's transform with one panel: the micro-kernel's A, read with a row
    // stride) and dM[ξ][co/32][tile][32] (B panels: the block's dY rows transposed to channels-last, then the transform 16
    // channels at a time), then accumulates dUᵀ += V·dMᵀ tile by tile. The partial sums are added in item order and
    // transformed into dW, so the result depends on the thread count (through the item count) but not on scheduling; split
    // by channels, each dUᵀ row is one item's sum over all tiles, the same whatever the thread count.

    /// <summary>
    /// The most tiles per thread for which the weight gradient splits the input channels between the threads rather than
    /// the tiles (no partial sums to add, dM built by every thread).
    /// </summary>
    public const int ChannelSplitMaxTiles = 256;

    /// <summary>Tiles per block of the weight gradient (V of a block: 16·C·128 floats, 512 KiB at 64 channels).</summary>
    public const int DwBlock = 128;

    [ThreadStatic] private static float[]? t_dwp, t_dwv, t_dwm, t_dyt;

    /// <summary>
    /// dW (outChannels, C·9) at <paramref name="dwOffset"/> = beta·dW + the weight gradient of the 3x3 convolution of
    /// x[firstImage ..] with output gradient dY[firstImage ..] (NCHW batches), <paramref name="images"/> images.
    /// </summary>
    public static unsafe void WeightGrad(CpuDevice device, float[] dY, int outChannels, float[] x, int firstImage, int images, in ConvGeometry g,
                                         float beta, float[] dW, int dwOffset)
    {
        int ci = g.Channels, co = outChannels, oh = g.OutH, ow = g.OutW;
        long tiles = (long)images * ((oh + 1) / 2) * ((ow + 1) / 2);
        int cPad = (ci + MR - 1) / MR * MR, kPad = (co + Lanes - 1) / Lanes * Lanes;
        if (tiles > 0 && tiles <= FusedMaxTiles)
        {
            WeightGradFused(device, dY, co, x, firstImage, images, g, (int)tiles, cPad, kPad, beta, dW, dwOffset);
            return;
        }
        // One item per thread, each an equal share of the tiles (resnet_l3's 392 tiles in blocks of 128 left two threads with
        // three full blocks and a stub: dW 4.9 ms, against 3.0 for resnet_l2).
        int items = (int)Math.Clamp((tiles + DwBlock - 1) / DwBlock, 1, device.Threads), channelItems = 1;
        if (items > 1 && tiles <= (long)ChannelSplitMaxTiles * device.Threads && cPad / MR >= device.Threads)
        {
            channelItems = device.Threads;
            items = 1;
        }
        long pPer = XiStride((long)cPad * kPad);
        var part = Scratch.Get(ref t_dwp, checked((int)(items * 16 * pPer)));
        fixed (float* dy0 = dY, x0 = x, p0 = part, dw0 = dW)
        {
            var fin = new DwFinish(p0, pPer, tiles > 0 ? items : 0, kPad, ci, co, beta, dw0 + dwOffset);
            if (tiles > 0)
            {
                var body = new DwBody(g, x0 + (long)firstImage * ci * g.Height * g.Width, dy0 + (long)firstImage * co * oh * ow, co, tiles,
                                      items, channelItems, p0, pPer, cPad, kPad, fin);
                if (items * channelItems > 1) device.ParallelFor(items * channelItems, body);
                else body.Invoke(0);
                if (channelItems > 1) return;   // each item finished its own channels
            }
            int blocks = (ci + FinishCB - 1) / FinishCB;
            if (device.Threads > 1 && (long)ci * co >= 4096) device.ParallelFor(blocks, fin);
            else for (int b = 0; b < blocks; b++) fin.Invoke(b);
        }
    }

    private readonly unsafe struct DwBody(ConvGeometry g, float* x, float* dY, int co, long tiles, int items, int channelItems,
                                          float* part, long pPer, int cPad, int kPad, DwFinish finish) : IParallelBody
    {
        public void Invoke(int index)
        {
            // This item's tiles [s0, s1), in blocks of at most DwBlock, all of about the same size, and input channels
            // [c0, c1) (MR-aligned; rows c0.. of V and of the item's dUᵀ).
            int item = index / channelItems, ch = index % channelItems;
            int c0 = (int)((long)ch * (cPad / MR) / channelItems) * MR, c1 = (int)((long)(ch + 1) * (cPad / MR) / channelItems) * MR;
            int chHi = Math.Min(c1, g.Channels);
            long s0 = item * tiles / items, s1 = (item + 1) * tiles / items;
            long nb = (s1 - s0 + DwBlock - 1) / DwBlock;
            float* p = part + item * 16 * pPer;
            long vPer = XiStride((long)cPad * DwBlock), mPer = XiStride((long)kPad * DwBlock);
            var v = Scratch.Get(ref t_dwv, checked((int)(16 * vPer)));
            var m = Scratch.Get(ref t_dwm, checked((int)(16 * mPer)));
            int tw = (g.OutW + 1) / 2;
            var dyt = Scratch.Get(ref t_dyt, DyRowsLength(tw, kPad));
            fixed (float* v0 = v, m0 = m, dt = dyt)
                for (long b = 0; b < nb; b++)
                {
                    long t0 = s0 + b * (s1 - s0) / nb, t1 = s0 + (b + 1) * (s1 - s0) / nb;
                    int nt = (int)(t1 - t0);
                    InputTransform(g, x, t0, t1, v0, vPer, DwBlock, c0, chHi);
                    GradTransform(g, dY, co, kPad, t0, t1, m0, mPer, dt);
                    for (int xi = 0; xi < 16; xi++)
                        for (int c = c0; c < c1; c += MR)
                            for (int kp = 0; kp < kPad; kp += Lanes)
                                RunStridedA(nt, v0 + xi * vPer + (long)c * DwBlock, DwBlock, m0 + xi * mPer + (long)kp * DwBlock,
                                            p + xi * pPer + (long)c * kPad + kp, kPad, accumulate: b > 0);
                }
            // Split by channels: this item's rows of dUᵀ are complete, so it turns them into dW itself, while they are
            // still in its own caches, rather than leaving half of them to be read by the other core.
            if (channelItems > 1)
                for (int blk = c0 / FinishCB; blk * FinishCB < chHi; blk++) finish.Invoke(blk);
        }
    }

    // GradTransform's dt: two rows of 2·tw + 2 columns of kPad channels, and 8 columns more for the zeros the last masked
    // transpose of the second row writes past it.
    private static int DyRowsLength(int tw, int kPad) => (2 * (2 * tw + 2) + 8) * kPad;

    // dM[ξ][kp][tile − t0][32] for the tiles [t0, t1) (kp: panel of 32 output channels, panelTiles tiles apart; zeros past co). Per tile-row segment,
    // dY's two rows are first transposed into dt[row][column][kPad] (8x8 register transposes; zeros past the plane and past
    // co), then each tile's 2x2 becomes 16 values, 16 channels at a time: dY Aᵀ per row gives (y0, y0 + y1, y0 − y1, −y1),
    // and A combines the two rows the same way.
    private static unsafe void GradTransform(in ConvGeometry g, float* dY, int co, int kPad, long t0, long t1, float* m, long mPer, float* dt, int panelTiles = DwBlock)
    {
        int oh = g.OutH, ow = g.OutW, th = (oh + 1) / 2, tw = (ow + 1) / 2, perImage = th * tw;
        long plane = (long)oh * ow;
        for (long t = t0; t < t1;)
        {
            int n = (int)(t / perImage), rem = (int)(t % perImage), i = rem / tw, j0 = rem % tw;
            int j1 = (int)Math.Min(tw, j0 + (t1 - t));
            int local = (int)(t - t0), c0 = 2 * j0, cols = 2 * (j1 - j0), valid = Math.Min(2 * j1, ow) - c0;
            for (int r = 0; r < 2; r++)
            {
                float* dst = dt + (long)r * cols * kPad;
                int row = 2 * i + r;
                if (row >= oh) { new Span<float>(dst, cols * kPad).Clear(); continue; }
                float* src = dY + (long)n * co * plane + (long)row * ow + c0;
                int q = 0;
                for (; q + 8 <= valid; q += 8)
                {
                    int k = 0;
                    for (; k + 8 <= co; k += 8) BlockedGemm.Transpose8Rows(src + k * plane + q, (int)plane, 8, dst + (long)q * kPad + k, kPad);
                    for (; k < co; k++) for (int e = 0; e < 8; e++) dst[(long)(q + e) * kPad + k] = src[k * plane + q + e];
                    for (int e = 0; e < 8; e++) new Span<float>(dst + (long)(q + e) * kPad + co, kPad - co).Clear();
                }
                if (q < valid)
                {
                    // The last valid - q columns: masked transposes (they write zeros for the 8 - (valid - q) columns past
                    // them, which DyRowsLength leaves room for).
                    int rest = valid - q, k = 0;
                    for (; k + 8 <= co; k += 8) BlockedGemm.Transpose8Columns(src + k * plane + q, (int)plane, rest, dst + (long)q * kPad + k, kPad);
                    for (; k < co; k++) for (int e = 0; e < rest; e++) dst[(long)(q + e) * kPad + k] = src[k * plane + q + e];
                    for (int e = 0; e < rest; e++) new Span<float>(dst + (long)(q + e) * kPad + co, kPad - co).Clear();
                }
                if (valid < cols) new Span<float>(dst + (long)valid * kPad, (cols - valid) * kPad).Clear();
            }
            for (int j = 0; j < j1 - j0; j++)
            {
                float* top = dt + (long)(2 * j) * kPad, bottom = top + (long)cols * kPad;
                float* d = m + (long)(local + j) * Lanes;
                for (int k = 0; k < kPad; k += 16)
                {
                    var y00 = Vector512.Load(top + k); var y01 = Vector512.Load(top + kPad + k);
                    var y10 = Vector512.Load(bottom + k); var y11 = Vector512.Load(bottom + kPad + k);
                    // dY Aᵀ: each row (y0, y1) → (y0, y0 + y1, y0 − y1, −y1); then A over the two rows: Z0, Z0 + Z1, Z0 − Z1, −Z1.
                    var z0 = y00; var z1 = y00 + y01; var z2 = y00 - y01; var z3 = -y01;
                    var w0 = y10; var w1 = y10 + y11; var w2 = y10 - y11; var w3 = -y11;
                    float* o = d + (long)(k / Lanes) * panelTiles * Lanes + k % Lanes;
                    z0.Store(o); z1.Store(o + mPer); z2.Store(o + 2 * mPer); z3.Store(o + 3 * mPer);
                    (z0 + w0).Store(o + 4 * mPer); (z1 + w1).Store(o + 5 * mPer); (z2 + w2).Store(o + 6 * mPer); (z3 + w3).Store(o + 7 * mPer);
                    (z0 - w0).Store(o + 8 * mPer); (z1 - w1).Store(o + 9 * mPer); (z2 - w2).Store(o + 10 * mPer); (z3 - w3).Store(o + 11 * mPer);
                    (-w0).Store(o + 12 * mPer); (-w1).Store(o + 13 * mPer); (-w2).Store(o + 14 * mPer); (-w3).Store(o + 15 * mPer);
                }
            }
            t += j1 - j0;
        }
    }

    // C (8 x 32, row stride ldc) = [C +] A·B over kc depth steps, with A's 8 rows lda apart (A(r, p) = a[r·lda + p]) and B
    // packed [p][32]: the GEMM micro-kernel with its A panel read in place from rows of tiles.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RunStridedA(int kc, float* a, int lda, float* b, float* c, int ldc, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda;
        for (int p = 0; p < kc; p++, b += Lanes)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a0[p]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[p]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[p]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[p]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a4[p]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a5[p]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a6[p]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a7[p]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }
        if (accumulate)
        {
            c00 += Vector512.Load(c); c01 += Vector512.Load(c + 16); c10 += Vector512.Load(c + ldc); c11 += Vector512.Load(c + ldc + 16);
            c20 += Vector512.Load(c + 2 * ldc); c21 += Vector512.Load(c + 2 * ldc + 16); c30 += Vector512.Load(c + 3 * ldc); c31 += Vector512.Load(c + 3 * ldc + 16);
            c40 += Vector512.Load(c + 4 * ldc); c41 += Vector512.Load(c + 4 * ldc + 16); c50 += Vector512.Load(c + 5 * ldc); c51 += Vector512.Load(c + 5 * ldc + 16);
            c60 += Vector512.Load(c + 6 * ldc); c61 += Vector512.Load(c + 6 * ldc + 16); c70 += Vector512.Load(c + 7 * ldc); c71 += Vector512.Load(c + 7 * ldc + 16);
        }
        c00.Store(c); c01.Store(c + 16); c10.Store(c + ldc); c11.Store(c + ldc + 16);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16); c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16); c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16);
        c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + 16); c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + 16);
    }

    // Gᵀ dU G for 16 output channels at once: u[ξ] holds dU's 16 values (row-major 4x4) of one input channel, 16 output
    // channels in the lanes. Gᵀ over the rows gives (R0 + ½R1 + ½R2, ½R1 − ½R2, ½R1 + ½R2 + R3), and each of those rows
    // (a, b, c, d) becomes (a + ½b + ½c, ½b − ½c, ½b + ½c + d): the 9 taps, stored tapStride apart.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void FilterGrad(Vector512<float>* u, float* t, long tapStride)
    {
        var half = Vector512.Create(0.5f);
        for (int col = 0; col < 4; col++)
        {
            var r0 = u[col]; var r1 = u[4 + col]; var r2 = u[8 + col]; var r3 = u[12 + col];
            u[col] = r0 + half * r1 + half * r2;
            u[4 + col] = half * r1 - half * r2;
            u[8 + col] = half * r1 + half * r2 + r3;
        }
        for (int row = 0; row < 3; row++)
        {
            var a = u[4 * row]; var b = u[4 * row + 1]; var cc = u[4 * row + 2]; var d = u[4 * row + 3];
            (a + half * b + half * cc).Store(t + (3 * row) * tapStride);
            (half * b - half * cc).Store(t + (3 * row + 1) * tapStride);
            (half * b + half * cc + d).Store(t + (3 * row + 2) * tapStride);
        }
    }

    /// <summary>
    /// Input channels per block of the weight gradient's last step (one dW row segment of 8·9 floats per output channel):
    /// the micro-kernel's MR, since the few-tile path finishes each 8-row block of its products as it completes.
    /// </summary>
    private const int FinishCB = MR;

    // dW rows k0 .. k0 + lanes − 1, input channels [c0, c0 + cn) (cn ≤ 8) = beta·dW + tb, where tb holds them as
    // [c·9 + tap][output channel] (row stride ldt): transposed 8x8 at a time into 72 contiguous floats per dW row (one
    // channel at a time would scatter 16 rows of 9 floats, each to another cache line). rows: 16·72 floats of scratch.
    private static unsafe void StoreFilterGrads(float* tb, int ldt, int k0, int lanes, int c0, int cn, int ci, float beta, float* dW, float* rows)
    {
        int taps = cn * 9, ld = ci * 9;
        for (int l0 = 0; l0 < lanes; l0 += 16)
        {
            int ln = Math.Min(16, lanes - l0);
            bool full = ln == 16 && cn == FinishCB;
            // Straight into dW when it is overwritten whole; otherwise through rows and added.
            float* dst = full && beta == 0 ? dW + ((long)(k0 + l0) * ci + c0) * 9 : rows;
            int stride = full && beta == 0 ? ld : FinishCB * 9;
            for (int h = 0; h < ln; h += 8)
                for (int i0 = 0; i0 < taps; i0 += 8)
                    BlockedGemm.Transpose8Rows(tb + (long)i0 * ldt + l0 + h, ldt, Math.Min(8, taps - i0), dst + (long)h * stride + i0, stride);
            if (full && beta == 0) continue;
            for (int l = 0; l < ln; l++)
            {
                float* o = dW + ((long)(k0 + l0 + l) * ci + c0) * 9, r = rows + l * FinishCB * 9;
                int i = 0;
                for (; i + 16 <= taps; i += 16)
                    (beta == 0 ? Vector512.Load(r + i) : Vector512.FusedMultiplyAdd(Vector512.Create(beta), Vector512.Load(o + i), Vector512.Load(r + i))).Store(o + i);
                for (; i < taps; i++) o[i] = beta == 0 ? r[i] : beta * o[i] + r[i];
            }
        }
    }

    // Input channels [c0, c0 + 8) of dW: dUᵀ[ξ][c][co] summed over the items in order (each channel's rows read in order,
    // 16 streams at a time), Gᵀ dU G into tb[c·9 + tap][co], then stored into dW's rows (StoreFilterGrads).
    private readonly unsafe struct DwFinish(float* part, long pPer, int items, int kPad, int ci, int co, float beta, float* dW) : IParallelBody
    {
        [ThreadStatic] private static float[]? t_taps;

        [SkipLocalsInit]   // u and rows are written before they are read
        public void Invoke(int block)
        {
            int c0 = block * FinishCB, cn = Math.Min(FinishCB, ci - c0), kRound = (co + 15) & ~15;
            var buf = Scratch.Get(ref t_taps, FinishCB * 9 * kRound);
            float* rows = stackalloc float[16 * FinishCB * 9];
            var u = stackalloc Vector512<float>[16];
            fixed (float* tb = buf)
            {
                for (int c = 0; c < cn; c++)
                    for (int k = 0; k < co; k += 16)
                    {
                        for (int xi = 0; xi < 16; xi++)
                        {
                            var sum = Vector512<float>.Zero;
                            for (int it = 0; it < items; it++) sum += Vector512.Load(part + it * 16 * pPer + xi * pPer + (long)(c0 + c) * kPad + k);
                            u[xi] = sum;
                        }
                        FilterGrad(u, tb + (long)c * 9 * kRound + k, kRound);
                    }
                StoreFilterGrads(tb, kRound, 0, co, c0, cn, ci, beta, dW, rows);
            }
        }
    }

    // ---- Weight gradient for few tiles ---------------------------------------------------------------------------------
    // With few tiles (resnet_l4: 8 x 7x7 planes, 128 tiles) and many channels, the partial dUᵀ of the path above (16 GEMMs
    // of Ci x Co, 16 MB at 512 → 512) is written out and read back for a few flops per element, and one item per thread
    // over 128 tiles leaves a single item. Here the tiles are one block and the items split the input channels: each builds
    // V for its channels and dM for all output channels (every item needs all of dM; built by each for itself, because
    // reading lines the other core has just written cost more than building them: resnet_l4 6.5–6.7 ms against 4.2–4.5
    // with no transforms at all), then, per FusedPanels panels of 32 output channels and block of 8 input channels, runs
    // the 16 GEMMs of depth T into an 8 x 64 x 16 block in L1 and turns it into dW at once. No partial sums, so the result
    // does not depend on the thread count.

    /// <summary>
    /// The most tiles the weight gradient takes as one block (<see cref="WeightGradFused"/>). resnet_l4 (128 tiles): 7.2–7.7
    /// ms on one thread against 9.5–11.1 through the partial sums (one item: 8.2–10.0 on two threads);
    /// resnet_l3 (392 tiles) as one block ran 5.9–6.7 ms on one thread against 5.7–5.9 through the partial sums.
    /// </summary>
    public const int FusedMaxTiles = 256;

    /// <summary>Panels of 32 output channels per pass over an item's V (their B panels, 16·T·32·FusedPanels floats, stay in L2).</summary>
    public const int FusedPanels = 2;

    [ThreadStatic] private static float[]? t_wfv, t_wfm;

    private static unsafe void WeightGradFused(CpuDevice device, float[] dY, int co, float[] x, int firstImage, int images, in ConvGeometry g,
                                               int tiles, int cPad, int kPad, float beta, float[] dW, int dwOffset)
    {
        int ci = g.Channels;
        int items = Math.Min(device.Threads, cPad / MR);
        fixed (float* dy0 = dY, x0 = x, dw0 = dW)
        {
            var body = new FusedItem(g, x0 + (long)firstImage * ci * g.Height * g.Width, dy0 + (long)firstImage * co * g.OutH * g.OutW, co, kPad,
                                     tiles, items, beta, dw0 + dwOffset);
            if (items > 1) device.ParallelFor(items, body);
            else body.Invoke(0);
        }
    }

    // Item i: input channels [c0, c1) (8·⌊i·(Ci/8)/n⌋ ..), all output channels.
    private readonly unsafe struct FusedItem(ConvGeometry g, float* x, float* dY, int co, int kPad, int tiles, int items, float beta, float* dW)
        : IParallelBody
    {
        private const int Width = Lanes * FusedPanels;

        private int Bound(int i) => i >= items ? g.Channels : (int)((long)i * ((g.Channels + MR - 1) / MR) / items) * MR;

        [SkipLocalsInit]   // cs, tb, rows and u are written before they are read
        public void Invoke(int item)
        {
            int ci = g.Channels, c0 = Bound(item), c1 = Bound(item + 1), ldv = (tiles + 15) & ~15;
            if (c0 >= c1) return;
            int rowsV = (c1 - c0 + MR - 1) / MR * MR;
            long vPer = XiStride((long)rowsV * ldv), mPer = XiStride((long)kPad * ldv);
            var vBuf = Scratch.Get(ref t_wfv, checked((int)(16 * vPer + 16)));
            var mBuf = Scratch.Get(ref t_wfm, checked((int)(16 * mPer + 16)));
            int tw = (g.OutW + 1) / 2;
            var dyt = Scratch.Get(ref t_dyt, DyRowsLength(tw, kPad));
            float* cs = stackalloc float[16 * MR * Width];          // cs[ξ][c][k]
            float* tb = stackalloc float[FinishCB * 9 * Width];     // tb[c·9 + tap][k]
            float* rows = stackalloc float[16 * FinishCB * 9];
            var u = stackalloc Vector512<float>[16];
            fixed (float* va = vBuf, ma = mBuf, dt = dyt)
            {
                float* v = BlockedGemm.LineAligned(va), m = BlockedGemm.LineAligned(ma);
                // V[ξ][c − c0][tile] for this item's channels, dM[ξ][kp][tile][32] for all output channels.
                InputTransform(g, x, 0, tiles, v - (long)c0 * ldv, vPer, ldv, c0, c1);
                GradTransform(g, dY, co, kPad, 0, tiles, m, mPer, dt, ldv);
                for (int kp0 = 0; kp0 < kPad / Lanes; kp0 += FusedPanels)
                {
                    int panels = Math.Min(FusedPanels, kPad / Lanes - kp0), k0 = kp0 * Lanes, kn = Math.Min(co - k0, panels * Lanes);
                    for (int cb = c0; cb < c1; cb += MR)
                    {
                        // The next block's dW rows (72 floats of each of kn rows, 36·Ci bytes apart): no prefetcher follows so many.
                        if (cb + MR < c1)
                            for (int k = 0; k < kn; k++)
                            {
                                byte* r = (byte*)(dW + ((long)(k0 + k) * ci + cb + MR) * 9);
                                Sse.Prefetch0(r); Sse.Prefetch0(r + 64); Sse.Prefetch0(r + 128); Sse.Prefetch0(r + 192); Sse.Prefetch0(r + 256);
                            }
                        for (int xi = 0; xi < 16; xi++)
                            for (int p = 0; p < panels; p++)
                                RunStridedA(tiles, v + xi * vPer + (long)(cb - c0) * ldv, ldv, m + xi * mPer + (long)(kp0 + p) * ldv * Lanes,
                                            cs + xi * MR * Width + p * Lanes, Width, accumulate: false);
                        int cn = Math.Min(MR, c1 - cb);
                        for (int c = 0; c < cn; c++)
                            for (int k = 0; k < kn; k += 16)
                            {
                                for (int xi = 0; xi < 16; xi++) u[xi] = Vector512.Load(cs + (xi * MR + c) * Width + k);
                                FilterGrad(u, tb + c * 9 * Width + k, Width);
                            }
                        StoreFilterGrads(tb, Width, k0, kn, cb, cn, ci, beta, dW, rows);
                    }
                }
            }
        }
    }
}
