// Implicit GEMM: B panels packed straight from the images, so a convolution never writes its column matrix to memory.
//
// B is rows [rowOffset, rowOffset + K) of the im2col matrix of a chunk of images (see IDevice.Im2ColBatch): row
// (c·KH + kh)·KW + kw, column b·OH·OW + oh·OW + ow holds x[b, c, oh·sH − pH + kh·dH, ow·sW − pW + kw·dW] (0 outside).
// A panel covers NR consecutive columns; they split at output-row boundaries into runs (a run is part of one output row
// of one image), found once per panel. For each depth p the panel row is then, run by run, "zeros | copy | zeros" with
// the valid interval of the run given by the kernel column kw, exactly as CpuDevice.Im2Col fills a row of col, but into
// the L1-resident panel instead of a matrix in memory: the column matrix (KH·KW times the input) is neither written nor
// read back, which for small channel counts was more time than the arithmetic.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvEngine.Kernels.Gemm;

/// <summary>
/// The clipped walk (<see cref="ClippedRows"/>, and CpuDevice's im2col): consecutive columns of the batched im2col matrix
/// split into runs that lie in one output row of one image (found once per panel), and one im2col row filled over those
/// runs from the images.
/// </summary>
internal static class Im2ColRuns
{
    /// <summary>Ints per run: start in the panel, length, image offset (b·C·H·W), oh, first ow.</summary>
    public const int Stride = 5;

    // This thread's run table for callers whose table is too big for the stack (the callers never nest).
    [ThreadStatic] private static int[]? t_runs;

    /// <summary>A run table of <paramref name="length"/> ints that does not fit the stack: this thread's, reused (stale contents; Build overwrites what it returns).</summary>
    public static Span<int> HeapTable(int length) => Scratch.Get(ref t_runs, length).AsSpan(0, length);

    /// <summary>An upper bound on the runs of <paramref name="count"/> consecutive columns.</summary>
    public static int Max(in ConvGeometry g, int count) => count / Math.Max(1, g.OutW) + 2;

    /// <summary>Splits columns [first, first + count) into runs; returns how many.</summary>
    public static int Build(in ConvGeometry g, int first, int count, Span<int> runs)
    {
        int outW = g.OutW, cols = g.OutH * outW, imageLen = g.Channels * g.Height * g.Width, n = 0;
        int b = first / cols, rem = first % cols, oh = rem / outW, ow = rem % outW;
        for (int filled = 0; filled < count;)
        {
            int len = Math.Min(count - filled, outW - ow);
            var r = runs.Slice(n++ * Stride, Stride);
            r[0] = filled; r[1] = len; r[2] = b * imageLen; r[3] = oh; r[4] = ow;
            filled += len;
            ow = 0;
            if (++oh == g.OutH) { oh = 0; b++; }
        }
        return n;
    }

    /// <summary>
    /// Writes im2col row <paramref name="row"/> over the runs into dst: per run "zeros | copy | zeros", the copy being the
    /// taps of kernel offset (kh, kw) of channel c that land inside the image (a memcpy for stride 1).
    /// </summary>
    public static unsafe void FillRow(float* x0, in ConvGeometry g, int row, int* runs, int count, float* dst)
    {
        // Geometry in locals: this runs once per depth step of every panel.
        int kernelW = g.KernelW, taps = g.KernelH * kernelW, width = g.Width, height = g.Height, plane = height * width;
        int strideH = g.StrideH, strideW = g.StrideW;
        int c = row / taps, t = row % taps, kh = t / kernelW, kw = t % kernelW;
        int offH = kh * g.DilationH - g.PadH, offW = kw * g.DilationW - g.PadW;
        var (lo, hi) = CpuDevice.ValidRange(offW, strideW, width, g.OutW);
        float* xc = x0 + (long)c * plane + offW;
        for (int* run = runs, end = runs + count * Stride; run < end; run += Stride)
        {
            int len = run[1], ow0 = run[4];
            float* dr = dst + run[0];
            int ih = run[3] * strideH + offH;
            int a = Math.Max(ow0, lo), e = Math.Min(ow0 + len, hi);
            if ((uint)ih >= (uint)height || a >= e) { Clear(dr, len); continue; }
            if (a > ow0) Clear(dr, a - ow0);
            float* src = xc + run[2] + (long)ih * width + a * strideW;
            float* dd = dr + (a - ow0);
            if (strideW == 1) Unsafe.CopyBlockUnaligned(dd, src, (uint)((e - a) * sizeof(float)));
            else if (strideW == 2) CopyEven(src, dd, e - a);
            else for (int j = 0, s = 0; j < e - a; j++, s += strideW) dd[j] = src[s];
            if (e < ow0 + len) Clear(dr + (e - ow0), ow0 + len - e);
        }
    }

