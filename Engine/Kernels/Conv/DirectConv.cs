// Direct convolution on AVX-512 ("shifted rows"): y (Cout, OH, OW) = W (Cout, K) · col (K, OH·OW) per image, without
// packing the im2col matrix.
//
// Pad each image into xp (C, Hp, Wp) with Hp = H + 2·pH, Wp = W + 2·pW (zeros around it). Number the outputs in
// padded-width coordinates, q = oh·Wp + ow with ow in [0, Wp): then for k = (c, kh, kw)
//     col[k][q] = xp[c][oh + kh·dH][ow + kw·dW] = xp_flat[q + off(k)],   off(k) = c·Hp·Wp + kh·dH·Wp + kw·dW
// so every row of the im2col matrix is a contiguous run of xp, one offset away from the next. The micro-kernel reads B
// rows in place through that offset table; the columns with ow ≥ OW (the padded width's right margin, (Wp − OW)/Wp of
// the work: 7 % for 28x28, 22 % for 7x7, plus the last tile's rounding up to 48: ColumnEfficiency) are computed and
// dropped when the tile is stored. Only xp (one copy of x with
// its border) is written, against K = C·KH·KW copies per output for im2col packing: a 3x3 layer reads each input value
// from L1/L2 for 9·Cout multiply-adds instead of packing it nine times.
//
// Stride s > 1: the padded image is stored as sH·sW phase planes, phase (a, b) holding xpad[a + sH·i][b + sW·j] (Hph x Wph
// with Hph = ⌈Hp/sH⌉, Wph = ⌈Wp/sW⌉). Tap (kh, kw) of output (oh, ow) reads xpad[sH·oh + dH·kh][sW·ow + dW·kw], which is
// element (oh + ⌊dH·kh/sH⌋, ow + ⌊dW·kw/sW⌋) of phase (dH·kh mod sH, dW·kw mod sW): with q = oh·Wph + ow the rows are again
// contiguous, off(k) = c·sH·sW·Hph·Wph + phase·Hph·Wph + ⌊dH·kh/sH⌋·Wph + ⌊dW·kw/sW⌋. Stride 1 is the one-phase case.
//
// Work items: whole images per thread when there are at least two per thread (each pads its image and runs all its tiles,
// so the padded copy stays in the core that wrote it), else (image, block of MR = 8 output channels, block of NR = 48
// columns q) tiles shared by the threads. A tile runs the whole K in registers
// (24 zmm accumulators) and hands them to a sink: with padded rows of at least 48 columns a tile spans two rows at most
// and its vectors go straight into y under lane masks (RowSink); narrower rows go through a stack buffer and a scatter
// into y's valid pixels (BufferSink, Scatter). A is W packed once per
// call into [Cout/8][K][8] panels. The result does not depend on the thread count: each output is one item's K-ordered sum.
// Used by Conv2d's CPU forward (stride 1; strided layers only where StridedLanesConv does not apply), for its stride-1
// dX (a convolution of dY with the flipped kernel) and, through WeightGrad below, for its dW; NaiveConv is the twin. Small output planes (rows of at most 12) with output channels in
// blocks of 16 go to ChannelLanesConv where its Cost is lower: it computes no margin columns.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvEngine.Kernels.Simd;

namespace ConvEngine.Kernels.Conv;

internal static class DirectConv
{
    /// <summary>Output channels per micro-tile.</summary>
    public const int MR = 8;
    /// <summary>Output columns (padded-width coordinates) per micro-tile: three zmm.</summary>
    public const int NR = 48;

    /// <summary>
    /// The largest K (C·KH·KW) for which the direct kernel is preferred: a tile streams K rows of 48 floats (192 B) through
    /// L2, 288 KB at this K. Past it the implicit GEMM, whose KC blocking keeps its panels in L2, is faster now that it packs
    /// stride-1 panels from a padded copy: resnet_l3 (K = 2,304) forward 262 GFLOP/s direct against 303–308 through the
    /// GEMM, resnet_l4 (4,608) 156 against 290; resnet_l2 (1,152) stays direct, 356 against 303 (2 threads, Zen 5).
    /// </summary>
    public const int PreferredMaxK = 1536;

    /// <summary>Whether the processor runs the kernel (AVX-512F); otherwise callers use the implicit GEMM.</summary>
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>
    /// The share of computed columns that are outputs: OH·OW over the 48-column tiles covering OH·Wph padded-width columns.
    /// 0.91 for 28x28 "same", 0.82 for 14x14, 0.69 for LeNet's valid 10x10 output, 0.51 for 7x7.
    /// </summary>
    public static double ColumnEfficiency(in ConvGeometry g)
    {
        long q = (long)g.OutH * new Layout(g).Wph, tiles = (q + NR - 1) / NR;
        return tiles == 0 ? 0 : (double)g.OutH * g.OutW / (tiles * NR);
    }

