// Direct convolution with the output channels in the vector lanes (AVX-512), for small output planes: a tile is two output
// rows of OW ≤ 12 pixels, each pixel one zmm accumulator holding 16 output channels, so no lane computes a column that is
// not an output.
//
// y[co][oh][ow] = b[co] + Σ_k W[co][k] · xp[c][oh + kh·dH][ow + kw·dW],   k = (c, kh, kw), stride 1
// Shapes: W (Cout, C·KH·KW) with Cout a multiple of 16, packed once per call as Wt[Cout/16][K][16]; x (N, C, H, W), padded
// per image into xp (C, Hp, Wp) where it has padding (read in place where not); y (N, Cout, OH, OW) overwritten.
// One register kernel computes a tile (ChannelLanesConv.Rows.cs, generated), stepping over input rows s with KW' weight
// vectors Wt[s][kw] per step: it broadcasts each of the step's OW + KW' − 1 inputs once and multiplies it by the weight
// vectors of the taps that read it, so a loaded value feeds up to KW' FMAs. Kernels of 1 to 5 columns with dilation 1
// along the rows step over s = (c, kh) with KW' = KW. The rest (wider kernels, dilated rows) step over the single taps
// s = k = (c, kh, kw) with KW' = 1, off(k) = c·Hp·Wp + kh·dH·Wp + kw·dW: one load per FMA (an embedded broadcast), which
// bounds them by the loads (LeNet's second layer alone on one core: 166 GFLOP/s per tap, 225 per row, of 229). Either way
// each output is summed over (c, kh, kw) in order.
// Accumulators: 2·OW zmm (24 at OW = 12). The tile is pixel-major in registers and channel-major in y, where a channel's
// 2·OW pixels are contiguous: the bias vector (channels are lanes) is added to each pixel vector, the first 16 pixels go
// through a 16 x 16 register transpose (one store per channel), the rest through 16 x 4 transposes (one 4-float store
// per channel, masked for the last group). Storing it a float at a time cost 15 % of LeNet's second layer.
//
// Why: the shifted-rows direct kernel (DirectConv) computes Wp = W + 2·pW columns for every OW outputs of a row, and
// rounds the plane up to 48 columns: LeNet's second convolution (10x10 outputs from 14x14) computes 144 columns for 100
// outputs there (69 %), all 100 here: its forward 207.6-210.9 -> 278.5-282.0 GFLOP/s (2 threads, alternating harness runs);
// the row kernel and the 16 x 4 stores then took it from 279-280 to 407-410 GFLOP/s (fourteenth round).
// DirectConv.Forward hands a geometry over when Cost is below its own.
// The sum over k is in the same order for every output, independent of the thread count. NaiveConv.Conv2dDirect is the twin.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvEngine.Kernels.Conv;

internal static partial class ChannelLanesConv
{
    /// <summary>Output channels per tile: one zmm.</summary>
    public const int Lanes = 16;

    /// <summary>The widest output row a tile holds (two rows of it: 24 accumulators).</summary>
    public const int MaxWidth = 12;

    /// <summary>Multiply-add equivalents charged per tile for storing it through the stack and transposing it (per pixel).</summary>
    public const int StorePerPixel = 256;

    /// <summary>
    /// Whether the kernel computes <paramref name="g"/> with <paramref name="outChannels"/> outputs: AVX-512, stride 1,
    /// output channels a non-zero multiple of 16, output rows of 1 to 12 pixels, a non-empty input.
    /// </summary>
    public static bool Applies(in ConvGeometry g, int outChannels) =>
        DirectConv.IsSupported && g.StrideH == 1 && g.StrideW == 1
        && outChannels > 0 && outChannels % Lanes == 0 && g.OutW >= 1 && g.OutW <= MaxWidth && g.OutH >= 1 && g.Channels > 0;

    /// <summary>
    /// Multiply-adds per image: Cout·K per output pixel (rows rounded up to pairs) plus <see cref="StorePerPixel"/> per
    /// pixel and block of 16 channels.
    /// </summary>
    public static long Cost(in ConvGeometry g, int outChannels)
    {
        long pixels = (long)((g.OutH + 1) & ~1) * g.OutW;
        return pixels * outChannels * g.ColRows + pixels * (outChannels / Lanes) * StorePerPixel;
    }

