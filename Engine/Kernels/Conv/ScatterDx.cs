// dX of a stride-1 convolution in scatter form (AVX-512): every dY value is sent through the KH·KW taps to the inputs it
// came from, instead of every dX value gathering from dY padded by K − 1 − p through the flipped kernel.
//
// Forward (stride 1, dilation 1):  y[co][oh][ow] = Σ_{c,kh,kw} W[co][c][kh][kw] · xpad[c][oh + kh][ow + kw]
// Backward (this file):            dXpad[c][oh + kh][ow + kw] = Σ_{co,kh,kw} W[co][c][kh][kw] · dY[co][oh][ow]
// and dX is the interior of dXpad (pH rows and pW columns off each side).
// Shapes: W (Cout, C, KH, KW), dY (N, Cout, OH, OW), dXpad (C, Hp, Wp) per image with Hp = H + 2·pH = OH + KH − 1,
// Wp = W + 2·pW = OW + KW − 1; dX (N, C, H, W) is overwritten (not accumulated).
//
// Number dY in dXpad's row width, q = oh·Wp + ow for ow in [0, Wp), with zeros at ow ≥ OW (dYw: KW − 1 zero columns a
// row, and zeros up to the last tile's end). Tap (kh, kw) moves q to q + kh·Wp + kw of the flat dXpad plane. So for one
// input channel c, one kernel row kh and a group of five taps kw = t0 .. t0 + 4, the tile of 48 consecutive q computes
//     acc_t[q] = Σ_co W[co][c][kh][t0 + t] · dYw[co][q]            t = 0..4: 5 x 3 zmm accumulators, Cout steps
//     dXpad[c][kh·Wp + t0 + q + t] += acc_t[q]
// The five rows, each one lane further right, are summed in registers (valignd shifts acc_t right by t lanes across its
// neighbours) into four vectors, added to dXpad in memory: a load, an add and a store each. Taps past KW in the last
// group of five have zero weights. Each dXpad value is a sum in a fixed order (q tile, kernel row, tap group, then the
// tap inside the tile, each tile summing over co in order), so the result does not depend on the thread count.
//
// Why: a "valid" convolution's dX in gather form reads dY padded by K − 1 all round. LeNet's second convolution
// (6 x 14x14 -> 16 x 10x10, 5x5) there computes 8 rows (6 channels rounded up to the tile) x 400 taps x 288 columns
// (14 rows of 18, rounded up to 48) per image, 921,600 products for 240,000 real ones (26 %); here 6 x 5 x 5 x 16 x 144
// (10 rows of 14, rounded up to 48) = 345,600, plus the shifts and the adds into memory (Cost counts them). Where dY's
// padding is small ("same" 3x3 layers) the gather form wastes little and this one wastes the taps 3 and 4 of each group:
// Conv2d compares the costs of the paths (Cost here, DirectConv.Cost there).
//
// Work items: (image, block of input channels; blocks only when there are fewer than two images a thread); each item
// builds its image's dYw a band of q tiles at a time and accumulates into a private dXpad for its channels, then copies
// the interior out. The naive twin is NaiveConv.Conv2dInputGradient, the same scatter as a plain loop nest.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvEngine.Kernels.Simd;

namespace ConvEngine.Kernels.Conv;

internal static class ScatterDx
{
    /// <summary>Columns q per tile: three zmm.</summary>
    public const int NR = 48;

    /// <summary>Taps kw per tile (one group).</summary>
    public const int Taps = 5;

    /// <summary>Multiply-add equivalents charged per tile for its shifts and its four read-add-writes of dXpad (about 45 instructions).</summary>
    public const int TileOverhead = 768;

    /// <summary>
    /// The most bytes of dYw built at a time (a band of q tiles, all output channels; at least one tile). A 3 -> 64-channel
    /// layer at 224x224 (one image, one thread, best of 40 alternating rounds): 1.75 ms with 48 KiB bands (4 tiles), 1.93 ms
    /// with one tile a band, 2.00 ms with 192 KiB; LeNet's layers the same with any (their whole dYw is 9 to 18 KB).
    /// </summary>
    public const int BandBytes = 48 * 1024;