    /// <summary>
    /// dst[j] = src[2·j] for j &lt; n (stride-2 taps): 16 at a time from two zmm through one two-source permute, never
    /// reading past src[2·(n − 1)]; the last 1–16 with masked loads and a masked store (a 28-wide output row: one
    /// full step and one masked, where an 8-wide step and four scalar copies used to follow the first).
    /// </summary>
    public static unsafe void CopyEven(float* src, float* dst, int n)
    {
        int j = 0;
        if (Avx512F.IsSupported)
        {
            var even = Simd.Lanes512.Evens;
            for (; j + 17 <= n; j += 16)
                Avx512F.PermuteVar16x32x2(Vector512.Load(src + 2 * j), even, Vector512.Load(src + 2 * j + 16)).Store(dst + j);
            if (j < n)
            {
                int need = 2 * (n - j) - 1;   // src[2j .. 2n − 2]
                var z = Vector512<float>.Zero;
                var lo = Avx512F.MaskLoad(src + 2 * j, Simd.Lanes512.First(need), z);
                var hi = Avx512F.MaskLoad(src + 2 * j + 16, Simd.Lanes512.First(need - 16), z);
                Avx512F.MaskStore(dst + j, Simd.Lanes512.First(n - j), Avx512F.PermuteVar16x32x2(lo, even, hi));
            }
            return;
        }
        for (; j < n; j++) dst[j] = src[2 * j];
    }

    /// <summary>Zeroes n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Clear(float* p, int n) => Unsafe.InitBlockUnaligned(p, 0, (uint)(n * sizeof(float)));
}

/// <summary>
/// How the rows of an im2col view are filled: the clipped walk over the images (<see cref="ClippedRows"/>, any geometry)
/// or vector copies from a padded chunk (<see cref="PaddedRows"/>, stride 1). The two GEMM B operands below
/// (<see cref="Im2ColB{TR}"/>, <see cref="Im2ColTB{TR}"/>) do the rest the same way for both.
/// </summary>
internal interface IIm2ColRows
{
    /// <summary>The ints a run table for <paramref name="count"/> consecutive columns can need.</summary>
    int MaxRunInts(int count);

    /// <summary>Splits columns [first, first + count) into runs written to <paramref name="runs"/>; returns how many.</summary>
    int Runs(int first, int count, Span<int> runs);

    /// <summary>
    /// Fills im2col rows [row0, row0 + rows) over the runs (which cover <paramref name="length"/> columns) into dst, row p
    /// at dst + p·dstStride. A filler may write past a row's <paramref name="length"/> columns (see each filler), so rows
    /// are filled in increasing order and the caller clears what must be zero afterwards.
    /// </summary>
    unsafe void FillRows(int row0, int rows, int* runs, int count, int length, float* dst, int dstStride);

    /// <summary>The tiling cost model's price of packing one float of a <see cref="Im2ColB{TR}"/> panel (a plain copy: 1).</summary>
    double PackCost { get; }

    /// <summary>The same for a <see cref="Im2ColTB{TR}"/> panel (rows filled, then transposed).</summary>
    double TransposedPackCost { get; }
}