    [ThreadStatic] private static float[]? t_w, t_xp;
    [ThreadStatic] private static int[]? t_off;

    /// <summary>
    /// y[firstImage + i] (outChannels, OH, OW) = w (outChannels, C·KH·KW) ⊛ x[firstImage + i] (+ bias) for i in [0, images),
    /// overwriting y; the same contract as <see cref="DirectConv.Forward"/>. <paramref name="g"/> must satisfy <see cref="Applies"/>.
    /// </summary>
    public static unsafe void Forward(CpuDevice device, float[] w, int outChannels, float[] x, int firstImage, int images, in ConvGeometry g, float[] y,
                                      float[]? bias)
    {
        int c = g.Channels, k = g.ColRows, hp = g.Height + 2 * g.PadH, wp = g.Width + 2 * g.PadW, blocks = outChannels / Lanes;
        bool padded = g.PadH != 0 || g.PadW != 0;
        // Wt[cb][p][l] = W[cb·16 + l][p].
        var wt = Scratch.Get(ref t_w, outChannels * k);
        for (int cb = 0; cb < blocks; cb++)
            for (int p = 0; p < k; p++)
                for (int l = 0; l < Lanes; l++)
                    wt[(cb * k + p) * Lanes + l] = w[(cb * Lanes + l) * k + p];
        // Kernels of up to 5 columns with dilation 1 along the rows step over the rows (c, kh), reading each input row once
        // per step: off[s] is row step s's offset. The others step over the taps k = (c, kh, kw), one weight vector each: off[k].
        bool rows = g.DilationW == 1 && g.KernelW <= MaxRowKernelWidth;
        var off = Scratch.Get(ref t_off, k);
        for (int ci = 0, p = 0; ci < c; ci++)
            for (int kh = 0; kh < g.KernelH; kh++)
                if (rows) off[p++] = (ci * hp + kh * g.DilationH) * wp;
                else
                    for (int kw = 0; kw < g.KernelW; kw++)
                        off[p++] = (ci * hp + kh * g.DilationH) * wp + kw * g.DilationW;
        int pairs = (g.OutH + 1) / 2, imageX = c * g.Height * g.Width, imageP = c * hp * wp;
        // Few images with threads to spare: pad them all first, then share the (image, channel block, row pair) tiles.
        bool tiles = images < 2 * device.Threads && device.CanRunParallel;
        float[]? xpAll = null;
        if (padded && tiles)
        {
            xpAll = Scratch.Get(ref t_xp, images * imageP);
            for (int i = 0; i < images; i++) Pad(x, (long)(firstImage + i) * imageX, xpAll, i * imageP, g);
        }
        fixed (float* wt0 = wt, x0 = x, y0 = y, b0 = bias, xp0 = xpAll)
        fixed (int* off0 = off)
        {
            var body = new Body(device, g, wt0, off0, x, (long)firstImage * imageX, x0 + (long)firstImage * imageX, xp0, y0 + (long)firstImage * outChannels * g.OutH * g.OutW, b0,
                                k, rows ? c * g.KernelH : k, outChannels, blocks, pairs, hp, wp, padded, tiles);
            int items = tiles ? images * blocks * pairs : images;
            bool parallel = (long)images * Cost(g, outChannels) >= 1 << 18;
            int kw = rows ? g.KernelW : 1;
            switch (g.OutW)
            {
                case 1: Run<W1>(in body, kw, items, parallel); break;
                case 2: Run<W2>(in body, kw, items, parallel); break;
                case 3: Run<W3>(in body, kw, items, parallel); break;
                case 4: Run<W4>(in body, kw, items, parallel); break;
                case 5: Run<W5>(in body, kw, items, parallel); break;
                case 6: Run<W6>(in body, kw, items, parallel); break;
                case 7: Run<W7>(in body, kw, items, parallel); break;
                case 8: Run<W8>(in body, kw, items, parallel); break;
                case 9: Run<W9>(in body, kw, items, parallel); break;
                case 10: Run<W10>(in body, kw, items, parallel); break;
                case 11: Run<W11>(in body, kw, items, parallel); break;
                case 12: Run<W12>(in body, kw, items, parallel); break;
                default: throw new ArgumentException($"Output rows of {g.OutW} pixels are wider than {MaxWidth}.", nameof(g));
            }
        }
    }

