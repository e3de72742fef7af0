// Strided convolution with the output channels in the vector lanes (AVX-512): ResNet's 7x7/2 stem and 3x3/2 layers.
//
// y[n][co][oh][ow] = b[co] + Σ_(c,kh,kw) W[co][c][kh][kw] · x[n][c][oh·sH − pH + kh·dH][ow·sW − pW + kw·dW]   (zero outside x)
// Shapes: W (Cout, C, KH, KW), packed once per call in groups of NB ≤ 4 blocks of 16 output channels as
// Wt[group][p][nb][16] with p = (c, kh, kw) (zero past Cout); x (N, C, H, W) read in place; y (N, Cout, OH, OW) overwritten.
//
// A tile is NB channel blocks × J pixels of one output row (NB·J ≤ 24 zmm accumulators: 4 x 6, 3 x 8, 2 or 1 x 12), each
// holding 16 output channels of one pixel. Per tap p it loads NB weight vectors and broadcasts the J inputs
// x[off(p) + j·sW] with off(p) = c·H·W + kh·dH·W + kw·dW: NB + J loads for NB·J FMAs. A broadcast reads any address, so
// the stride costs nothing and no lane computes anything but an output. Tiles whose inputs reach into the padding read a
// zero-padded copy of just their C·KH input rows (a strip) through a second offset table; all others read x in place.
//
// Stores. A row's tiles go to a row buffer in the lanes layout, [block][pixel slot][16]; 16 x 16 register transposes turn
// it into y's layout with the bias added. Where the output is large (at least StreamingBytes) and its rows are whole
// vectors (OW and Cout multiples of 16), the transposed rows go to y with non-temporal stores of whole 64-byte lines: y is
// written without first being read for ownership, the traffic that kept the shifted-rows kernel (DirectConv) at parity
// with PyTorch on the stem. y's arrays are not 64-byte aligned, but every row and plane then starts at the same offset δ
// (floats) within a line, so the kernel writes pixel p to slot δ + p: each transpose of 16 slots is then one aligned line
// of y per channel. The first δ slots carry the row before's last δ pixels, so the line a row shares with the next is
// written whole by the next. Only an item's first and last lines per channel, which it shares with other items, take
// masked ordinary stores.
//
// Work items are (image, band of output rows): bands split the images so that each thread gets about 16 items.
// Each output is one tile's p-ordered sum, whatever the thread count. NaiveConv.Conv2dDirect is the twin.
//
// Why: the stem (8 x 3 x 224² → 64, 7x7/2) ran through DirectConv's shifted rows, which computes 3 margin columns of
// every 115 (phase-plane width), copies x into four phase planes, and stores tiles that straddle rows with masked stores
// after touching y's lines. Its forward stayed at parity with PyTorch's through five rounds (docs/performance.md). Other
// strided layers went through the implicit GEMM, which packs the strided columns into panels first: 3x3/2 layers ran
// 1.2–2.5x slower there. Conv2d takes this kernel for strided layers of at most Conv2d.StridedLanesMaxTaps taps.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvEngine.Kernels.Simd;
using static ConvEngine.Kernels.Conv.ChannelLanesConv;

namespace ConvEngine.Kernels.Conv;

internal static partial class StridedLanesConv
{
    /// <summary>Output channels per block: one zmm.</summary>
    public const int Lanes = 16;

    /// <summary>Channel blocks per tile, at most.</summary>
    public const int MaxBlocks = 4;

    /// <summary>Pixels per tile, at most (tiles of one or two channel blocks).</summary>
    public const int MaxPixels = 12;

    /// <summary>The least output size in bytes for which rows go to y with non-temporal stores (more than the L2s hold).</summary>
    public const long StreamingBytes = 8L << 20;

    /// <summary>Whether the kernel computes <paramref name="g"/>: AVX-512, column stride 1 to 4, non-empty.</summary>
    public static bool Applies(in ConvGeometry g) =>
        DirectConv.IsSupported && g.StrideW is >= 1 and <= 4 && g.Channels > 0 && g.OutH > 0 && g.OutW > 0 && g.KernelH > 0 && g.KernelW > 0;

    /// <summary>Pixels per tile for tiles of <paramref name="blocks"/> channel blocks: blocks · pixels ≤ 24 accumulators.</summary>
    public static int PixelsPerTile(int blocks) => blocks switch { 1 or 2 => 12, 3 => 8, _ => 6 };