/// <summary>Rows filled from the unpadded images at <c>x</c> by the clipped walk (Im2ColRuns): any stride, padding, dilation.</summary>
internal readonly struct ClippedRows(nint x, ConvGeometry g) : IIm2ColRows
{
    private readonly ConvGeometry _g = g;

    public int MaxRunInts(int count) => Im2ColRuns.Max(_g, count) * Im2ColRuns.Stride;

    public int Runs(int first, int count, Span<int> runs) => Im2ColRuns.Build(_g, first, count, runs);

    public unsafe void FillRows(int row0, int rows, int* runs, int count, int length, float* dst, int dstStride)
    {
        for (int p = 0; p < rows; p++) Im2ColRuns.FillRow((float*)x, _g, row0 + p, runs, count, dst + (long)p * dstStride);
    }

    public double PackCost => 3;

    public double TransposedPackCost => 4;
}

/// <summary>
/// The im2col view of consecutive images (rows [rowOffset, rowOffset + K)) as a GEMM B operand: each panel row is one
/// im2col row filled over the panel's runs, the columns past the matrix edge zeroed last (after any spill of the fill).
/// </summary>
internal readonly struct Im2ColB<TR>(TR rows, int rowOffset) : IBSource where TR : struct, IIm2ColRows
{
    public unsafe void Pack(int p0, int kc, int j0, int nr, int NR, float* dst)
    {
        TR r = rows; // a local: calls on a readonly field of a type parameter would copy it each time
        int max = r.MaxRunInts(nr);
        Span<int> runs = max <= 512 ? stackalloc int[max] : Im2ColRuns.HeapTable(max);
        int count = r.Runs(j0, nr, runs);
        fixed (int* rp = runs)
            r.FillRows(rowOffset + p0, kc, rp, count, nr, dst, NR);
        if (nr < NR)   // after all rows: a fill may write past its row's nr columns
            for (int p = 0; p < kc; p++) Im2ColRuns.Clear(dst + (long)p * NR + nr, NR - nr);
    }

    public bool CanReadInPlace => false;

    public double PackCost => rows.PackCost;

    public unsafe float* InPlace(int p0, int j, out int stride) =>
        throw new NotSupportedException("An im2col view cannot be read in place.");
}

/// <summary>
/// The transposed im2col view (op(B) = colᵀ: depth p runs over the chunk's output pixels b·OH·OW + oh·OW + ow, column j over
/// im2col rows rowOffset + j) as a GEMM B operand: the weight gradient dW = dY'·colᵀ without the column matrix.
/// Each of the panel's NR rows of col is filled over the kc pixels into a per-thread row buffer, then moved into the
/// [p][NR] panel with 8x8 register transposes (the transposing PackB).
/// </summary>
internal readonly struct Im2ColTB<TR>(TR rows, int rowOffset) : IBSource where TR : struct, IIm2ColRows
{
    [ThreadStatic] private static float[]? t_rows;

    public unsafe void Pack(int p0, int kc, int j0, int nr, int NR, float* dst)
    {
        TR r = rows;
        int stride = (kc + 7) & ~7; // row length in the buffer, padded to whole 8x8 blocks
        var buffer = Scratch.Get(ref t_rows, NR * stride + PaddedIm2Col.Slack); // Slack: the last row's fill may spill
        int max = r.MaxRunInts(kc);
        Span<int> runs = max <= 1024 ? stackalloc int[max] : Im2ColRuns.HeapTable(max);
        int count = r.Runs(p0, kc, runs);
        fixed (int* rp = runs)
        fixed (float* rb = buffer)
        {
            r.FillRows(rowOffset + j0, nr, rp, count, kc, rb, stride);
            // after all rows: a fill may write past its row's kc columns
            if (stride > kc)
                for (int jj = 0; jj < nr; jj++) Im2ColRuns.Clear(rb + (long)jj * stride + kc, stride - kc);
            if (nr < NR) Im2ColRuns.Clear(rb + (long)nr * stride, (NR - nr) * stride);
            BlockedGemm.PackB(rb, stride, true, 0, kc, 0, NR, NR, dst);
        }
    }

    public bool CanReadInPlace => false;

    public double PackCost => rows.TransposedPackCost;

    public unsafe float* InPlace(int p0, int j, out int stride) =>
        throw new NotSupportedException("An im2col view cannot be read in place.");
}