    // kernelWidth: weight vectors per step, 1..5 (1 for steps over single taps).
    private static void Run<TW>(in Body body, int kernelWidth, int items, bool parallel) where TW : struct, IWidth
    {
        switch (kernelWidth)
        {
            case 1: Run<TW, W1>(in body, items, parallel); break;
            case 2: Run<TW, W2>(in body, items, parallel); break;
            case 3: Run<TW, W3>(in body, items, parallel); break;
            case 4: Run<TW, W4>(in body, items, parallel); break;
            case 5: Run<TW, W5>(in body, items, parallel); break;
            default: throw new ArgumentOutOfRangeException(nameof(kernelWidth), kernelWidth, $"The row kernel holds 1 to {MaxRowKernelWidth} kernel columns.");
        }
    }

    private static void Run<TW, TK>(in Body body, int items, bool parallel) where TW : struct, IWidth where TK : struct, IWidth
    {
        var b = new Items<TW, TK>(body);
        if (parallel) body.Device.ParallelFor(items, b);
        else for (int i = 0; i < items; i++) b.Invoke(i);
    }

    // xp (C, Hp, Wp) at dst = x's image at src with zeros around it, plane by plane.
    private static void Pad(float[] x, long src, float[] xp, int dst, in ConvGeometry g)
    {
        int h = g.Height, w = g.Width, plane = (h + 2 * g.PadH) * (w + 2 * g.PadW);
        for (int ci = 0; ci < g.Channels; ci++)
            Gemm.PaddedIm2Col.PadPlane(x.AsSpan((int)(src + (long)ci * h * w), h * w), xp.AsSpan(dst + ci * plane, plane), h, w, g.PadH, g.PadW);
    }

    // What the items of one call share. Items: whole images (each padded, where it needs it, into its thread's buffer) or,
    // with Tiles, (image, channel block, row pair) of images padded beforehand into Xp.
    private readonly unsafe struct Body(CpuDevice device, in ConvGeometry g, float* wt, int* off, float[] x, long xBase, float* xFirst, float* xp,
                                        float* y, float* bias, int k, int steps, int cout, int blocks, int pairs, int hp, int wp, bool padded, bool tiles)
    {
        public readonly CpuDevice Device = device;
        public readonly ConvGeometry G = g;
        public readonly long XBase = xBase;
        public readonly float* Wt = wt, XFirst = xFirst, Xp = xp, Y = y, Bias = bias;
        public readonly int* Off = off;
        public readonly float[] X = x;
        public readonly int K = k, Steps = steps, Cout = cout, Blocks = blocks, Pairs = pairs, Hp = hp, Wp = wp;
        public readonly bool Padded = padded, Tiles = tiles;
    }

