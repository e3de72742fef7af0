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

namespace ConvEngine.Kernels.Gemm;

/// <summary>
/// The walk both im2col views share: consecutive columns of the batched im2col matrix split into runs that lie in one
/// output row of one image (found once per panel), and one im2col row filled over those runs from the images.
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
            else for (int j = 0, s = 0; j < e - a; j++, s += strideW) dd[j] = src[s];
            if (e < ow0 + len) Clear(dr + (e - ow0), ow0 + len - e);
        }
    }

    /// <summary>Zeroes n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Clear(float* p, int n) => Unsafe.InitBlockUnaligned(p, 0, (uint)(n * sizeof(float)));
}

/// <summary>The im2col view of consecutive images at <c>x</c> (element 0 of the chunk's first image) as a GEMM B operand.</summary>
internal readonly struct Im2ColB(nint x, ConvGeometry g, int rowOffset) : IBSource
{
    public unsafe void Pack(int p0, int kc, int j0, int nr, int NR, float* dst)
    {
        int max = Im2ColRuns.Max(g, nr) * Im2ColRuns.Stride;
        Span<int> runs = max <= 512 ? stackalloc int[max] : Im2ColRuns.HeapTable(max);
        int count = Im2ColRuns.Build(g, j0, nr, runs);
        var geo = g;
        fixed (int* rp = runs)
            for (int p = 0; p < kc; p++)
            {
                float* d = dst + (long)p * NR;
                Im2ColRuns.FillRow((float*)x, geo, rowOffset + p0 + p, rp, count, d);
                if (nr < NR) Im2ColRuns.Clear(d + nr, NR - nr);
            }
    }

    public bool CanReadInPlace => false;

    public double PackCost => 3;

    public unsafe float* InPlace(int p0, int j, out int stride) =>
        throw new NotSupportedException("An im2col view cannot be read in place.");
}

/// <summary>
/// The transposed im2col view (op(B) = colᵀ: depth p runs over the chunk's output pixels b·OH·OW + oh·OW + ow, column j over
/// im2col rows rowOffset + j) as a GEMM B operand: the weight gradient dW = dY'·colᵀ without the column matrix.
/// Each of the panel's NR rows of col is filled over the kc pixels into a per-thread row buffer, then moved into the
/// [p][NR] panel with 8x8 register transposes (the transposing PackB).
/// </summary>
internal readonly struct Im2ColTB(nint x, ConvGeometry g, int rowOffset) : IBSource
{
    [ThreadStatic] private static float[]? t_rows;

    public unsafe void Pack(int p0, int kc, int j0, int nr, int NR, float* dst)
    {
        int stride = (kc + 7) & ~7; // row length in the buffer, padded to whole 8x8 blocks
        int need = NR * stride;
        var rows = t_rows is { } tr && tr.Length >= need ? tr : (t_rows = GC.AllocateUninitializedArray<float>(Math.Max(need, 1 << 14), pinned: true));
        int max = Im2ColRuns.Max(g, kc) * Im2ColRuns.Stride;
        Span<int> runs = max <= 1024 ? stackalloc int[max] : Im2ColRuns.HeapTable(max);
        int count = Im2ColRuns.Build(g, p0, kc, runs);
        var geo = g;
        fixed (int* rp = runs)
        fixed (float* rb = rows)
        {
            for (int jj = 0; jj < NR; jj++)
            {
                float* d = rb + (long)jj * stride;
                if (jj >= nr) { Im2ColRuns.Clear(d, stride); continue; }
                Im2ColRuns.FillRow((float*)x, geo, rowOffset + j0 + jj, rp, count, d);
                if (stride > kc) Im2ColRuns.Clear(d + kc, stride - kc);
            }
            BlockedGemm.PackB(rb, stride, true, 0, kc, 0, NR, NR, dst);
        }
    }

    public bool CanReadInPlace => false;

    public double PackCost => 4;

    public unsafe float* InPlace(int p0, int j, out int stride) =>
        throw new NotSupportedException("An im2col view cannot be read in place.");
}
