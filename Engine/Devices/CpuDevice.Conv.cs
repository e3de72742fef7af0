using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvEngine.Kernels.Gemm;
using ConvEngine.Kernels.Simd;
using ConvEngine.Reference;

namespace ConvEngine;

// Fast convolution helpers: im2col, col2im and explicit padding. Each produces bitwise the result of its naive twin in
// Reference/NaiveConv.cs: im2col and padding only move values; col2im and Pad2dBackward add every contribution to an
// input cell in the same order as the naive loop nest (per-element adds, no reassociation), so sums agree exactly.
//
// The structure all of them share: for kernel offset (kh, kw) the valid output columns form one interval [lo, hi)
// (where the tap lands inside the input), so a row of col is "zeros | contiguous or strided copy | zeros"; with
// stride 1 the copy is a memcpy. Work is split over (channel, kh) pairs or channels/planes, which write disjoint outputs.
public sealed partial class CpuDevice
{
    /// <inheritdoc/>
    public override void Im2Col(Tensor x, int image, in ConvGeometry g, Tensor col)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(image);
        Im2ColBatch(x, image, 1, g, col);
    }

    /// <inheritdoc/>
    public override void Im2ColBatch(Tensor x, int firstImage, int images, in ConvGeometry g, Tensor col)
    {
        int per = DeviceArgs.Batch(x, firstImage, images, g, col, nameof(x), nameof(col));
        if (images == 0) return;
        int perImage = g.Channels * g.KernelH, items = images * perImage;
        // Item (b, c, kh) writes the KW rows of (c, kh) in image b's column range: disjoint from every other item.
        var body = new Im2ColBody(A(x), firstImage * per, per, g, A(col), images, perImage);
        // Tiny problems: threading costs more than it saves.
        if ((long)g.ColRows * g.ColCols * images < 1 << 15)
        {
            for (int i = 0; i < items; i++) body.Invoke(i);
            return;
        }
        ParallelFor(items, body);
    }

    /// <summary>Item i = (b, c·KH + kh) of Im2ColBatch (xBase: the batch's first element, per: elements per image).</summary>
    private readonly struct Im2ColBody(float[] xs, int xBase, int per, ConvGeometry g, float[] cs, int images, int perImage) : IParallelBody
    {
        public void Invoke(int i) => Im2ColRows(xs, xBase + i / perImage * per, g, cs, i / perImage, images, i % perImage);
    }

    // The KW rows of col for channel c = item / KH and kernel row kh = item % KH, in the columns of image b of the batch
    // (col has images·OH·OW columns; xBase is image b's first element). The row walk is the one the implicit-GEMM packers
    // use (Kernels/Gemm/Im2ColB.cs): runs of one output row each, "zeros | copy | zeros".
    private static unsafe void Im2ColRows(float[] xs, int xBase, in ConvGeometry g, float[] cs, int b, int images, int item)
    {
        int c = item / g.KernelH, kh = item % g.KernelH, cols = g.OutH * g.OutW;
        long ld = (long)images * cols;
        int max = Im2ColRuns.Max(g, cols) * Im2ColRuns.Stride;
        Span<int> runs = max <= 512 ? stackalloc int[max] : Im2ColRuns.HeapTable(max);
        int count = Im2ColRuns.Build(g, 0, cols, runs);
        fixed (float* x0 = xs, c0 = cs)
        fixed (int* rp = runs)
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int row = (c * g.KernelH + kh) * g.KernelW + kw;
                Im2ColRuns.FillRow(x0 + xBase, g, row, rp, count, c0 + row * ld + (long)b * cols);
            }
    }

    /// <summary>The output columns [lo, hi) whose tap o·stride + offset lies in [0, size).</summary>
    internal static (int Lo, int Hi) ValidRange(int offset, int stride, int size, int outSize)
    {
        // lo: smallest o ≥ 0 with o·stride + offset ≥ 0; hi: one past the largest o with o·stride + offset ≤ size − 1.
        int lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
        int last = size - 1 - offset;
        int hi = last < 0 ? 0 : last / stride + 1;
        lo = Math.Min(lo, outSize);
        hi = Math.Clamp(hi, lo, outSize);
        return (lo, hi);
    }

    /// <inheritdoc/>
    public override void Col2Im(Tensor col, in ConvGeometry g, Tensor dX, int image)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(image);
        Col2ImBatch(col, g, dX, image, 1);
    }

    /// <inheritdoc/>
    public override void Col2ImBatch(Tensor col, in ConvGeometry g, Tensor dX, int firstImage, int images)
    {
        int per = DeviceArgs.Batch(dX, firstImage, images, g, col, nameof(dX), nameof(col));
        if (images == 0) return;
        int items = images * g.Channels;
        // Item (b, c) writes plane c of image b: disjoint; inside it the (kh, kw, oh, ow) order of the naive loop is kept.
        var body = new Col2ImBody(A(col), g, A(dX), firstImage * per, per, images);
        if ((long)g.ColRows * g.ColCols * images < 1 << 15)
        {
            for (int i = 0; i < items; i++) body.Invoke(i);
            return;
        }
        ParallelFor(items, body);
    }

    /// <summary>
    /// Col2ImBatch for a 1x1 kernel, whose taps never overlap: dX of the images is <b>overwritten</b> (zeros where no output
    /// lands, e.g. the odd rows and columns of a stride-2 projection) in one pass, instead of a fill followed by an
    /// accumulating col2im. Equal to Fill(dX images, 0) then Col2ImBatch (up to the sign of zero: 0 + (−0) is +0 there).
    /// </summary>
    internal void Col2ImDisjoint(Tensor col, in ConvGeometry g, Tensor dX, int firstImage, int images)
    {
        if (g.KernelH != 1 || g.KernelW != 1)
            throw new ArgumentException($"Col2ImDisjoint needs a 1x1 kernel but the geometry has {g.KernelH}x{g.KernelW}.", nameof(g));
        int per = DeviceArgs.Batch(dX, firstImage, images, g, col, nameof(dX), nameof(col));
        if (images == 0) return;
        var body = new Col2ImDisjointBody(A(col), g, A(dX), firstImage * per, per, images);
        int items = images * g.Channels;
        if ((long)per * images < 1 << 15) { for (int i = 0; i < items; i++) body.Invoke(i); return; }
        ParallelFor(items, body);
    }

    /// <summary>Item i = (b, c) of Col2ImDisjoint: plane c of image b, row by row.</summary>
    private readonly struct Col2ImDisjointBody(float[] cs, ConvGeometry g, float[] xs, int xBase, int per, int images) : IParallelBody
    {
        public unsafe void Invoke(int i)
        {
            int b = i / g.Channels, c = i % g.Channels, h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW;
            int sh = g.StrideH, sw = g.StrideW, ph = g.PadH, pw = g.PadW;
            // Column lo of a hit row takes output column (lo + pW) / sW: the first w with (w + pW) % sW == 0.
            int lo = (sw - pw % sw) % sw, hiW = Math.Min(w, ow * sw - pw);   // columns [lo, hiW) step sW are hit
            bool evenPairs = sw == 2 && lo == 0 && Avx512F.IsSupported;
            fixed (float* cp = cs, xp = xs)
            {
                float* src0 = cp + (long)c * images * oh * ow + (long)b * oh * ow;
                float* dst = xp + xBase + (long)b * per + (long)c * h * w;
                for (int y = 0; y < h; y++, dst += w)
                {
                    int t = y + ph;
                    if (t % sh != 0 || t / sh >= oh || hiW <= lo) { new Span<float>(dst, w).Clear(); continue; }
                    float* src = src0 + (long)(t / sh) * ow + (lo + pw) / sw;
                    int x = 0;
                    if (evenPairs)
                    {
                        // dst[2j] = src[j], dst[2j + 1] = 0: 16 sources into two vectors of 32 columns.
                        var zero = Vector512<float>.Zero;
                        for (; x + 32 <= hiW; x += 32, src += 16)
                        {
                            var v = Vector512.Load(src);
                            Avx512F.PermuteVar16x32x2(v, Lanes512.InterLo, zero).Store(dst + x);
                            Avx512F.PermuteVar16x32x2(v, Lanes512.InterHi, zero).Store(dst + x + 16);
                        }
                        if (x + 16 <= hiW)
                        {
                            var v = Vector256.Load(src).ToVector512Unsafe();   // 8 sources: the upper lanes are not used
                            Avx512F.PermuteVar16x32x2(v, Lanes512.InterLo, zero).Store(dst + x);
                            x += 16; src += 8;
                        }
                    }
                    // The rest of the row: zeros, then the hit columns from the first one at or after x.
                    new Span<float>(dst + x, w - x).Clear();
                    for (int xx = x + ((lo - x) % sw + sw) % sw; xx < hiW; xx += sw) dst[xx] = *src++;
                }
            }
        }
    }

    /// <summary>Item i = (b, c) of Col2ImBatch (xBase: the batch's first element, per: elements per image).</summary>
    private readonly struct Col2ImBody(float[] cs, ConvGeometry g, float[] xs, int xBase, int per, int images) : IParallelBody
    {
        public void Invoke(int i) => Col2ImChannel(cs, g, xs, xBase + i / g.Channels * per, i / g.Channels, images, i % g.Channels);
    }

    // Pointers and one 8-wide add per step rather than a TensorPrimitives.Add over a span per output row: the rows of small
    // layers are short (10 floats for LeNet's second convolution, 48,000 of them per chunk of 32 images).
    private static unsafe void Col2ImChannel(float[] cs, in ConvGeometry g, float[] xs, int xBase, int b, int images, int c)
    {
        fixed (float* cp = cs, xp = xs)
            Col2ImChannel(cp, cs.Length, g, xp, xs.Length, xBase, b, images, c);
    }

    private static unsafe void Col2ImChannel(float* cs, int csLength, in ConvGeometry g, float* xs, int xsLength, int xBase, int b, int images, int c)
    {
        int outH = g.OutH, outW = g.OutW, cols = outH * outW;
        long ld = (long)images * cols;
        int plane = xBase + c * g.Height * g.Width;
        // Column stride 2 without dilation (the 7x7/2 stem, 3x3/2 layers): taps kw and kw + 1 land on alternate cells of
        // the same input row, so a pair of them is added as two interleaved vectors (Col2ImPair) where both are valid.
        bool pairs = g.StrideW == 2 && g.DilationW == 1 && Avx512F.IsSupported && Vector512.IsHardwareAccelerated;
        for (int kh = 0; kh < g.KernelH; kh++)
        {
            int offH = kh * g.DilationH - g.PadH;
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int row = (c * g.KernelH + kh) * g.KernelW + kw;
                if (pairs && kw + 1 < g.KernelW)
                {
                    Col2ImPair(cs + row * ld + (long)b * cols, cs + (row + 1) * ld + (long)b * cols, g, xs + plane, offH, kw - g.PadW);
                    kw++;
                    continue;
                }
                int rowBase = (int)(row * ld + (long)b * cols);
                int offW = kw * g.DilationW - g.PadW;
                var (lo, hi) = ValidRange(offW, g.StrideW, g.Width, outW);
                if (lo >= hi) continue;
                for (int oh = 0; oh < outH; oh++)
                {
                    int ih = oh * g.StrideH + offH;
                    if ((uint)ih >= (uint)g.Height) continue;
                    int n = hi - lo, src = rowBase + oh * outW + lo;
                    int dst = plane + ih * g.Width + lo * g.StrideW + offW;
                    // The caller checked the tensors' lengths against the geometry; these bounds hold by construction.
                    Debug.Assert(src >= 0 && src + n <= csLength && dst >= 0 && dst + (n - 1) * g.StrideW < xsLength);
                    float* sp = cs + src, dp = xs + dst;
                    if (g.StrideW == 1)
                    {
                        int j = 0;
                        if (Vector256.IsHardwareAccelerated)
                            for (; j + 8 <= n; j += 8) (Vector256.Load(dp + j) + Vector256.Load(sp + j)).Store(dp + j);
                        for (; j < n; j++) dp[j] += sp[j];
                    }
                    else
                    {
                        int j = 0;
                        // The odd kernel's last tap at stride 2: 16 columns to the even cells of 32, masked (the odd cells are
                        // neither written nor, past the row's last valid cell, read).
                        if (pairs)
                            for (; j + 16 <= n; j += 16)
                            {
                                var v = Vector512.Load(sp + j);
                                float* dj = dp + 2 * j;
                                Avx512F.MaskStore(dj, EvenLanes, Vector512.Load(dj) + Avx512F.PermuteVar16x32x2(v, Lanes512.InterLo, v));
                                Avx512F.MaskStore(dj + 16, EvenLanes, Avx512F.MaskLoad(dj + 16, EvenLanes, Vector512<float>.Zero) + Avx512F.PermuteVar16x32x2(v, Lanes512.InterHi, v));
                            }
                        for (int k = j * g.StrideW; j < n; j++, k += g.StrideW) dp[k] += sp[j];
                    }
                }
            }
        }
    }

    private static readonly Vector512<float> EvenLanes = Vector512.Create(-1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0).AsSingle();

    // Taps kw and kw + 1 of one (c, kh) at column stride 2, dilation 1: rows s0 and s1 of col (outH x outW each) added into
    // the plane xp at input column 2·ow + offW and 2·ow + offW + 1. Each cell receives from one of the two taps only, so
    // adding the pair at once keeps every cell's (kh, kw, oh, ow) order of contributions. Where both taps are valid, 16
    // columns of each are interleaved into two vectors of 32 consecutive cells; each tap's edges go one value at a time.
    private static unsafe void Col2ImPair(float* s0, float* s1, in ConvGeometry g, float* xp, int offH, int offW)
    {
        int outH = g.OutH, outW = g.OutW;
        var (lo0, hi0) = ValidRange(offW, 2, g.Width, outW);
        var (lo1, hi1) = ValidRange(offW + 1, 2, g.Width, outW);
        int lo = Math.Max(lo0, lo1), hi = Math.Max(lo, Math.Min(hi0, hi1));
        for (int oh = 0; oh < outH; oh++)
        {
            int ih = oh * g.StrideH + offH;
            if ((uint)ih >= (uint)g.Height) continue;
            float* d = xp + (long)ih * g.Width + offW, a = s0 + (long)oh * outW, b = s1 + (long)oh * outW;
            for (int j = lo0; j < Math.Min(lo, hi0); j++) d[2 * j] += a[j];
            for (int j = lo1; j < Math.Min(lo, hi1); j++) d[2 * j + 1] += b[j];
            int k = lo;
            for (; k + 16 <= hi; k += 16)
            {
                var va = Vector512.Load(a + k); var vb = Vector512.Load(b + k);
                float* dk = d + 2 * k;
                (Vector512.Load(dk) + Avx512F.PermuteVar16x32x2(va, Lanes512.InterLo, vb)).Store(dk);
                (Vector512.Load(dk + 16) + Avx512F.PermuteVar16x32x2(va, Lanes512.InterHi, vb)).Store(dk + 16);
            }
            for (; k < hi; k++) { d[2 * k] += a[k]; d[2 * k + 1] += b[k]; }
            for (int j = Math.Max(hi, lo0); j < hi0; j++) d[2 * j] += a[j];
            for (int j = Math.Max(hi, lo1); j < hi1; j++) d[2 * j + 1] += b[j];
        }
    }

    /// <inheritdoc/>
    public override void SwapAxes(Tensor x, int xOffset, int rows, int cols, int inner, Tensor y, int yOffset)
    {
        long len = DeviceArgs.Swap(x, xOffset, rows, cols, inner, y, yOffset);
        if (len == 0) return;
        // Item i copies row i of x (cols runs of inner values) to its cols destinations; rows write disjoint runs.
        var body = new SwapBody(A(x), xOffset, A(y), yOffset, rows, cols, inner);
        if (len < 1 << 15 || rows == 1) { for (int i = 0; i < rows; i++) body.Invoke(i); return; }
        ParallelFor(rows, body);
    }

    private readonly struct SwapBody(float[] xs, int xOffset, float[] ys, int yOffset, int rows, int cols, int inner) : IParallelBody
    {
        public void Invoke(int i) => SwapRow(xs, xOffset, ys, yOffset, i, rows, cols, inner);
    }

    private static void SwapRow(float[] xs, int xOffset, float[] ys, int yOffset, int i, int rows, int cols, int inner)
    {
        for (int j = 0; j < cols; j++)
            xs.AsSpan(xOffset + (i * cols + j) * inner, inner).CopyTo(ys.AsSpan(yOffset + (j * rows + i) * inner, inner));
    }

    /// <inheritdoc/>
    public override void Pad2d(Tensor x, PaddingMode mode, Padding2d pad, Tensor y)
    {
        var (planes, h, w) = CheckPad(x, mode, pad, y, nameof(x), nameof(y));
        if (planes == 0) return;
        int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
        var body = new PadBody(A(x), A(y), h, w, mode, pad);
        if ((long)planes * oh * ow < 1 << 15) { for (int p = 0; p < planes; p++) body.Invoke(p); return; }
        ParallelFor(planes, body);
    }

    private readonly struct PadBody(float[] xs, float[] ys, int h, int w, PaddingMode mode, Padding2d pad) : IParallelBody
    {
        public void Invoke(int p) => PadPlane(xs, ys, p, h, w, mode, pad);
    }

    private static void PadPlane(float[] xs, float[] ys, int p, int h, int w, PaddingMode mode, Padding2d pad)
    {
        int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
        var src = xs.AsSpan(p * h * w, h * w);
        var dst = ys.AsSpan(p * oh * ow, oh * ow);
        for (int i = 0; i < oh; i++)
        {
            var d = dst.Slice(i * ow, ow);
            int si = NaiveConv.SourceIndex(i - pad.Top, h, mode);
            if (si < 0) { d.Clear(); continue; }
            var s = src.Slice(si * w, w);
            for (int j = 0; j < pad.Left; j++) { int sj = NaiveConv.SourceIndex(j - pad.Left, w, mode); d[j] = sj < 0 ? 0f : s[sj]; }
            s.CopyTo(d.Slice(pad.Left, w));
            for (int j = pad.Left + w; j < ow; j++) { int sj = NaiveConv.SourceIndex(j - pad.Left, w, mode); d[j] = sj < 0 ? 0f : s[sj]; }
        }
    }

    /// <inheritdoc/>
    public override void Pad2dBackward(Tensor dY, PaddingMode mode, Padding2d pad, Tensor dX)
    {
        var (planes, h, w) = CheckPad(dX, mode, pad, dY, nameof(dX), nameof(dY));
        if (planes == 0) return;
        int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
        var body = new PadBackwardBody(A(dY), A(dX), h, w, mode, pad);
        if ((long)planes * oh * ow < 1 << 15) { for (int p = 0; p < planes; p++) body.Invoke(p); return; }
        ParallelFor(planes, body);
    }

    private readonly struct PadBackwardBody(float[] ys, float[] xs, int h, int w, PaddingMode mode, Padding2d pad) : IParallelBody
    {
        public void Invoke(int p) => PadBackwardPlane(ys, xs, p, h, w, mode, pad);
    }

    // Rows of dY in order; within a row: left border, the copied middle (one vector add), right border. Each dX cell thus
    // receives its contributions in the naive row-major order.
    private static void PadBackwardPlane(float[] ys, float[] xs, int p, int h, int w, PaddingMode mode, Padding2d pad)
    {
        int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
        var src = ys.AsSpan(p * oh * ow, oh * ow);
        var dst = xs.AsSpan(p * h * w, h * w);
        dst.Clear();
        for (int i = 0; i < oh; i++)
        {
            int si = NaiveConv.SourceIndex(i - pad.Top, h, mode);
            if (si < 0) continue;
            var s = src.Slice(i * ow, ow);
            var d = dst.Slice(si * w, w);
            for (int j = 0; j < pad.Left; j++) { int sj = NaiveConv.SourceIndex(j - pad.Left, w, mode); if (sj >= 0) d[sj] += s[j]; }
            TensorPrimitives.Add(d, s.Slice(pad.Left, w), d);
            for (int j = pad.Left + w; j < ow; j++) { int sj = NaiveConv.SourceIndex(j - pad.Left, w, mode); if (sj >= 0) d[sj] += s[j]; }
        }
    }

    // Checks rank, length and non-negative padding; returns (planes, H, W) of the unpadded tensor. Reflect padding that is not
    // smaller than the plane is a caller error (Conv2d rejects it as PyTorch does); here it folds back like the naive SourceIndex.
    private static (int Planes, int H, int W) CheckPad(Tensor small, PaddingMode mode, Padding2d pad, Tensor big, string smallArg, string bigArg)
    {
        if (pad.Top < 0 || pad.Bottom < 0 || pad.Left < 0 || pad.Right < 0)
            throw new ArgumentOutOfRangeException(nameof(pad), pad, "Padding amounts must be zero or positive.");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown padding mode.");
        if (small.Rank < 2) throw new ArgumentException($"Expected a tensor with at least two dimensions (.., H, W) but got {small.ShapeString}.", smallArg);
        int h = small.Dim(-2), w = small.Dim(-1);
        int planes = h * w == 0 ? 0 : small.Length / (h * w);
        NeedLength(big, (long)planes * (h + pad.Top + pad.Bottom) * (w + pad.Left + pad.Right), bigArg);
        return (planes, h, w);
    }
}