    // TK: weight vectors per step of the row kernel.
    private readonly unsafe struct Items<TW, TK>(Body b) : IParallelBody where TW : struct, IWidth where TK : struct, IWidth
    {
        [SkipLocalsInit]   // the tile buffer is written in full before it is read
        public void Invoke(int item)
        {
            var g = b.G;
            int imageX = g.Channels * g.Height * g.Width, imageP = g.Channels * b.Hp * b.Wp, plane = g.OutH * g.OutW;
            float* t = stackalloc float[2 * MaxWidth * Lanes];
            if (b.Tiles)
            {
                int pair = item % b.Pairs, rest = item / b.Pairs, cb = rest % b.Blocks, img = rest / b.Blocks;
                float* xi = b.Padded ? b.Xp + (long)img * imageP : b.XFirst + (long)img * imageX;
                Tile(xi, cb, pair, b.Y + (long)img * b.Cout * plane, t);
                return;
            }
            float* src = b.XFirst + (long)item * imageX;
            if (b.Padded)
            {
                var xp = Scratch.Get(ref t_xp, imageP);
                Pad(b.X, b.XBase + (long)item * imageX, xp, 0, g);
                fixed (float* xp0 = xp) RunImage(xp0, item, t);
            }
            else RunImage(src, item, t);
        }

        private void RunImage(float* xi, int img, float* t)
        {
            float* yi = b.Y + (long)img * b.Cout * b.G.OutH * b.G.OutW;
            for (int cb = 0; cb < b.Blocks; cb++)
                for (int pair = 0; pair < b.Pairs; pair++) Tile(xi, cb, pair, yi, t);
        }

        // Rows 2·pair and 2·pair + 1 (the first twice when OH is odd and this is the last pair) of channel block cb.
        private void Tile(float* xi, int cb, int pair, float* yi, float* t)
        {
            int r0 = 2 * pair, oh = b.G.OutH, ow = TW.J;
            bool two = r0 + 1 < oh;
            float* x0 = xi + r0 * b.Wp, x1 = two ? x0 + b.Wp : x0;
            RowKernel<TW, TK>(b.Steps, b.Wt + (long)cb * b.K * Lanes, x0, x1, b.Off, t);
            // Output channel co's 2·OW pixels are contiguous in y (row r0, then r0 + 1). The bias (one vector: the channels
            // are t's lanes) is added to t's pixel vectors; then the first 16 pixels go through a 16 x 16 register transpose
            // (one store per channel), the rest through 16 x 4 transposes (one 4-float store per channel, masked for the last).
            int pixels = two ? 2 * ow : ow, first = 0, plane = oh * ow;
            float* y0 = yi + (long)cb * Lanes * plane + r0 * ow;
            var bias = b.Bias is null ? Vector512<float>.Zero : Vector512.Load(b.Bias + cb * Lanes);
            if (pixels >= Lanes)
            {
                Store16(t, bias, y0, plane, new OrdinaryStore());
                first = Lanes;
            }
            for (; first < pixels; first += 4) Store4(t + first * Lanes, bias, y0 + first, plane, Math.Min(4, pixels - first));
        }
    }

    // y[l·plane + p] = t[p][l] + bias[l] for the 16 pixels p < 16 and the 16 channels l. Unpacks and shuffles within
    // 128-bit lanes give, for each column m = 4k + i, the 4x4 blocks of rows 4g..4g+3 (u); two rounds of 128-bit block
    // shuffles gather a column's four blocks (64 shuffles in all, every vector in a register). TStore: how each channel's
    // 16 floats go to y (ordinary stores; StridedLanesConv also streams them or masks them).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Store16<TStore>(float* t, Vector512<float> bias, float* y, int plane, TStore store) where TStore : struct, IVectorStore
    {
        Quads(t, bias, out var u0, out var u1, out var u2, out var u3);
        Quads(t + 4 * Lanes, bias, out var u4, out var u5, out var u6, out var u7);
        Quads(t + 8 * Lanes, bias, out var u8, out var u9, out var u10, out var u11);
        Quads(t + 12 * Lanes, bias, out var u12, out var u13, out var u14, out var u15);
        Columns(u0, u4, u8, u12, y, plane, store);
        Columns(u1, u5, u9, u13, y + plane, plane, store);
        Columns(u2, u6, u10, u14, y + 2 * plane, plane, store);
        Columns(u3, u7, u11, u15, y + 3 * plane, plane, store);
    }

    /// <summary>How a transposed vector goes to memory (a type argument: the JIT inlines the store).</summary>
    internal interface IVectorStore
    {
        /// <summary>Writes <paramref name="v"/> to <paramref name="at"/>.</summary>
        unsafe void Put(float* at, Vector512<float> v);
    }

    /// <summary>An ordinary (unaligned) store.</summary>
    internal readonly struct OrdinaryStore : IVectorStore
    {
        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe void Put(float* at, Vector512<float> v) => v.Store(at);
    }