    /// <summary>Whether the processor runs the kernel (AVX-512F).</summary>
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>
    /// Whether the kernel computes dX of <paramref name="g"/> (the forward geometry): AVX-512, stride 1, dilation 1, a
    /// non-empty input and output.
    /// </summary>
    public static bool Applies(in ConvGeometry g) =>
        IsSupported && g.StrideH == 1 && g.StrideW == 1 && g.DilationH == 1 && g.DilationW == 1
        && g.OutH > 0 && g.OutW > 0 && g.Channels > 0 && g.Height > 0 && g.Width > 0;

    /// <summary>
    /// Multiply-adds per image the kernel spends on dX of <paramref name="g"/> with <paramref name="outChannels"/> output
    /// channels, zero taps and the columns past OW included, plus <see cref="TileOverhead"/> per tile.
    /// </summary>
    public static long Cost(in ConvGeometry g, int outChannels)
    {
        var L = new Layout(g, outChannels);
        long tiles = (long)g.Channels * g.KernelH * L.Groups * L.QTiles;
        return tiles * ((long)outChannels * Taps * NR + TileOverhead);
    }

    // Sizes of one call: QTiles tiles of 48 columns q, built BandTiles at a time; dXpad planes of PlaneStride floats (the last tile's fourth vector
    // reaches 16 floats past its 48 columns, and the last tap group's columns reach (Groups − 1)·5 further).
    private readonly struct Layout
    {
        public readonly int C, H, W, PH, PW, KH, KW, Cout, OH, OW, Wp, Groups, QTiles, BandTiles, PlaneStride;

        public Layout(in ConvGeometry g, int outChannels)
        {
            (C, H, W, PH, PW, KH, KW, Cout, OH, OW) = (g.Channels, g.Height, g.Width, g.PadH, g.PadW, g.KernelH, g.KernelW, outChannels, g.OutH, g.OutW);
            Wp = W + 2 * PW;
            Groups = (KW + Taps - 1) / Taps;
            QTiles = (OH * Wp + NR - 1) / NR;
            BandTiles = Math.Clamp(BandBytes / (Math.Max(1, Cout) * NR * sizeof(float)), 1, QTiles);
            PlaneStride = ((KH - 1) * Wp + (Groups - 1) * Taps + QTiles * NR + 16 + 15) & ~15;
        }
    }

    [ThreadStatic] private static float[]? t_w, t_dy, t_dx;
    [ThreadStatic] private static int[]? t_runs;

    /// <summary>
    /// dx[firstImage + i] (C, H, W) = the input gradient of the stride-1 convolution <paramref name="g"/> with weights
    /// <paramref name="w"/> (outChannels, C, KH, KW) for output gradient dy[firstImage + i] (outChannels, OH, OW), for i in
    /// [0, images), overwriting dx. dy and dx are NCHW arrays of whole batches; <paramref name="g"/> must satisfy <see cref="Applies"/>.
    /// </summary>
    public static unsafe void DataGrad(CpuDevice device, float[] w, int outChannels, float[] dy, int firstImage, int images, in ConvGeometry g, float[] dx)
    {
        var L = new Layout(g, outChannels);
        int c = L.C, kh = L.KH, kw = L.KW, groups = L.Groups, cout = L.Cout;
        // wp[(((ci·KH + r)·Groups + grp)·Cout + co)·5 + t] = W[co][ci][r][grp·5 + t], 0 past KW.
        var wp = Scratch.Get(ref t_w, c * kh * groups * cout * Taps);
        for (int ci = 0, d = 0; ci < c; ci++)
            for (int r = 0; r < kh; r++)
                for (int grp = 0; grp < groups; grp++)
                    for (int co = 0; co < cout; co++)
                    {
                        int src = ((co * c + ci) * kh + r) * kw;
                        for (int t = 0; t < Taps; t++, d++)
                        {
                            int col = grp * Taps + t;
                            wp[d] = col < kw ? w[src + col] : 0f;
                        }
                    }
        // Few images and threads to run them: split each image's channels into blocks so every thread has work. Each block
        // builds the image's dYw again (a 3 -> 64-channel layer at 224x224, one image on one thread: 1.75-1.93 ms in one
        // block, 2.21-2.45 in two), so not where the loop would run on this thread alone (one chunk of Conv2d's
        // image-parallel mode: one image).
        int threads = device.Threads;
        int blocks = images >= 2 * threads || !device.CanRunParallel ? 1 : Math.Min(c, (2 * threads + images - 1) / Math.Max(1, images));
        int perBlock = (c + blocks - 1) / blocks;
        blocks = (c + perBlock - 1) / perBlock;
        fixed (float* w0 = wp)
        {
            var body = new ItemBody(L, w0, dy, (long)firstImage * cout * L.OH * L.OW, dx, (long)firstImage * c * L.H * L.W, blocks, perBlock);
            int items = images * blocks;
            if (Cost(g, outChannels) * images >= 1 << 18) device.ParallelFor(items, body);
            else for (int i = 0; i < items; i++) body.Invoke(i);
        }
    }