    [ThreadStatic] private static float[]? t_w, t_row, t_strip;
    [ThreadStatic] private static int[]? t_off;

    /// <summary>
    /// y[firstImage + i] (outChannels, OH, OW) = w (outChannels, C·KH·KW) ⊛ x[firstImage + i] (+ bias) for i in [0, images),
    /// overwriting y. x and y are NCHW arrays of whole batches; <paramref name="g"/> must satisfy <see cref="Applies"/>.
    /// </summary>
    public static void Forward(CpuDevice device, float[] w, int outChannels, float[] x, int firstImage, int images, in ConvGeometry g, float[] y,
                               float[]? bias) =>
        Forward(device, w, outChannels, x, firstImage, images, g, y, 0, bias, StreamingBytes);

    /// <summary>
    /// <see cref="Forward(CpuDevice, float[], int, float[], int, int, in ConvGeometry, float[], float[])"/> with y's batch
    /// starting <paramref name="yOffset"/> floats into <paramref name="y"/> (tests: every offset of a row within a cache
    /// line) and outputs of at least <paramref name="streamingBytes"/> streamed.
    /// </summary>
    internal static unsafe void Forward(CpuDevice device, float[] w, int outChannels, float[] x, int firstImage, int images, in ConvGeometry g, float[] y,
                                        int yOffset, float[]? bias, long streamingBytes)
    {
        if (!Applies(g)) throw new ArgumentException($"The strided channel-lanes kernel needs AVX-512 and a column stride of 1 to 4, but the geometry is {g}.", nameof(g));
        if (outChannels <= 0 || images <= 0) return;
        int k = g.ColRows, blocks = (outChannels + Lanes - 1) / Lanes, nb = Math.Min(MaxBlocks, blocks);
        var wt = PackWeights(w, outChannels, k, ref t_w);
        // Tap offsets in x (first k) and in a border strip [c][kh][StripWidth] (next k).
        int stripW = StripWidth(g);
        var off = Scratch.Get(ref t_off, 2 * k);
        for (int c = 0, p = 0; c < g.Channels; c++)
            for (int kh = 0; kh < g.KernelH; kh++)
                for (int kw = 0; kw < g.KernelW; kw++, p++)
                {
                    off[p] = (c * g.Height + kh * g.DilationH) * g.Width + kw * g.DilationW;
                    off[k + p] = (c * g.KernelH + kh) * stripW + kw * g.DilationW;
                }
        long plane = (long)g.OutH * g.OutW;
        bool stream = g.OutW % Lanes == 0 && outChannels % Lanes == 0 && (long)images * outChannels * plane * sizeof(float) >= streamingBytes;
        bool parallel = (long)images * plane * outChannels * k >= 1 << 18 && device.CanRunParallel;
        int bands = parallel ? Math.Clamp((16 * device.Threads + images - 1) / images, 1, g.OutH) : 1;
        fixed (float* wt0 = wt, x0 = x, y0 = y, b0 = bias)
        fixed (int* off0 = off)
        {
            var body = new Body(g, wt0, off0, x0 + (long)firstImage * g.Channels * g.Height * g.Width, y0 + yOffset + (long)firstImage * outChannels * plane, b0,
                                outChannels, blocks, nb, bands, stripW, stream);
            switch (g.StrideW)
            {
                case 1: Run<W1>(in body, device, images * bands, parallel); break;
                case 2: Run<W2>(in body, device, images * bands, parallel); break;
                case 3: Run<W3>(in body, device, images * bands, parallel); break;
                default: Run<W4>(in body, device, images * bands, parallel); break;
            }
        }
    }

    /// <summary>
    /// w (outChannels, K) packed for the register kernel into <paramref name="slot"/>'s array: channel groups of up to
    /// MaxBlocks blocks of 16, group q (blocks cb0 .. cb0 + nbq − 1) at cb0·K·16, then [p][block][16], zeros past Cout.
    /// </summary>
    internal static float[] PackWeights(float[] w, int outChannels, int k, ref float[]? slot)
    {
        int blocks = (outChannels + Lanes - 1) / Lanes, nb = Math.Min(MaxBlocks, blocks);
        var wt = Scratch.Get(ref slot, blocks * k * Lanes);
        for (int cb0 = 0; cb0 < blocks; cb0 += nb)
        {
            int nbq = Math.Min(nb, blocks - cb0), group = cb0 * k * Lanes;
            for (int p = 0; p < k; p++)
                for (int q = 0; q < nbq; q++)
                    for (int l = 0; l < Lanes; l++)
                    {
                        int co = (cb0 + q) * Lanes + l;
                        wt[group + (p * nbq + q) * Lanes + l] = co < outChannels ? w[(long)co * k + p] : 0f;
                    }
        }
        return wt;
    }