    /// <summary>
    /// Multiply-adds per image the kernel computes for <paramref name="g"/> with <paramref name="outChannels"/> outputs:
    /// output channels rounded up to MR, times K, times the columns of the 48-wide tiles (margins and rounding included).
    /// </summary>
    public static long Cost(in ConvGeometry g, int outChannels)
    {
        long q = (long)g.OutH * new Layout(g).Wph, tiles = (q + NR - 1) / NR;
        return (outChannels + MR - 1) / MR * MR * (long)g.ColRows * tiles * NR;
    }

    /// <summary>Whether <paramref name="g"/> is a geometry the direct kernel computes (AVX-512 present, output not empty).</summary>
    public static bool Applies(in ConvGeometry g) =>
        IsSupported && g.OutH > 0 && g.OutW > 0 && g.Channels > 0;

    [ThreadStatic] private static float[]? t_xp, t_a;
    [ThreadStatic] private static int[]? t_off;

    /// <summary>
    /// y[firstImage + i] (outChannels, OH, OW) = w (outChannels, C·KH·KW, row-major, lda = C·KH·KW) ⊛ x[firstImage + i] for
    /// i in [0, images), overwriting y, plus <paramref name="bias"/>[o] on output channel o where given (added as each tile is
    /// stored: no second pass over y). x and y are NCHW arrays of whole batches; <paramref name="g"/> must satisfy <see cref="Applies"/>.
    /// </summary>
    public static unsafe void Forward(CpuDevice device, float[] w, int outChannels, float[] x, int firstImage, int images, in ConvGeometry g, float[] y,
                                      float[]? bias = null)
    {
        // Small output planes with 16·n output channels: the channel-lanes kernel computes no margin columns.
        if (ChannelLanesConv.Applies(g, outChannels) && ChannelLanesConv.Cost(g, outChannels) < Cost(g, outChannels))
        {
            ChannelLanesConv.Forward(device, w, outChannels, x, firstImage, images, g, y, bias);
            return;
        }
        var L = new Layout(g);
        int oh = g.OutH, ow = g.OutW, k = g.ColRows, wph = L.Wph, imageStride = L.ImageStride;
        int mBlocks = (outChannels + MR - 1) / MR, qBlocks = (oh * wph + NR - 1) / NR;
        var a = Scratch.Get(ref t_a, mBlocks * k * MR);
        var off = L.Offsets(g, Scratch.Get(ref t_off, k));
        // A panels: a[mb][p][r] = w[mb·8 + r][p], zero rows past outChannels.
        for (int mb = 0; mb < mBlocks; mb++)
            for (int r = 0; r < MR; r++)
            {
                int co = mb * MR + r;
                int dst = mb * k * MR + r;
                if (co < outChannels) for (int p = 0; p < k; p++) a[dst + p * MR] = w[co * k + p];
                else for (int p = 0; p < k; p++) a[dst + p * MR] = 0f;
            }
        fixed (float* a0 = a, y0 = y, b0 = bias)
        fixed (int* off0 = off)
        {
            float* yFirst = y0 + (long)firstImage * outChannels * oh * ow;
            var pad = new PadBody(x, (long)firstImage * L.C * L.H * L.W, L);
            if (images >= 2 * device.Threads)
            {
                // Whole images per thread: each pads its image into its own buffer and runs all of its tiles, so the padded
                // copy is read by the core that wrote it. Splitting both steps over the threads left each core reading the
                // half of the copy the other one wrote, and a 32-channel 28x28 layer gained nothing from the second thread.
                // A strided layer's image is cut into bands of q blocks (each pads only the phase-plane rows its band reads),
                // so that the threads end together: with whole images, 8 stem images of 1.4 ms on 2 threads left one thread
                // idle for most of an image whenever the other had been slowed. Stride 1 keeps whole images.
                int bands = g.StrideH == 1 && g.StrideW == 1 ? 1 : Math.Clamp((16 * device.Threads + images - 1) / images, 1, qBlocks);
                int rowReach = g.DilationH * (g.KernelH - 1) / g.StrideH;
                device.ParallelFor(images * bands, new ImageBody(pad, a0, off0, yFirst, b0, k, outChannels, oh, ow, wph, imageStride, mBlocks, qBlocks, bands, rowReach));
            }
            else
            {
                // Few images (a stem at batch 1): pad them all, then share the tiles of every image between the threads.
                var xp = pad.PadAll(device, images, (long)images * L.Channel >= 1 << 15);
                fixed (float* xp0 = xp)
                {
                    var tiles = new TileBody(xp0, a0, off0, yFirst, b0, k, outChannels, oh, ow, wph, imageStride, mBlocks, qBlocks);
                    int items = images * mBlocks * qBlocks;
                    if ((long)items * MR * NR * k >= 1 << 18) device.ParallelFor(items, tiles);
                    else for (int i = 0; i < items; i++) tiles.Invoke(i);
                }
            }
        }
    }