    // Item (image, channel block): the block's dXpad planes cleared; then band by band (BandTiles q tiles) the band's dYw
    // (Cout rows of the band's columns, copied from dY row by row) and every (q tile, kernel row, tap group, channel) tile
    // that reads it; last, the planes' interiors copied into dx. A band stays in L2 however large the image (a whole-image
    // dYw of a 224x224 layer with 64 outputs is 13 MB, streamed once per kernel row), and a q tile's 48 columns of it stay
    // in L1 for all the tiles that read them.
    private readonly unsafe struct ItemBody(Layout L, float* wp, float[] dy, long dyBase, float[] dx, long dxBase, int blocks, int perBlock)
        : IParallelBody
    {
        public void Invoke(int item)
        {
            int img = item / blocks, c0 = item % blocks * perBlock, c1 = Math.Min(L.C, c0 + perBlock), nc = c1 - c0;
            int cout = L.Cout, wpw = L.Wp, plane = L.PlaneStride, ow = L.OW, bandTiles = L.BandTiles, bandCols = bandTiles * NR;
            var band = Scratch.Get(ref t_dy, cout * bandCols);
            var buf = Scratch.Get(ref t_dx, nc * plane);
            // The runs of a band: (band column, dY offset in the plane, valid columns, run length); a run ends at the end of a
            // padded row, its columns past OW (and all columns past the last row) zeros.
            var runs = Scratch.Get(ref t_runs, 4 * (bandCols / wpw + 2));
            fixed (float* band0 = band, buf0 = buf, dy0 = dy, dx0 = dx)
            {
                float* src = dy0 + dyBase + (long)img * cout * L.OH * ow;
                int planeY = L.OH * ow;
                new Span<float>(buf0, nc * plane).Clear();
                for (int tb = 0; tb < L.QTiles; tb += bandTiles)
                {
                    int tiles = Math.Min(bandTiles, L.QTiles - tb), n = 0;
                    for (int q = tb * NR, end = q + tiles * NR; q < end; n++)
                    {
                        int oh = q / wpw, col = q % wpw, run = Math.Min(end - q, wpw - col);
                        runs[4 * n] = q - tb * NR;
                        runs[4 * n + 1] = oh * ow + col;
                        runs[4 * n + 2] = oh < L.OH ? Math.Clamp(ow - col, 0, run) : 0;
                        runs[4 * n + 3] = run;
                        q += run;
                    }
                    // band[co][j] = dYw[co][tb·48 + j].
                    for (int co = 0; co < cout; co++)
                    {
                        float* d = band0 + (long)co * bandCols, sp = src + (long)co * planeY;
                        for (int r = 0; r < n; r++) CopyRow(sp + runs[4 * r + 1], d + runs[4 * r], runs[4 * r + 2], runs[4 * r + 3]);
                    }
                    for (int t = 0; t < tiles; t++)
                        for (int r = 0; r < L.KH; r++)
                            for (int grp = 0; grp < L.Groups; grp++)
                                // Innermost the channels: consecutive tiles add into different planes, so a tile's loads of
                                // dXpad rarely meet the previous tile's overlapping stores still in flight.
                                for (int ci = c0; ci < c1; ci++)
                                    Tile(wp + ((long)(ci * L.KH + r) * L.Groups + grp) * cout * Taps, band0 + t * NR, cout, bandCols,
                                         buf0 + (long)(ci - c0) * plane + r * wpw + grp * Taps + (tb + t) * NR);
                }
                // dx[c][i][j] = dXpad[c][i + pH][j + pW].
                float* dst = dx0 + dxBase + ((long)img * L.C + c0) * L.H * L.W;
                for (int ci = 0; ci < nc; ci++)
                    for (int i = 0; i < L.H; i++, dst += L.W)
                        CopyRow(buf0 + (long)ci * plane + (i + L.PH) * wpw + L.PW, dst, L.W, L.W);
            }
        }
    }