    // A strip row holds the inputs of the widest tile, (MaxPixels − 1)·sW + (KW − 1)·dW + 1 floats, rounded up to whole vectors.
    private static int StripWidth(in ConvGeometry g) => ((MaxPixels - 1) * g.StrideW + (g.KernelW - 1) * g.DilationW + Lanes) / Lanes * Lanes;

    private static void Run<TS>(in Body body, CpuDevice device, int items, bool parallel) where TS : struct, IWidth
    {
        var b = new Items<TS>(body);
        if (parallel) device.ParallelFor(items, b);
        else for (int i = 0; i < items; i++) b.Invoke(i);
    }

    // What the items of one call share: the packed weights and tap offsets, the batch's first image in x and y, the bias
    // (or null), bands per image, the strip's row width, and whether rows are streamed.
    private readonly unsafe struct Body(in ConvGeometry g, float* wt, int* off, float* x, float* y, float* bias, int cout, int blocks, int nb,
                                        int bands, int stripW, bool stream)
    {
        public readonly ConvGeometry G = g;
        public readonly float* Wt = wt, X = x, Y = y, Bias = bias;
        public readonly int* Off = off;
        public readonly int Cout = cout, Blocks = blocks, Nb = nb, Bands = bands, StripW = stripW;
        public readonly bool Stream = stream;
    }