// Stride 1 from a zero-padded copy. With the images padded into xp (Hp = H + 2·pH rows of Wp = W + 2·pW), im2col row
// k = (c, kh, kw) at output (b, oh, ow) is xp[b][c][oh + kh·dH][ow + kw·dW] = xp_flat[src(b, oh, ow) + off(k)] with
// src = b·ImageStride + oh·Wp + ow and off(k) = c·Plane + kh·dH·Wp + kw·dW: every run of a panel (part of one output row)
// is then one contiguous copy, with no bounds to clip. The copies move whole vectors and may write up to one vector
// past a run's end; runs and rows are filled in increasing address order, so the next run, row or panel overwrites that
// spill, and the panel's zero tail is written last. Without padding the images are read in place when the array has
// Slack floats after them (the vector copies read that far). Packing a 7x7-plane panel this way costs a few vector moves
// per depth step instead of a clipped memcpy per run (resnet_l4's forward packs 1.8 M floats per call).

/// <summary>Where im2col row k of a padded (or unpadded, read in place) chunk of images starts, relative to output (0, 0, 0).</summary>
internal readonly struct PaddedView(int wp, int plane, int imageStride, int outW, int outH, int firstChannel, in ConvGeometry g)
{
    public readonly int Wp = wp, Plane = plane, ImageStride = imageStride, OutW = outW, OutH = outH, FirstChannel = firstChannel;
    public readonly int KernelW = g.KernelW, Taps = g.KernelH * g.KernelW, DilationH = g.DilationH, DilationW = g.DilationW;

    /// <summary>off(k) for im2col row <paramref name="row"/> (counted over all channels).</summary>
    public int RowOffset(int row)
    {
        int c = row / Taps - FirstChannel, t = row % Taps;
        return c * Plane + t / KernelW * DilationH * Wp + t % KernelW * DilationW;
    }

    /// <summary>Splits columns [first, first + count) into runs (panel start, length, src); returns how many.</summary>
    public int Runs(int first, int count, Span<int> runs)
    {
        int cols = OutH * OutW, n = 0;
        int b = first / cols, rem = first % cols, oh = rem / OutW, ow = rem % OutW;
        for (int filled = 0; filled < count;)
        {
            int len = Math.Min(count - filled, OutW - ow);
            runs[n * 3] = filled; runs[n * 3 + 1] = len; runs[n * 3 + 2] = b * ImageStride + oh * Wp + ow;
            n++;
            filled += len;
            ow = 0;
            if (++oh == OutH) { oh = 0; b++; }
        }
        return n;
    }

    /// <summary>Copies the runs of source row <paramref name="src"/> (xp + off(k)) into <paramref name="dst"/>; may spill one vector past each run.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void CopyRuns(float* src, int* runs, int count, float* dst)
    {
        for (int* r = runs, end = runs + 3 * count; r < end; r += 3)
        {
            float* s = src + r[2], d = dst + r[0];
            int len = r[1];
            if (Vector512.IsHardwareAccelerated)
                for (int i = 0; i < len; i += 16) Vector512.Store(Vector512.Load(s + i), d + i);
            else
                for (int i = 0; i < len; i += 8) Vector256.Store(Vector256.Load(s + i), d + i);
        }
    }
}

/// <summary>The padded copy behind <see cref="PaddedRows"/>.</summary>
internal static class PaddedIm2Col
{
    /// <summary>Floats the vector copies may read past the last image and write past a run, a row or a panel.</summary>
    public const int Slack = 32;

    [ThreadStatic] private static float[]? t_xp;

    /// <summary>Stride 1 and 256-bit vectors: the padded source applies; otherwise the clipped walk (Im2ColRuns).</summary>
    public static bool Applies(in ConvGeometry g) => g.StrideH == 1 && g.StrideW == 1 && Vector256.IsHardwareAccelerated;