    // d[0, wide) = s[0, count) followed by zeros (count ≤ wide), 16 lanes at a time through masked loads and stores: LeNet's
    // rows are 10 and 14 floats, and a memmove call per row cost more than the copy.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyRow(float* s, float* d, int count, int wide)
    {
        for (int e = 0; e < wide; e += 16)
        {
            var v = Avx512F.MaskLoad(s + e, Lanes512.First(count - e), Vector512<float>.Zero);
            if (e + 16 <= wide) v.Store(d + e);
            else Avx512F.MaskStore(d + e, Lanes512.First(wide - e), v);
        }
    }

    // One tile: acc_t (48 columns) = Σ_co w[co·5 + t] · dyq[co·stride + 0..47] for t = 0..4, then
    // dst[0..63] += Σ_t acc_t shifted right by t lanes.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Tile(float* w, float* dyq, int cout, int stride, float* dst)
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default;
        for (int co = 0; co < cout; co++, w += Taps, dyq += stride)
        {
            var b0 = Vector512.Load(dyq); var b1 = Vector512.Load(dyq + 16); var b2 = Vector512.Load(dyq + 32);
            var w0 = Vector512.Create(w[0]);
            a00 = Vector512.FusedMultiplyAdd(w0, b0, a00); a01 = Vector512.FusedMultiplyAdd(w0, b1, a01); a02 = Vector512.FusedMultiplyAdd(w0, b2, a02);
            var w1 = Vector512.Create(w[1]);
            a10 = Vector512.FusedMultiplyAdd(w1, b0, a10); a11 = Vector512.FusedMultiplyAdd(w1, b1, a11); a12 = Vector512.FusedMultiplyAdd(w1, b2, a12);
            var w2 = Vector512.Create(w[2]);
            a20 = Vector512.FusedMultiplyAdd(w2, b0, a20); a21 = Vector512.FusedMultiplyAdd(w2, b1, a21); a22 = Vector512.FusedMultiplyAdd(w2, b2, a22);
            var w3 = Vector512.Create(w[3]);
            a30 = Vector512.FusedMultiplyAdd(w3, b0, a30); a31 = Vector512.FusedMultiplyAdd(w3, b1, a31); a32 = Vector512.FusedMultiplyAdd(w3, b2, a32);
            var w4 = Vector512.Create(w[4]);
            a40 = Vector512.FusedMultiplyAdd(w4, b0, a40); a41 = Vector512.FusedMultiplyAdd(w4, b1, a41); a42 = Vector512.FusedMultiplyAdd(w4, b2, a42);
        }
        var z = Vector512<float>.Zero;
        // Output vector j holds columns 16j .. 16j + 15; tap t contributes acc_t at column − t: lanes t.. from its vector j,
        // lanes ..t − 1 from the top of vector j − 1.
        var o0 = a00 + Shift1(a10, z) + Shift2(a20, z) + Shift3(a30, z) + Shift4(a40, z);
        var o1 = a01 + Shift1(a11, a10) + Shift2(a21, a20) + Shift3(a31, a30) + Shift4(a41, a40);
        var o2 = a02 + Shift1(a12, a11) + Shift2(a22, a21) + Shift3(a32, a31) + Shift4(a42, a41);
        var o3 = Shift1(z, a12) + Shift2(z, a22) + Shift3(z, a32) + Shift4(z, a42);
        (Vector512.Load(dst) + o0).Store(dst);
        (Vector512.Load(dst + 16) + o1).Store(dst + 16);
        (Vector512.Load(dst + 32) + o2).Store(dst + 32);
        (Vector512.Load(dst + 48) + o3).Store(dst + 48);
    }

    // The 16 lanes of (hi:lo) starting at lo's lane 16 − t: lo's top t lanes, then hi's first 16 − t (valignd).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Shift1(Vector512<float> hi, Vector512<float> lo) => Avx512F.AlignRight32(hi.AsInt32(), lo.AsInt32(), 15).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Shift2(Vector512<float> hi, Vector512<float> lo) => Avx512F.AlignRight32(hi.AsInt32(), lo.AsInt32(), 14).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Shift3(Vector512<float> hi, Vector512<float> lo) => Avx512F.AlignRight32(hi.AsInt32(), lo.AsInt32(), 13).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Shift4(Vector512<float> hi, Vector512<float> lo) => Avx512F.AlignRight32(hi.AsInt32(), lo.AsInt32(), 12).AsSingle();
}