    // Pixel vectors t[0..3] (+ bias): q_i's 128-bit lane k holds the four pixels of channel 4k + i.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Quads(float* t, Vector512<float> bias, out Vector512<float> q0, out Vector512<float> q1,
                                     out Vector512<float> q2, out Vector512<float> q3)
    {
        var r0 = Vector512.Load(t) + bias; var r1 = Vector512.Load(t + Lanes) + bias;
        var r2 = Vector512.Load(t + 2 * Lanes) + bias; var r3 = Vector512.Load(t + 3 * Lanes) + bias;
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        q0 = Avx512F.Shuffle(t0, t2, 0x44); q1 = Avx512F.Shuffle(t0, t2, 0xEE);
        q2 = Avx512F.Shuffle(t1, t3, 0x44); q3 = Avx512F.Shuffle(t1, t3, 0xEE);
    }

    // Channels i, 4 + i, 8 + i, 12 + i (y, y + 4·plane, ...) from the quads of pixels 0..3, 4..7, 8..11, 12..15.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Columns<TStore>(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, float* y, int plane, TStore store)
        where TStore : struct, IVectorStore
    {
        var v0 = Avx512F.Shuffle4x128(a, b, 0x44); var v1 = Avx512F.Shuffle4x128(a, b, 0xEE);
        var v2 = Avx512F.Shuffle4x128(c, d, 0x44); var v3 = Avx512F.Shuffle4x128(c, d, 0xEE);
        store.Put(y, Avx512F.Shuffle4x128(v0, v2, 0x88));
        store.Put(y + 4 * plane, Avx512F.Shuffle4x128(v0, v2, 0xDD));
        store.Put(y + 8 * plane, Avx512F.Shuffle4x128(v1, v3, 0x88));
        store.Put(y + 12 * plane, Avx512F.Shuffle4x128(v1, v3, 0xDD));
    }

    // y[l·plane + p] = t[p][l] + bias[l] for pixels p < n ≤ 4 (t holds four pixel vectors; those past n are not stored)
    // and channels l < channels (those past it, a partial last block's, are not stored).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Store4(float* t, Vector512<float> bias, float* y, int plane, int n, int channels = Lanes)
    {
        Quads(t, bias, out var q0, out var q1, out var q2, out var q3);
        var mask = Vector128.LessThan(Vector128.Create(0, 1, 2, 3), Vector128.Create(n)).AsSingle();
        // q_i holds channels i, 4 + i, 8 + i, 12 + i: (channels − i + 3) / 4 of them are stored.
        Quad(q0, y, 4 * plane, n, mask, channels + 3);
        Quad(q1, y + plane, 4 * plane, n, mask, channels + 2);
        Quad(q2, y + 2 * plane, 4 * plane, n, mask, channels + 1);
        Quad(q3, y + 3 * plane, 4 * plane, n, mask, channels);
    }

    // The 128-bit lanes k < limit / 4 of q to y + k·step (the first n floats of each).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Quad(Vector512<float> q, float* y, int step, int n, Vector128<float> mask, int limit)
    {
        if (n == 4 && limit >= 4 * 4)
        {
            q.GetLower().GetLower().Store(y); q.GetLower().GetUpper().Store(y + step);
            q.GetUpper().GetLower().Store(y + 2 * step); q.GetUpper().GetUpper().Store(y + 3 * step);
            return;
        }
        if (limit >= 4) Avx.MaskStore(y, mask, q.GetLower().GetLower());
        if (limit >= 8) Avx.MaskStore(y + step, mask, q.GetLower().GetUpper());
        if (limit >= 12) Avx.MaskStore(y + 2 * step, mask, q.GetUpper().GetLower());
        if (limit >= 16) Avx.MaskStore(y + 3 * step, mask, q.GetUpper().GetUpper());
    }

    /// <summary>
    /// A small count as a type (the output row width, the row kernel's weight vectors per step; PointwiseConv's channel
    /// blocks, pixels and column stride), so each gets its own fully unrolled kernel (J is a JIT-time constant).
    /// </summary>
    internal interface IWidth
    {
        /// <summary>The count.</summary>
        static abstract int J { get; }
    }

    internal readonly struct W1 : IWidth { public static int J => 1; }
    internal readonly struct W2 : IWidth { public static int J => 2; }
    internal readonly struct W3 : IWidth { public static int J => 3; }
    internal readonly struct W4 : IWidth { public static int J => 4; }
    internal readonly struct W5 : IWidth { public static int J => 5; }
    internal readonly struct W6 : IWidth { public static int J => 6; }
    internal readonly struct W7 : IWidth { public static int J => 7; }
    internal readonly struct W8 : IWidth { public static int J => 8; }
    internal readonly struct W9 : IWidth { public static int J => 9; }
    internal readonly struct W10 : IWidth { public static int J => 10; }
    internal readonly struct W11 : IWidth { public static int J => 11; }
    internal readonly struct W12 : IWidth { public static int J => 12; }
}