    /// <summary>
    /// The source for rows [rowOffset, rowOffset + rows) of the im2col matrix of <paramref name="images"/> images at element
    /// <paramref name="xOffset"/> of x: the channels those rows use, padded into this thread's buffer (returned, with the
    /// element where image 0's first used channel starts), or x itself when there is no padding and Slack floats follow.
    /// </summary>
    public static float[] Prepare(CpuDevice device, float[] x, int xOffset, int images, in ConvGeometry g, int rowOffset, int rows,
                                  out PaddedView view, out int start)
    {
        int taps = g.KernelH * g.KernelW, c0 = rowOffset / taps, c1 = (rowOffset + rows + taps - 1) / taps, ch = c1 - c0;
        int h = g.Height, w = g.Width, imageLen = g.Channels * h * w;
        if (g.PadH == 0 && g.PadW == 0 && x.Length - ((long)xOffset + (long)images * imageLen) >= Slack)
        {
            view = new PaddedView(w, h * w, imageLen, g.OutW, g.OutH, c0, g);
            start = xOffset + c0 * h * w;
            return x;
        }
        int wp = w + 2 * g.PadW, hp = h + 2 * g.PadH, plane = hp * wp, stride = ch * plane;
        long total = (long)images * stride + Slack;
        if (total > Array.MaxLength) throw new InvalidOperationException($"A padded chunk of {total} floats is too large.");
        var xp = Scratch.Get(ref t_xp, (int)total);
        var body = new PadPlanes(x, xOffset, xp, g, c0, ch, plane, stride);
        int planes = images * ch;
        if (device.Threads > 1 && (long)planes * plane >= 1 << 16) device.ParallelFor(planes, body);
        else for (int i = 0; i < planes; i++) body.Invoke(i);
        xp.AsSpan((int)(total - Slack), Slack).Clear();
        view = new PaddedView(wp, plane, stride, g.OutW, g.OutH, c0, g);
        start = 0;
        return xp;
    }

    // Plane i = (image i / ch, channel c0 + i % ch): zero border rows and columns around a copy of the channel.
    private readonly struct PadPlanes(float[] x, int xOffset, float[] xp, ConvGeometry g, int c0, int ch, int plane, int stride)
        : IParallelBody
    {
        public void Invoke(int i)
        {
            int b = i / ch, c = c0 + i % ch, h = g.Height, w = g.Width, ph = g.PadH, pw = g.PadW;
            var src = x.AsSpan(xOffset + (b * g.Channels + c) * h * w, h * w);
            PadPlane(src, xp.AsSpan(b * stride + (c - c0) * plane, plane), h, w, ph, pw);
        }
    }

    /// <summary>
    /// Writes the h x w plane <paramref name="src"/> into <paramref name="dst"/> ((h + 2·ph) x (w + 2·pw), row-major) with
    /// a zero border: ph rows above and below, pw columns left and right.
    /// </summary>
    public static unsafe void PadPlane(ReadOnlySpan<float> src, Span<float> dst, int h, int w, int ph, int pw)
    {
        int wp = w + 2 * pw, hp = h + 2 * ph;
        if (src.Length < h * w || dst.Length < hp * wp)
            throw new ArgumentException($"PadPlane needs {h * w} source and {hp * wp} destination floats, got {src.Length} and {dst.Length}.");
        // Pointers, not spans per row: a 14-wide row is a handful of floats, and slicing and clearing three spans per row
        // cost more than the copy (8 x 256 planes of 14 x 14 took 0.7 ms).
        fixed (float* s0 = src, d0 = dst)
        {
            Im2ColRuns.Clear(d0, ph * wp + pw);
            float* s = s0, d = d0 + ph * wp + pw;
            for (int r = 0; r < h; r++, s += w, d += wp)
            {
                Unsafe.CopyBlockUnaligned(d, s, (uint)(w * sizeof(float)));
                // this row's right border and the next row's left border are adjacent: 2·pw zeros (pw after the last row)
                float* z = d + w;
                for (int j = 0, zeros = r < h - 1 ? 2 * pw : pw; j < zeros; j++) z[j] = 0f;
            }
            // The bottom border rows.
            Im2ColRuns.Clear(d0 + (ph + h) * wp, ph * wp);
        }
    }
}