    // Item = (image, band of output rows). TS: the column stride.
    private readonly unsafe struct Items<TS>(Body b) : IParallelBody where TS : struct, IWidth
    {
        public void Invoke(int item)
        {
            var g = b.G;
            int img = item / b.Bands, band = item % b.Bands, oh0 = (int)((long)band * g.OutH / b.Bands), oh1 = (int)((long)(band + 1) * g.OutH / b.Bands);
            if (oh0 == oh1) return;
            int ow = g.OutW, k = g.ColRows;
            // The row buffer [block][rowW][16]: pixel p of the row in slot shift + p. Ordinary stores: shift 0, rowW = OW
            // rounded up to 16 (Store4 reads up to 3 slots past OW). Streamed: shift δ (y's offset within a line), so
            // that slots 16m .. 16m + 15 are line m of the row in y; slots 0 .. δ − 1 hold the last δ pixels of the row
            // before, carried over, and rowW = OW + 16.
            int shift = b.Stream ? Delta : 0, rowW = b.Stream ? ow + Lanes : (ow + Lanes - 1) / Lanes * Lanes;
            var rowBuf = Scratch.Get(ref t_row, b.Blocks * rowW * Lanes);
            var strip = Scratch.Get(ref t_strip, g.Channels * g.KernelH * b.StripW);
            float* xi = b.X + (long)img * g.Channels * g.Height * g.Width;
            float* yi = b.Y + (long)img * b.Cout * g.OutH * ow;
            fixed (float* rb = rowBuf, st = strip)
            {
                for (int oh = oh0; oh < oh1; oh++)
                {
                    int ih = oh * g.StrideH - g.PadH;
                    bool rowsInside = ih >= 0 && ih + (g.KernelH - 1) * g.DilationH < g.Height;
                    for (int cb0 = 0; cb0 < b.Blocks; cb0 += b.Nb)
                    {
                        int nbq = Math.Min(b.Nb, b.Blocks - cb0), j = PixelsPerTile(nbq);
                        int tiles = (ow + j - 1) / j, width = ow / tiles, wider = ow % tiles;   // the first `wider` tiles take one pixel more
                        float* wg = b.Wt + (long)cb0 * k * Lanes;
                        for (int t = 0, ow0 = 0; t < tiles; t++)
                        {
                            int jn = width + (t < wider ? 1 : 0), iw = ow0 * TS.J - g.PadW;
                            bool inside = rowsInside && iw >= 0 && iw + (jn - 1) * TS.J + (g.KernelW - 1) * g.DilationW < g.Width;
                            float* xt;
                            int* off;
                            if (inside) { xt = xi + (long)ih * g.Width + iw; off = b.Off; }
                            else { FillStrip(xi, ih, iw, (jn - 1) * TS.J + (g.KernelW - 1) * g.DilationW + 1, st); xt = st; off = b.Off + k; }
                            Tile<TS, OffsetTaps>(nbq, jn, k, new OffsetTaps(xt, off), wg, rb + ((long)cb0 * rowW + shift + ow0) * Lanes, rowW * Lanes);
                            ow0 += jn;
                        }
                    }
                    if (b.Stream) StreamRow(rb, rowW, yi, oh, oh == oh0, oh == oh1 - 1);
                    else StoreRow(rb, rowW, yi + (long)oh * ow);
                }
            }
            if (b.Stream) Sse.StoreFence();   // the non-temporal stores are visible before the item counts as done
        }

        // y's offset within a 64-byte line, in floats: the same for every row when OW and the planes are whole lines.
        private int Delta => (int)(((nint)b.Y >> 2) & (Lanes - 1));

        // strip[c][kh][i] = x[c][ih + kh·dH][iw + i] for i < width, zero outside x: whole vectors of masked loads (lanes
        // outside x read nothing and give zeros; strip rows are whole vectors), one mask per vector for all the rows.
        private void FillStrip(float* xi, int ih, int iw, int width, float* strip)
        {
            var g = b.G;
            for (int i = 0; i < width; i += Lanes)
            {
                var mask = Lanes512.Between(-iw - i, g.Width - iw - i);   // lanes l with 0 ≤ iw + i + l < W
                for (int c = 0; c < g.Channels; c++)
                    for (int kh = 0; kh < g.KernelH; kh++)
                    {
                        float* s = strip + (c * g.KernelH + kh) * b.StripW + i;
                        int r = ih + kh * g.DilationH;
                        var v = r < 0 || r >= g.Height ? Vector512<float>.Zero
                              : Avx512F.MaskLoad(xi + ((long)c * g.Height + r) * g.Width + iw + i, mask, Vector512<float>.Zero);
                        v.Store(s);
                    }
            }
        }

        // Output row oh of every channel from the row buffer: 16 x 16 transposes where 16 channels and 16 pixels are
        // whole, 16 x 4 transposes for the rest, the bias added.
        private void StoreRow(float* rb, int rowW, float* yRow)
        {
            int ow = b.G.OutW, plane = b.G.OutH * ow;
            for (int cb = 0; cb < b.Blocks; cb++)
            {
                int channels = Math.Min(Lanes, b.Cout - cb * Lanes), p = 0;
                var bias = BiasVector(cb, channels);
                float* t = rb + (long)cb * rowW * Lanes, yq = yRow + (long)cb * Lanes * plane;
                if (channels == Lanes)
                    for (; p + Lanes <= ow; p += Lanes) Store16(t + p * Lanes, bias, yq + p, plane, new OrdinaryStore());
                for (; p < ow; p += 4) Store4(t + p * Lanes, bias, yq + p, plane, Math.Min(4, ow - p), channels);
            }
        }

        // Output row oh (OW and Cout multiples of 16) in whole 64-byte lines of y, streamed: line m of every channel is the
        // transpose of slots 16m .. 16m + 15. Line 0 holds the δ pixels carried from the row before; on the item's first
        // row it is shared with the item before (or the channel before) and gets a masked ordinary store of this row's
        // lanes. Line OW/16 (δ > 0) is completed by the next row, which carries its δ slots; on the item's last row it is
        // stored masked to those lanes.
        private void StreamRow(float* rb, int rowW, float* yi, int oh, bool first, bool last)
        {
            int ow = b.G.OutW, plane = b.G.OutH * ow, delta = Delta, lines = ow / Lanes;
            for (int cb = 0; cb < b.Blocks; cb++)
            {
                var bias = BiasVector(cb, Lanes);
                float* t = rb + (long)cb * rowW * Lanes, y = yi + (long)cb * Lanes * plane + (long)oh * ow - delta;
                if (first && delta != 0) Store16(t, bias, y, plane, new MaskedStore(Lanes512.Between(delta, Lanes)));
                else Store16(t, bias, y, plane, new StreamedStore());
                for (int m = 1; m < lines; m++) Store16(t + m * Lanes * Lanes, bias, y + m * Lanes, plane, new StreamedStore());
                if (delta == 0) continue;
                if (last) Store16(t + lines * Lanes * Lanes, bias, y + lines * Lanes, plane, new MaskedStore(Lanes512.Between(0, delta)));
                else for (int i = 0; i < delta * Lanes; i += Lanes) Vector512.Load(t + ow * Lanes + i).Store(t + i);   // carry
            }
        }

        private Vector512<float> BiasVector(int cb, int channels) => BiasLanes(b.Bias, cb * Lanes, channels);
    }