    // Band b of image i on one thread: pad the rows of it that the band reads into this thread's buffer, then every (q block,
    // channel block) tile of the band. A band is a range of q blocks; its valid outputs lie in output rows [q0 / Wph,
    // (q1 − 1) / Wph] and read phase-plane rows up to rowReach below those. Rows of the buffer outside that range hold another
    // band's or image's values, which only the dropped columns (margins, past the last row) read.
    private readonly unsafe struct ImageBody(PadBody pad, float* a, int* off, float* y, float* bias, int k, int cout, int oh, int ow, int wph,
                                             int imageStride, int mBlocks, int qBlocks, int bands, int rowReach) : IParallelBody
    {
        public void Invoke(int item)
        {
            int image = item / bands, band = item % bands;
            int qb0 = (int)((long)band * qBlocks / bands), qb1 = (int)((long)(band + 1) * qBlocks / bands);
            var xp = Scratch.Get(ref t_xp, imageStride + 16);
            int q1 = Math.Min(qb1 * NR, oh * wph);
            int row0 = qb0 * NR / wph, row1 = (q1 - 1) / wph + rowReach + 1;
            for (int ci = 0; ci < pad.L.C; ci++) pad.Pad(xp, image, ci, 0, row0, row1);
            fixed (float* xp0 = xp)
            {
                // The tile body addresses image i at xp + i·imageStride and y + i·Cout·OH·OW: shift both so image 0 is this one.
                var tiles = new TileBody(xp0, a, off, y + (long)image * cout * oh * ow, bias, k, cout, oh, ow, wph, imageStride, mBlocks, qBlocks);
                for (int t = qb0 * mBlocks; t < qb1 * mBlocks; t++) tiles.Invoke(t);
            }
        }
    }

    // The padded copy of one image: Hp x Wp (stride 1) or sH·sW phase planes of Hph x Wph per channel, C channels, then
    // the slack that the last tile's overrun reads (its results dropped): NR − 1 columns past the outputs plus the widest
    // kernel offset, rounded to 16 floats.
    private readonly struct Layout
    {
        public readonly int C, H, W, PH, PW, SH, SW, Wp, Wph, Hph, Plane, Channel, Slack, ImageStride;

        public Layout(in ConvGeometry g)
        {
            (C, H, W, PH, PW, SH, SW) = (g.Channels, g.Height, g.Width, g.PadH, g.PadW, g.StrideH, g.StrideW);
            Wp = W + 2 * PW;
            Hph = (H + 2 * PH + SH - 1) / SH;
            Wph = (Wp + SW - 1) / SW;
            Plane = Hph * Wph;
            Channel = SH * SW * Plane;
            Slack = NR + g.DilationW * (g.KernelW - 1) + 16;
            ImageStride = (C * Channel + Slack + 15) & ~15;
        }

        /// <summary>off(k) for the K rows in im2col order (c, kh, kw), written into <paramref name="off"/> (returned).</summary>
        public int[] Offsets(in ConvGeometry g, int[] off)
        {
            for (int ci = 0, p = 0; ci < C; ci++)
                for (int kh = 0; kh < g.KernelH; kh++)
                    for (int kw = 0; kw < g.KernelW; kw++)
                    {
                        int rh = kh * g.DilationH, rw = kw * g.DilationW;
                        off[p++] = ci * Channel + (rh % SH * SW + rw % SW) * Plane + rh / SH * Wph + rw / SW;
                    }
            return off;
        }
    }

    // Item (image, channel) of the padding when all images are padded first.
    private readonly struct PadItems(PadBody pad, float[] xp) : IParallelBody
    {
        public void Invoke(int item) => pad.Pad(xp, item / pad.L.C, item % pad.L.C, item / pad.L.C * pad.L.ImageStride);
    }

