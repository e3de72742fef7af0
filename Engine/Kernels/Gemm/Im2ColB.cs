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

/// <summary>The im2col view of consecutive images at <c>x</c> (element 0 of the chunk's first image) as a GEMM B operand.</summary>
internal readonly struct Im2ColB(nint x, ConvGeometry g, int rowOffset) : IBSource
{
    public unsafe void Pack(int p0, int kc, int j0, int nr, int NR, float* dst)
    {
        int outW = g.OutW, cols = g.OutH * outW, plane = g.Height * g.Width, imageLen = g.Channels * plane, taps = g.KernelH * g.KernelW;
        // Runs of the panel's columns: (start in the panel, length, image·imageLen, oh, first ow).
        int maxRuns = nr / Math.Max(1, outW) + 2;
        Span<int> runs = maxRuns * 5 <= 512 ? stackalloc int[maxRuns * 5] : new int[maxRuns * 5];
        int count = 0;
        {
            int b = j0 / cols, rem = j0 % cols, oh = rem / outW, ow = rem % outW;
            for (int filled = 0; filled < nr;)
            {
                int len = Math.Min(nr - filled, outW - ow);
                runs[count * 5] = filled; runs[count * 5 + 1] = len; runs[count * 5 + 2] = b * imageLen;
                runs[count * 5 + 3] = oh; runs[count * 5 + 4] = ow;
                count++;
                filled += len;
                ow = 0;
                if (++oh == g.OutH) { oh = 0; b++; }
            }
        }
        float* x0 = (float*)x;
        for (int p = 0; p < kc; p++)
        {
            int row = rowOffset + p0 + p;
            int c = row / taps, t = row % taps, kh = t / g.KernelW, kw = t % g.KernelW;
            int offH = kh * g.DilationH - g.PadH, offW = kw * g.DilationW - g.PadW;
            var (lo, hi) = CpuDevice.ValidRange(offW, g.StrideW, g.Width, outW);
            float* d = dst + (long)p * NR;
            for (int r = 0; r < count; r++)
            {
                int start = runs[r * 5], len = runs[r * 5 + 1], oh = runs[r * 5 + 3], ow0 = runs[r * 5 + 4];
                float* dr = d + start;
                int ih = oh * g.StrideH + offH;
                int a = Math.Max(ow0, lo), e = Math.Min(ow0 + len, hi);
                if ((uint)ih >= (uint)g.Height || a >= e) { Clear(dr, len); continue; }
                if (a > ow0) Clear(dr, a - ow0);
                float* src = x0 + runs[r * 5 + 2] + (long)c * plane + (long)ih * g.Width + a * g.StrideW + offW;
                float* dd = dr + (a - ow0);
                if (g.StrideW == 1) Unsafe.CopyBlockUnaligned(dd, src, (uint)((e - a) * sizeof(float)));
                else for (int j = 0, s = 0; j < e - a; j++, s += g.StrideW) dd[j] = src[s];
                if (e < ow0 + len) Clear(dr + (e - ow0), ow0 + len - e);
            }
            if (nr < NR) Clear(d + nr, NR - nr);
        }
    }

    public unsafe float* InPlace(int p0, int j, out int stride) =>
        throw new NotSupportedException("An im2col view cannot be read in place.");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Clear(float* p, int n) => Unsafe.InitBlockUnaligned(p, 0, (uint)(n * sizeof(float)));
}

/// <summary>
/// The transposed im2col view (op(B) = colᵀ: depth p runs over the chunk's output pixels b·OH·OW + oh·OW + ow, column j over
/// im2col rows rowOffset + j) as a GEMM B operand: the weight gradient dW = dY'·colᵀ without the column matrix.
/// Each of the panel's NR rows of col is gathered over the kc pixels into a per-thread row buffer (runs along output rows,
/// as in <see cref="Im2ColB"/>), then moved into the [p][NR] panel with 8x8 register transposes.
/// </summary>
internal readonly struct Im2ColTB(nint x, ConvGeometry g, int rowOffset) : IBSource
{
    [ThreadStatic] private static float[]? t_rows;

    public unsafe void Pack(int p0, int kc, int j0, int nr, int NR, float* dst)
    {
        int outW = g.OutW, cols = g.OutH * outW, plane = g.Height * g.Width, imageLen = g.Channels * plane, taps = g.KernelH * g.KernelW;
        int stride = (kc + 7) & ~7; // row length in the buffer, padded to whole 8x8 blocks
        int need = NR * stride;
        var rows = t_rows is { } tr && tr.Length >= need ? tr : (t_rows = GC.AllocateUninitializedArray<float>(Math.Max(need, 1 << 14), pinned: true));
        int maxRuns = kc / Math.Max(1, outW) + 2;
        Span<int> runs = maxRuns * 5 <= 1024 ? stackalloc int[maxRuns * 5] : new int[maxRuns * 5];
        int count = 0;
        {
            int b = p0 / cols, rem = p0 % cols, oh = rem / outW, ow = rem % outW;
            for (int filled = 0; filled < kc;)
            {
                int len = Math.Min(kc - filled, outW - ow);
                runs[count * 5] = filled; runs[count * 5 + 1] = len; runs[count * 5 + 2] = b * imageLen;
                runs[count * 5 + 3] = oh; runs[count * 5 + 4] = ow;
                count++;
                filled += len;
                ow = 0;
                if (++oh == g.OutH) { oh = 0; b++; }
            }
        }
        float* x0 = (float*)x;
        fixed (float* rb = rows)
        {
            for (int jj = 0; jj < NR; jj++)
            {
                float* d = rb + (long)jj * stride;
                if (jj >= nr) { Clear(d, stride); continue; }
                int row = rowOffset + j0 + jj;
                int c = row / taps, t = row % taps, kh = t / g.KernelW, kw = t % g.KernelW;
                int offH = kh * g.DilationH - g.PadH, offW = kw * g.DilationW - g.PadW;
                var (lo, hi) = CpuDevice.ValidRange(offW, g.StrideW, g.Width, outW);
                for (int r = 0; r < count; r++)
                {
                    int start = runs[r * 5], len = runs[r * 5 + 1], oh = runs[r * 5 + 3], ow0 = runs[r * 5 + 4];
                    float* dr = d + start;
                    int ih = oh * g.StrideH + offH;
                    int a = Math.Max(ow0, lo), e = Math.Min(ow0 + len, hi);
                    if ((uint)ih >= (uint)g.Height || a >= e) { Clear(dr, len); continue; }
                    if (a > ow0) Clear(dr, a - ow0);
                    float* src = x0 + runs[r * 5 + 2] + (long)c * plane + (long)ih * g.Width + a * g.StrideW + offW;
                    float* dd = dr + (a - ow0);
                    if (g.StrideW == 1) Unsafe.CopyBlockUnaligned(dd, src, (uint)((e - a) * sizeof(float)));
                    else for (int j = 0, s = 0; j < e - a; j++, s += g.StrideW) dd[j] = src[s];
                    if (e < ow0 + len) Clear(dr + (e - ow0), ow0 + len - e);
                }
                if (stride > kc) Clear(d + kc, stride - kc);
            }
            // rows [jj][p] → panel [p][jj]: a transposing pack of a full NR x stride block (PackB with op(B) = Bᵀ).
            BlockedGemm.PackB(rb, stride, true, 0, kc, 0, NR, NR, dst);
        }
    }

    public unsafe float* InPlace(int p0, int j, out int stride) =>
        throw new NotSupportedException("An im2col view cannot be read in place.");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Clear(float* p, int n) => Unsafe.InitBlockUnaligned(p, 0, (uint)(n * sizeof(float)));
}