    /// <summary>
    /// The bias of output channels co0 .. co0 + channels − 1 (channels ≤ 16) in the first lanes of a vector, zeros past
    /// them; zeros without a bias (null).
    /// </summary>
    internal static unsafe Vector512<float> BiasLanes(float* bias, int co0, int channels) =>
        bias is null ? Vector512<float>.Zero
        : channels == Lanes ? Vector512.Load(bias + co0) : Avx512F.MaskLoad(bias + co0, Lanes512.First(channels), Vector512<float>.Zero);

    // A non-temporal store of a whole, aligned 64-byte line.
    private readonly struct StreamedStore : IVectorStore
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe void Put(float* at, Vector512<float> v) => Avx512F.StoreAlignedNonTemporal(at, v);
    }

    // An ordinary store of the lanes set in the mask.
    private readonly struct MaskedStore(Vector512<float> mask) : IVectorStore
    {
        private readonly Vector512<float> _mask = mask;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe void Put(float* at, Vector512<float> v) => Avx512F.MaskStore(at, _mask, v);
    }

    // One tile of nbq channel blocks and jn pixels: t[q·blockStride + j·16 + l] (PointwiseConv's tiles too).
    internal static unsafe void Tile<TS, TTaps>(int nbq, int jn, int steps, TTaps taps, float* wt, float* t, int blockStride)
        where TS : struct, IWidth where TTaps : struct, ITaps
    {
        switch (nbq)
        {
            case 1: Tile<W1, TS, TTaps>(jn, steps, taps, wt, t, blockStride); break;
            case 2: Tile<W2, TS, TTaps>(jn, steps, taps, wt, t, blockStride); break;
            case 3: Tile<W3, TS, TTaps>(jn, steps, taps, wt, t, blockStride); break;
            default: Tile<W4, TS, TTaps>(jn, steps, taps, wt, t, blockStride); break;
        }
    }

    private static unsafe void Tile<TNB, TS, TTaps>(int jn, int steps, TTaps taps, float* wt, float* t, int blockStride)
        where TNB : struct, IWidth where TS : struct, IWidth where TTaps : struct, ITaps
    {
        switch (jn)
        {
            case 1: Kernel<TNB, W1, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 2: Kernel<TNB, W2, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 3: Kernel<TNB, W3, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 4: Kernel<TNB, W4, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 5: Kernel<TNB, W5, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 6: Kernel<TNB, W6, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 7: Kernel<TNB, W7, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 8: Kernel<TNB, W8, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 9: Kernel<TNB, W9, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 10: Kernel<TNB, W10, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            case 11: Kernel<TNB, W11, TS, TTaps>(steps, taps, wt, t, blockStride); break;
            default: Kernel<TNB, W12, TS, TTaps>(steps, taps, wt, t, blockStride); break;
        }
    }

    /// <summary>Where the register kernel reads each tap's inputs: called once per tap, in order (a type argument, inlined).</summary>
    internal interface ITaps
    {
        /// <summary>The next tap's first input; the tile's pixel j reads it j·S floats further.</summary>
        unsafe float* Next();
    }

    /// <summary>Taps at x + off[p] (a convolution's (c, kh, kw) through its offset table).</summary>
    internal unsafe struct OffsetTaps(float* x, int* off) : ITaps
    {
        private readonly float* _x = x;
        private int* _off = off;

        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float* Next() => _x + *_off++;
    }

    /// <summary>Taps one plane apart (a 1x1 convolution's input channels).</summary>
    internal unsafe struct PlaneTaps(float* x, long plane) : ITaps
    {
        private float* _x = x;
        private readonly long _plane = plane;

        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float* Next()
        {
            float* p = _x;
            _x += _plane;
            return p;
        }
    }
}