    // Channel ci of image img: writes the channel's padded plane (stride 1) or its sH·sW phase planes (stride > 1; only their
    // rows [row0, row1) when given), zeros
    // included, into xp at dstBase (the image's start there); the last channel also zeros the slack after the image.
    private readonly struct PadBody(float[] x, long xBase, in Layout layout)
    {
        /// <summary>The padded copy's layout (a field, so reading it copies nothing).</summary>
        public readonly Layout L = layout;

        /// <summary>Pads all <paramref name="images"/> into the calling thread's buffer (image i at i·ImageStride) and returns it.</summary>
        public float[] PadAll(CpuDevice device, int images, bool parallel)
        {
            var xp = Scratch.Get(ref t_xp, images * L.ImageStride + 16);
            int c = L.C;
            if (parallel) device.ParallelFor(images * c, new PadItems(this, xp));
            else for (int i = 0; i < images * c; i++) Pad(xp, i / c, i % c, i / c * L.ImageStride);
            return xp;
        }

        public void Pad(float[] xp, int img, int ci, int dstBase, int row0 = 0, int row1 = int.MaxValue)
        {
            int c = L.C, h = L.H, w = L.W, ph = L.PH, pw = L.PW, sh = L.SH, sw = L.SW;
            int wp = L.Wp, hph = L.Hph, wph = L.Wph, plane = L.Plane;
            var src = x.AsSpan((int)(xBase + ((long)img * c + ci) * h * w), h * w);
            var dst = xp.AsSpan(dstBase + ci * L.Channel, L.Channel);
            if (sh == 1 && sw == 1)
                Gemm.PaddedIm2Col.PadPlane(src, dst[..((h + 2 * ph) * wp)], h, w, ph, pw);
            else
            {
                // Phase (a, b), element (i, j) = xpad[a + sH·i][b + sW·j] = x[a + sH·i − pH][b + sW·j − pW] or 0.
                for (int a = 0; a < sh; a++)
                    for (int b = 0; b < sw; b++)
                    {
                        var phase = dst.Slice((a * sw + b) * plane, plane);
                        for (int i = Math.Max(0, row0), iEnd = Math.Min(hph, row1); i < iEnd; i++)
                        {
                            var row = phase.Slice(i * wph, wph);
                            int r = a + sh * i - ph;
                            if ((uint)r >= (uint)h) { row.Clear(); continue; }
                            var srow = src.Slice(r * w, w);
                            // Valid j: 0 ≤ b + sW·j − pW < W, i.e. j in [jLo, jHi); stride 2 copies them 16 at a time.
                            int jLo = Math.Min(wph, Math.Max(0, (pw - b + sw - 1) / sw));
                            int last = w - 1 + pw - b; // sW·j ≤ last
                            int jHi = Math.Clamp(last < 0 ? 0 : last / sw + 1, jLo, wph);
                            // The borders are a few floats (pW / sW): plain stores, not a memset call each.
                            for (int j = 0; j < jLo; j++) row[j] = 0f;
                            if (sw == 2 && jHi > jLo)
                            {
                                unsafe
                                {
                                    fixed (float* sp = srow, dp = row)
                                        Gemm.Im2ColRuns.CopyEven(sp + (b + 2 * jLo - pw), dp + jLo, jHi - jLo);
                                }
                            }
                            else
                                for (int j = jLo; j < jHi; j++) row[j] = srow[b + sw * j - pw];
                            for (int j = jHi; j < wph; j++) row[j] = 0f;
                        }
                    }
            }
            if (ci == c - 1) xp.AsSpan(dstBase + c * L.Channel, L.Slack).Clear();
        }
    }

    // Item i = (image, q block, channel block); consecutive items share the image and q block (its B rows stay in L1/L2).
    private readonly unsafe struct TileBody(float* xp, float* a, int* off, float* y, float* bias, int k, int cout, int oh, int ow, int wp,
                                            int imageStride, int mBlocks, int qBlocks) : IParallelBody
    {
        [SkipLocalsInit]   // t is written in full by the kernel before it is read (a zeroed 1.6 KB per tile cost 7 % of the stem)
        public void Invoke(int item)
        {
            int mb = item % mBlocks, rest = item / mBlocks, qb = rest % qBlocks, img = rest / qBlocks;
            int q0 = qb * NR;
            float* t = stackalloc float[MR * NR + 16];   // + 16: the masked tail of the last row's run loads a whole vector
            // The lines of y the tile will write are touched first, so that fetching them overlaps the kernel instead of
            // stalling the stores (the stem's 25.7 MB of y: forward 6.9 → 6.0–6.3 ms; without any stores it took 4.8–5.2).
            // A kernel of a few dozen steps (LeNet's first layer: 25) has too little to overlap.
            float* aPanel = a + (long)mb * k * MR, xq = xp + (long)img * imageStride + q0;
            if (wp >= NR)
            {
                // The tile's columns lie in padded rows r0 and r0 + 1 at most: the kernel stores them straight into y
                // under two lane masks per vector (RowSink), without the round trip through t, and touches y's lines one
                // at a time between its steps rather than in a burst before them (the stem: 5.60–5.68 → 5.40–5.53 ms).
                var sink = new RowSink(y + (long)img * cout * oh * ow, bias, mb, cout, oh, ow, wp, q0);
                nint* lines = stackalloc nint[RowSink.MaxLines];
                if (k >= 64) sink.TouchLines(lines, k);
                Kernel(k, aPanel, xq, off, ref sink);
                return;
            }
            if (k >= 64) Scatter(mb, img, q0, t, prefetch: true);
            var buffer = new BufferSink(t);
            Kernel(k, aPanel, xq, off, ref buffer);
            Scatter(mb, img, q0, t, prefetch: false);
        }

        // The valid part of the tile, adding the bias: column j is output (q / wp, q % wp); rows past cout and columns
        // ow ≥ OW are dropped. prefetch: only touch the destination lines.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Scatter(int mb, int img, int q0, float* t, bool prefetch)
        {
            int rows = Math.Min(MR, cout - mb * MR), q = oh * wp;
            float* yImage = y + (long)img * cout * oh * ow;
            for (int j = 0; j < NR && q0 + j < q;)
            {
                int qq = q0 + j, r0 = qq / wp, c0 = qq % wp;
                int run = Math.Min(NR - j, wp - c0);          // columns left in this padded row
                int valid = Math.Min(run, Math.Max(0, ow - c0)); // of which inside the output
                if (valid > 0)
                    for (int r = 0; r < rows; r++)
                    {
                        int o = mb * MR + r;
                        float* dst = yImage + ((long)o * oh + r0) * ow + c0;
                        if (prefetch)
                        {
                            for (int e = 0; e < valid; e += 16) Sse.Prefetch0(dst + e);
                            Sse.Prefetch0(dst + valid - 1);
                        }
                        else if (bias is null) CopyRun(t + r * NR + j, dst, valid);
                        else CopyRun(t + r * NR + j, dst, valid, Vector512.Create(bias[o]));
                    }
                j += run;
            }
        }
    }