/// <summary>Rows copied from a padded chunk at <c>xp</c> (stride 1, see PaddedView): whole-vector run copies that may spill one vector past a run.</summary>
internal readonly struct PaddedRows(nint xp, PaddedView view) : IIm2ColRows
{
    private readonly PaddedView _view = view;

    public int MaxRunInts(int count) => (count / Math.Max(1, _view.OutW) + 2) * 3;

    public int Runs(int first, int count, Span<int> runs) => _view.Runs(first, count, runs);

    /// <summary>The longest row the permuting fill handles (its plan lives on the stack): two KC blocks.</summary>
    public const int MaxPermuteLength = 512;

    /// <summary>
    /// Consecutive rows advance (channel, kernel row, kernel column) like an odometer, so each row's offset off(k) is one
    /// add from the last (no divisions per row). Rows of narrow planes (OW &lt; 16: runs shorter than a vector) are
    /// filled 16 columns at a time by one two-register permute (AVX-512) when those columns lie within 32 floats of
    /// the source (true for the 7x7 and 14x14 planes: 16 columns span at most two and a bit rows, unless they cross into
    /// the next image: then one by one); the plan (a base offset and an index vector per 16 columns) is built once for
    /// all rows. Wider planes copy each run with whole vectors.
    /// Either way a row's fill may write up to one vector past its <c>length</c> columns.
    /// </summary>
    public unsafe void FillRows(int row0, int rows, int* runs, int count, int length, float* dst, int dstStride)
    {
        var v = _view;
        int kw = v.KernelW, kh = v.Taps / kw, t = row0 % v.Taps;
        int ky = t / kw, kx = t % kw, off = v.RowOffset(row0);
        int stepH = v.DilationH * v.Wp - kw * v.DilationW, stepC = v.Plane - kh * v.DilationH * v.Wp;
        float* x = (float*)xp;
        if (Avx512F.IsSupported && v.OutW < 16 && length <= MaxPermuteLength && rows > 1)
        {
            int groups = (length + 15) / 16;
            int* bases = stackalloc int[groups];
            int* idx = stackalloc int[groups * 16];
            PermutePlan(runs, count, length, groups, bases, idx);
            for (int p = 0; p < rows; p++)
            {
                float* s = x + off, d = dst + (long)p * dstStride;
                for (int gi = 0; gi < groups; gi++)
                {
                    int* ix = idx + 16 * gi;
                    if (bases[gi] >= 0)
                    {
                        float* sg = s + bases[gi];
                        Avx512F.PermuteVar16x32x2(Vector512.Load(sg), Vector512.Load(ix), Vector512.Load(sg + 16)).Store(d + 16 * gi);
                    }
                    else
                        for (int l = 0; l < 16; l++) d[16 * gi + l] = s[ix[l]];
                }
                if (++kx == kw) { kx = 0; off += stepH; if (++ky == kh) { ky = 0; off += stepC; } }
                off += v.DilationW;
            }
            return;
        }
        for (int p = 0; p < rows; p++)
        {
            PaddedView.CopyRuns(x + off, runs, count, dst + (long)p * dstStride);
            if (++kx == kw) { kx = 0; off += stepH; if (++ky == kh) { ky = 0; off += stepC; } }
            off += v.DilationW;
        }
    }

    // The source offset of each of the row's columns, grouped by 16: group g reads the 32 floats at bases[g] and picks
    // lane l from idx[16·g + l]. Columns past length repeat the last column (their values are overwritten later). A group
    // whose columns spread over 32 floats or more (it crosses an image boundary) gets base −1 and keeps its absolute
    // offsets: its 16 values are moved one by one.
    private static unsafe void PermutePlan(int* runs, int count, int length, int groups, int* bases, int* idx)
    {
        int* cols = idx;   // source offsets first, made relative per group below
        for (int* r = runs, end = runs + 3 * count; r < end; r += 3)
            for (int i = 0, start = r[0], len = r[1], src = r[2]; i < len; i++) cols[start + i] = src + i;
        for (int j = length; j < groups * 16; j++) cols[j] = cols[length - 1];
        for (int gi = 0; gi < groups; gi++)
        {
            int b = cols[16 * gi];
            // offsets increase along a row, so the last lane is the farthest
            if (cols[16 * gi + 15] - b >= 32) { bases[gi] = -1; continue; }
            bases[gi] = b;
            for (int l = 0; l < 16; l++) idx[16 * gi + l] -= b;
        }
    }

    public double PackCost => 1.5;

    public double TransposedPackCost => 3;
}