    // dst[0, count) = src[0, count), 16 at a time, the last group through a masked store (count ≤ NR).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyRun(float* src, float* dst, int count)
    {
        int e = 0;
        for (; e + 16 <= count; e += 16) Vector512.Load(src + e).Store(dst + e);
        if (e < count) Avx512F.MaskStore(dst + e, Lanes512.First(count - e), Vector512.Load(src + e));
    }

    // dst[0, count) = src[0, count) + b, as above.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyRun(float* src, float* dst, int count, Vector512<float> b)
    {
        int e = 0;
        for (; e + 16 <= count; e += 16) (Vector512.Load(src + e) + b).Store(dst + e);
        if (e < count) Avx512F.MaskStore(dst + e, Lanes512.First(count - e), Vector512.Load(src + e) + b);
    }

    // Where the kernel puts its 24 accumulators: Put(r, v, acc) receives row r (output channel mb·8 + r), columns
    // 16·v .. 16·v + 15 of the tile; Step(p) runs before depth step p (a place for the sink's prefetches). A struct type
    // argument, so each sink's code is compiled into the kernel.
    private interface ITileSink
    {
        void Step(int p);

        void Put(int r, int v, Vector512<float> acc);
    }

    // The whole tile into the stack buffer t ([MR][NR]), for Scatter to move into y.
    private readonly unsafe struct BufferSink(float* t) : ITileSink
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(int p) { }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(int r, int v, Vector512<float> acc) => acc.Store(t + r * NR + 16 * v);
    }

    // Straight into y, for padded rows at least NR wide: tile column j is padded position c0 + j of row r0. Lanes with
    // c0 + j < OW are outputs of row r0 (at d0 + j); lanes with Wp ≤ c0 + j < Wp + OW are outputs of row r0 + 1 (at
    // d0 + j + OW − Wp) when that row exists; the rest are margin columns and are dropped, and so are rows past cout.
    private unsafe struct RowSink : ITileSink
    {
        /// <summary>The most lines a tile writes: per row, 48 floats in at most two runs, so at most 5 lines.</summary>
        public const int MaxLines = MR * 5;

        private readonly float* _d0, _bias;
        private readonly long _plane, _shift;
        private readonly int _rows, _end0, _lo1, _hi1;
        private readonly Vector512<float> _m00, _m01, _m02, _m10, _m11, _m12;
        private nint* _lines;      // the lines to touch, one every 2^_every steps
        private int _count, _every;

        public RowSink(float* yImage, float* bias, int mb, int cout, int oh, int ow, int wp, int q0)
        {
            int r0 = q0 / wp, c0 = q0 % wp;
            _plane = (long)oh * ow;
            _d0 = yImage + mb * MR * _plane + (long)r0 * ow + c0;
            _bias = bias is null ? null : bias + mb * MR;
            _rows = Math.Min(MR, cout - mb * MR);
            _shift = ow - wp;
            _end0 = Math.Clamp(ow - c0, 0, NR);                                  // row r0: lanes [0, end0)
            _lo1 = wp - c0;                                                      // row r0 + 1: lanes [lo1, hi1)
            _hi1 = r0 + 1 < oh ? Math.Min(NR, wp - c0 + ow) : _lo1;
            // Vector v covers tile columns 16·v .. 16·v + 15.
            _m00 = Lanes512.Between(0, _end0); _m01 = Lanes512.Between(-16, _end0 - 16); _m02 = Lanes512.Between(-32, _end0 - 32);
            _m10 = Lanes512.Between(_lo1, _hi1); _m11 = Lanes512.Between(_lo1 - 16, _hi1 - 16); _m12 = Lanes512.Between(_lo1 - 32, _hi1 - 32);
            _lines = null; _count = 0; _every = 0;
        }

        /// <summary>Lists the lines of y the tile writes into <paramref name="lines"/> (MaxLines long), to be touched spread over the kc steps.</summary>
        public void TouchLines(nint* lines, int kc)
        {
            int n = 0;
            for (int r = 0; r < _rows; r++)
            {
                float* d = _d0 + r * _plane;
                if (_end0 > 0) n = AddLines(lines, n, d, d + _end0);
                if (_hi1 > _lo1) n = AddLines(lines, n, d + _shift + _lo1, d + _shift + _hi1);
            }
            _lines = lines; _count = n;
            _every = kc >= 4 * n ? 2 : kc >= 2 * n ? 1 : 0;
        }

        private static int AddLines(nint* lines, int n, float* from, float* to)
        {
            for (nint l = (nint)from & ~63, last = (nint)(to - 1); l <= last; l += 64) lines[n++] = l;
            return n;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(int p)
        {
            if ((p & ((1 << _every) - 1)) == 0 && (p >> _every) < _count) Sse.Prefetch0((void*)_lines[p >> _every]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(int r, int v, Vector512<float> acc)
        {
            if (r >= _rows) return;
            if (_bias is not null) acc += Vector512.Create(_bias[r]);
            float* d = _d0 + r * _plane + 16 * v;
            Avx512F.MaskStore(d, v == 0 ? _m00 : v == 1 ? _m01 : _m02, acc);
            if (_hi1 > _lo1) Avx512F.MaskStore(d + _shift, v == 0 ? _m10 : v == 1 ? _m11 : _m12, acc);
        }
    }

    // The 8 x 48 register tile: tile[r][j] = Σ_p a[p][r] · xq[off[p] + j], 24 zmm accumulators, 3 B loads and 8 broadcasts
    // per p, handed to the sink at the end.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel<TSink>(int kc, float* a, float* xq, int* off, ref TSink t) where TSink : struct, ITileSink
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default;
        Vector512<float> c60 = default, c61 = default, c62 = default, c70 = default, c71 = default, c72 = default;
        for (int p = 0; p < kc; p++)
        {
            t.Step(p);
            float* b = xq + off[p];
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16); var b2 = Vector512.Load(b + 32);
            var a0 = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01); c02 = Vector512.FusedMultiplyAdd(a0, b2, c02);
            var a1 = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11); c12 = Vector512.FusedMultiplyAdd(a1, b2, c12);
            var a2 = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21); c22 = Vector512.FusedMultiplyAdd(a2, b2, c22);
            var a3 = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31); c32 = Vector512.FusedMultiplyAdd(a3, b2, c32);
            var a4 = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41); c42 = Vector512.FusedMultiplyAdd(a4, b2, c42);
            var a5 = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51); c52 = Vector512.FusedMultiplyAdd(a5, b2, c52);
            var a6 = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61); c62 = Vector512.FusedMultiplyAdd(a6, b2, c62);
            var a7 = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71); c72 = Vector512.FusedMultiplyAdd(a7, b2, c72);
            a += MR;
        }
        t.Put(0, 0, c00); t.Put(0, 1, c01); t.Put(0, 2, c02);
        t.Put(1, 0, c10); t.Put(1, 1, c11); t.Put(1, 2, c12);
        t.Put(2, 0, c20); t.Put(2, 1, c21); t.Put(2, 2, c22);
        t.Put(3, 0, c30); t.Put(3, 1, c31); t.Put(3, 2, c32);
        t.Put(4, 0, c40); t.Put(4, 1, c41); t.Put(4, 2, c42);
        t.Put(5, 0, c50); t.Put(5, 1, c51); t.Put(5, 2, c52);
        t.Put(6, 0, c60); t.Put(6, 1, c61); t.Put(6, 2, c62);
        t.Put(7, 0, c70); t.Put(7, 1, c71); t.Put(7, 2, c72);
    }

    // ---- weight gradient ---------------------------------------------------------------------------------------------
    // dW[co][k] = beta·dW[co][k] + Σ_images Σ_q dYpad[co][q] · xpad[q + off(k)]: the same shifted rows, now reduced over q.
    // dY is copied once into padded-width coordinates (zeros in the Wp − OW margin columns and up to a multiple of 16, so
    // every q vector is whole and the margin contributes nothing); an item is a block of 4 output channels x 6 taps whose
    // 24 zmm accumulators hold 16 partial sums each over q, reduced to scalars at the end. Each dW element is one item's
    // sum in a fixed order (images, then q vectors, then the 16 lanes), independent of the thread count.

    /// <summary>Output channels per weight-gradient item.</summary>
    public const int DwCo = 4;
    /// <summary>Taps (k) per weight-gradient item.</summary>
    public const int DwK = 6;

    [ThreadStatic] private static float[]? t_dy;

    /// <summary>
    /// dw[dwOffset + co·K + k] = beta·dw[…] + Σ over the images and output pixels of dY[co] · col[k] (the weight gradient of the
    /// convolution <see cref="Forward"/> computes; K = C·KH·KW). dy and x are NCHW arrays of whole batches. With
    /// <paramref name="planeSums"/>, also planeSums[n·outChannels + co] = Σ of dY's plane (n, co) in double for each image n
    /// of the call (the bias gradient's terms, as ChannelDot sums them).
    /// </summary>
    public static unsafe void WeightGrad(CpuDevice device, float[] dy, int outChannels, float[] x, int firstImage, int images, in ConvGeometry g,
                                         float beta, float[] dw, int dwOffset, double[]? planeSums = null)
    {
        var L = new Layout(g);
        int oh = g.OutH, ow = g.OutW, k = g.ColRows, wph = L.Wph, imageStride = L.ImageStride;
        int qStride = (oh * wph + 15) & ~15;
        var off = L.Offsets(g, Scratch.Get(ref t_off, k));
        var dyp = Scratch.Get(ref t_dy, outChannels * images * qStride);
        var dyPad = new DyPadBody(dy, (long)firstImage * outChannels * oh * ow, dyp, outChannels, images, oh, ow, wph, qStride,
                                  planeSums, firstImage * outChannels);
        bool parallel = (long)images * (L.Channel + outChannels * qStride) >= 1 << 15;
        var xp = new PadBody(x, (long)firstImage * L.C * L.H * L.W, L).PadAll(device, images, parallel);
        if (parallel) device.ParallelFor(outChannels * images, dyPad);
        else for (int i = 0; i < outChannels * images; i++) dyPad.Invoke(i);

        fixed (float* xp0 = xp, dy0 = dyp, dw0 = dw)
        fixed (int* off0 = off)
        {
            var items = new DwBody(xp0, dy0, off0, dw0 + dwOffset, beta, k, outChannels, images, imageStride, qStride);
            int count = (outChannels + DwCo - 1) / DwCo * ((k + DwK - 1) / DwK);
            if ((long)outChannels * k * images * qStride >= 1 << 18) device.ParallelFor(count, items);
            else for (int i = 0; i < count; i++) items.Invoke(i);
        }
    }

    // Item (co, image): dY[image][co] (OH x OW) into dYpad[co][image] with rows Wph apart, zeros in the margins and the tail;
    // with sums, also sums[sumsBase + image·cout + co] = Σ of the plane (SimdDriver.Reduce, in double: the bias gradient's
    // per-plane sums, taken while the plane is in cache rather than in a second pass over dY).
    private readonly struct DyPadBody(float[] dy, long dyBase, float[] dyp, int cout, int images, int oh, int ow, int wph, int qStride,
                                      double[]? sums, int sumsBase) : IParallelBody
    {
        public unsafe void Invoke(int item)
        {
            int co = item / images, img = item % images;
            var dst = dyp.AsSpan((co * images + img) * qStride, qStride);
            var src = dy.AsSpan((int)(dyBase + ((long)img * cout + co) * oh * ow), oh * ow);
            // Pointers rather than two spans per row: LeNet's rows are 10 floats (0.1 ms a chunk with spans).
            fixed (float* s0 = src, d0 = dst)
            {
                float* d = d0;
                for (int r = 0; r < oh; r++, d += wph)
                {
                    System.Runtime.CompilerServices.Unsafe.CopyBlockUnaligned(d, s0 + r * ow, (uint)(ow * sizeof(float)));
                    for (int j = ow; j < wph; j++) d[j] = 0f;
                }
                Gemm.Im2ColRuns.Clear(d0 + oh * wph, qStride - oh * wph);
            }
            if (sums is not null) sums[sumsBase + img * cout + co] = SimdDriver.Reduce(src, new SumReduce());
        }
    }

    // Item = (block of DwK taps, block of DwCo output channels), taps varying fastest; edge blocks repeat their last valid
    // row or tap and drop the duplicates when storing. Consecutive items share their DwCo dY rows, which stay in L2 while
    // the taps' x rows go by: few input channels (the stem's 3) make x small, and dY (the stem: 3.2 MB an image) is read
    // from L3 once rather than once per tap block. With output channels fastest (before), the stem's backward took
    // 29.2–29.4 ms on one thread and 14.9–15.3 on two; 25.4–25.6 and 13.5–14.0 with taps fastest (alternating harness runs).
    // Each item's sums are unchanged, so dW has the same bits.
    private readonly unsafe struct DwBody(float* xp, float* dyp, int* off, float* dw, float beta, int k, int cout, int images,
                                          int imageStride, int qStride) : IParallelBody
    {
        [SkipLocalsInit]   // o and acc are written before they are read
        public void Invoke(int item)
        {
            int kBlocks = (k + DwK - 1) / DwK;
            int kb = item % kBlocks, cb = item / kBlocks;
            int co0 = cb * DwCo, k0 = kb * DwK;
            int nCo = Math.Min(DwCo, cout - co0), nK = Math.Min(DwK, k - k0);
            int* o = stackalloc int[DwK];
            for (int j = 0; j < DwK; j++) o[j] = off[k0 + Math.Min(j, nK - 1)];
            var acc = stackalloc Vector512<float>[DwCo * DwK];
            for (int i = 0; i < DwCo * DwK; i++) acc[i] = default;
            // All images in one kernel call: the 24 accumulators stay in registers across images (a call per image saved
            // and reloaded them every OH·Wph columns, which for LeNet's 10x10 outputs was 9 vector steps per call).
            float* y0 = dyp + (long)(co0 + Math.Min(0, nCo - 1)) * images * qStride;
            float* y1 = dyp + (long)(co0 + Math.Min(1, nCo - 1)) * images * qStride;
            float* y2 = dyp + (long)(co0 + Math.Min(2, nCo - 1)) * images * qStride;
            float* y3 = dyp + (long)(co0 + Math.Min(3, nCo - 1)) * images * qStride;
            DwKernel(qStride, images, imageStride, y0, y1, y2, y3, xp + o[0], xp + o[1], xp + o[2], xp + o[3], xp + o[4], xp + o[5], acc);
            for (int r = 0; r < nCo; r++)
                for (int j = 0; j < nK; j++)
                {
                    float* d = dw + (long)(co0 + r) * k + k0 + j;
                    float v = Vector512.Sum(acc[r * DwK + j]);
                    *d = beta == 0 ? v : beta * *d + v;
                }
        }
    }

    // acc[r·6 + j] += Σ over images i and q vectors of y_r[i·qLen + q..+16) · x_j[i·xStride + q..+16): 4 dY rows (images
    // qLen apart), 6 shifted x rows (images xStride apart), 24 zmm accumulators.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DwKernel(int qLen, int images, int xStride, float* y0, float* y1, float* y2, float* y3,
                                        float* x0, float* x1, float* x2, float* x3, float* x4, float* x5, Vector512<float>* acc)
    {
        Vector512<float> a00 = acc[0], a01 = acc[1], a02 = acc[2], a03 = acc[3], a04 = acc[4], a05 = acc[5];
        Vector512<float> a10 = acc[6], a11 = acc[7], a12 = acc[8], a13 = acc[9], a14 = acc[10], a15 = acc[11];
        Vector512<float> a20 = acc[12], a21 = acc[13], a22 = acc[14], a23 = acc[15], a24 = acc[16], a25 = acc[17];
        Vector512<float> a30 = acc[18], a31 = acc[19], a32 = acc[20], a33 = acc[21], a34 = acc[22], a35 = acc[23];
        for (int img = 0; img < images; img++, y0 += qLen, y1 += qLen, y2 += qLen, y3 += qLen,
             x0 += xStride, x1 += xStride, x2 += xStride, x3 += xStride, x4 += xStride, x5 += xStride)
        for (int q = 0; q < qLen; q += 16)
        {
            var b0 = Vector512.Load(x0 + q); var b1 = Vector512.Load(x1 + q); var b2 = Vector512.Load(x2 + q);
            var b3 = Vector512.Load(x3 + q); var b4 = Vector512.Load(x4 + q); var b5 = Vector512.Load(x5 + q);
            var y = Vector512.Load(y0 + q);
            a00 = Vector512.FusedMultiplyAdd(y, b0, a00); a01 = Vector512.FusedMultiplyAdd(y, b1, a01); a02 = Vector512.FusedMultiplyAdd(y, b2, a02);
            a03 = Vector512.FusedMultiplyAdd(y, b3, a03); a04 = Vector512.FusedMultiplyAdd(y, b4, a04); a05 = Vector512.FusedMultiplyAdd(y, b5, a05);
            y = Vector512.Load(y1 + q);
            a10 = Vector512.FusedMultiplyAdd(y, b0, a10); a11 = Vector512.FusedMultiplyAdd(y, b1, a11); a12 = Vector512.FusedMultiplyAdd(y, b2, a12);
            a13 = Vector512.FusedMultiplyAdd(y, b3, a13); a14 = Vector512.FusedMultiplyAdd(y, b4, a14); a15 = Vector512.FusedMultiplyAdd(y, b5, a15);
            y = Vector512.Load(y2 + q);
            a20 = Vector512.FusedMultiplyAdd(y, b0, a20); a21 = Vector512.FusedMultiplyAdd(y, b1, a21); a22 = Vector512.FusedMultiplyAdd(y, b2, a22);
            a23 = Vector512.FusedMultiplyAdd(y, b3, a23); a24 = Vector512.FusedMultiplyAdd(y, b4, a24); a25 = Vector512.FusedMultiplyAdd(y, b5, a25);
            y = Vector512.Load(y3 + q);
            a30 = Vector512.FusedMultiplyAdd(y, b0, a30); a31 = Vector512.FusedMultiplyAdd(y, b1, a31); a32 = Vector512.FusedMultiplyAdd(y, b2, a32);
            a33 = Vector512.FusedMultiplyAdd(y, b3, a33); a34 = Vector512.FusedMultiplyAdd(y, b4, a34); a35 = Vector512.FusedMultiplyAdd(y, b5, a35);
        }
        acc[0] = a00; acc[1] = a01; acc[2] = a02; acc[3] = a03; acc[4] = a04; acc[5] = a05;
        acc[6] = a10; acc[7] = a11; acc[8] = a12; acc[9] = a13; acc[10] = a14; acc[11] = a15;
        acc[12] = a20; acc[13] = a21; acc[14] = a22; acc[15] = a23; acc[16] = a24; acc[17] = a25;
        acc[18] = a30; acc[19] = a31; acc[20] = a32; acc[21] = a33; acc[22] = a34; acc[23] = a35;
    }
}
