using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvEngine;

// Fast pooling: the same arithmetic as Reference/NaivePooling.cs in the same order (bitwise equal results), with the
// window bounds of every output row and column computed once instead of per cell, pointer loops over planes whose lengths are
// checked up front (windows are clipped to the plane by PoolGeometry), and planes spread over threads (each plane of y / dX is written by exactly one work item).
// Max pooling keeps the naive tie rules: the first maximum in row-major window order wins, and the first NaN wins outright.
// Average pooling accumulates each window in double in row-major order and divides once, exactly as the naive loop.
public sealed partial class CpuDevice
{
    // Below this many touched elements the whole job runs on the calling thread.
    private const int PoolSerialThreshold = 1 << 14;

    // The calling thread's window table (see Plan), read by the work items of one pooling call.
    [ThreadStatic] private static int[]? t_poolWindows;

    /// <summary>
    /// Window bounds of every output row and column in one array: start, end and padded count of the OH row windows,
    /// then the same for the OW column windows.
    /// </summary>
    private readonly struct PoolPlan(int[] windows, int oh, int ow)
    {
        public ReadOnlySpan<int> R0 => windows.AsSpan(0, oh);
        public ReadOnlySpan<int> R1 => windows.AsSpan(oh, oh);
        public ReadOnlySpan<int> RP => windows.AsSpan(2 * oh, oh);
        public ReadOnlySpan<int> C0 => windows.AsSpan(3 * oh, ow);
        public ReadOnlySpan<int> C1 => windows.AsSpan(3 * oh + ow, ow);
        public ReadOnlySpan<int> CP => windows.AsSpan(3 * oh + 2 * ow, ow);
    }

    private static PoolPlan Plan(in PoolGeometry g)
    {
        int oh = g.OutH, ow = g.OutW;
        var win = Scratch.Get(ref t_poolWindows, 3 * (oh + ow));
        for (int i = 0; i < oh; i++) (win[i], win[oh + i], win[2 * oh + i]) = g.RowWindow(i);
        for (int j = 0; j < ow; j++) (win[3 * oh + j], win[3 * oh + ow + j], win[3 * oh + 2 * ow + j]) = g.ColWindow(j);
        return new PoolPlan(win, oh, ow);
    }

    private void ForPlanes<T>(int planes, long work, in T body) where T : struct, IParallelBody
    {
        if (work < PoolSerialThreshold) { for (int p = 0; p < planes; p++) body.Invoke(p); return; }
        ParallelFor(planes, body);
    }

    private static void CheckPoolGeometry(in PoolGeometry g)
    {
        if (g.Height <= 0 || g.Width <= 0 || g.OutH < 0 || g.OutW < 0)
            throw new ArgumentException($"Invalid pooling geometry: input {g.Height}x{g.Width}, output {g.OutH}x{g.OutW}.", nameof(g));
    }

    /// <inheritdoc/>
    public override void MaxPool2d(Tensor x, in PoolGeometry g, Tensor y)
    {
        CheckPoolGeometry(g);
        int planes = PlaneCount(x, g);
        NeedLength(y, (long)planes * g.OutH * g.OutW, nameof(y));
        int h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW;
        if (IsMaxPoolStride2(g)) ForPlanes(planes, (long)planes * (h * w + oh * ow), new MaxPoolStride2Body(A(x), null, A(y), g, backward: false));
        else ForPlanes(planes, (long)planes * (h * w + oh * ow), new MaxPoolBody(A(x), A(y), h * w, oh * ow, w, Plan(g)));
    }

    // Plane p of each pooling job: xPlane = H·W and yPlane = OH·OW elements per plane, w the input row length.
    private readonly struct MaxPoolBody(float[] xs, float[] ys, int xPlane, int yPlane, int w, PoolPlan plan) : IParallelBody
    {
        public void Invoke(int p) => MaxPlane(xs, p * xPlane, ys, p * yPlane, w, plan);
    }

    // All pointer arithmetic below stays inside the planes whose lengths were checked above (PlaneCount/NeedLength):
    // window bounds come from PoolGeometry and are clipped to [0, H) × [0, W).
    private static unsafe void MaxPlane(float[] xs, int xOff, float[] ys, int yOff, int w, in PoolPlan plan)
    {
        ReadOnlySpan<int> R0 = plan.R0, R1 = plan.R1, C0 = plan.C0, C1 = plan.C1;
        int oh = R0.Length, ow = C0.Length;
        fixed (float* px0 = xs, py0 = ys)
        {
            float* px = px0 + xOff, py = py0 + yOff;
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int idx = ArgMaxInPlane(px, w, R0[i], R1[i], C0[j], C1[j]);
                    py[i * ow + j] = idx < 0 ? float.NegativeInfinity : px[idx];
                }
        }
    }

    // The index within the plane of the window's first maximum (row-major); the first NaN wins at once; −1 for an empty window.
    // After the first element, "!(v <= best)" is "v > best or v is NaN" because best is never NaN (a NaN returns immediately).
    private static unsafe int ArgMaxInPlane(float* plane, int w, int r0, int r1, int c0, int c1)
    {
        if (r0 >= r1 || c0 >= c1) return -1;
        int best = r0 * w + c0;
        float bestVal = plane[best];
        if (float.IsNaN(bestVal)) return best;
        for (int r = r0; r < r1; r++)
        {
            float* row = plane + r * w;
            for (int c = c0; c < c1; c++)
            {
                float v = row[c];
                if (!(v <= bestVal))
                {
                    best = r * w + c; bestVal = v;
                    if (float.IsNaN(v)) return best;
                }
            }
        }
        return best;
    }

    /// <inheritdoc/>
    public override void MaxPool2dBackward(Tensor x, Tensor dY, in PoolGeometry g, Tensor dX)
    {
        CheckPoolGeometry(g);
        int planes = PlaneCount(x, g);
        NeedLength(dY, (long)planes * g.OutH * g.OutW, nameof(dY));
        NeedLength(dX, (long)planes * g.Height * g.Width, nameof(dX));
        int h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW;
        if (IsMaxPoolStride2(g)) ForPlanes(planes, (long)planes * (h * w + oh * ow), new MaxPoolStride2Body(A(x), A(dY), A(dX), g, backward: true));
        else ForPlanes(planes, (long)planes * (h * w + oh * ow), new MaxPoolBackwardBody(A(x), A(dY), A(dX), h * w, oh * ow, w, Plan(g)));
    }

    // ---- Stride 2 (LeNet's and VGG's 2x2, ResNet's 3x3 with padding 1) on AVX-512 --------------------------------------
    // 16 windows of an output row at a time. Each window element (row r, column offset dc) is one vector: the even lanes of
    // the 32 input floats from column 2j − pW + dc, through a two-source permute, with masked loads at the plane's edges.
    // The maximum and its position follow the scalar rules step by step in window order, as selects instead of branches
    // (the scalar loop's branch on random data mispredicts about every other element: LeNet's first pool took 0.36 ms
    // forward and 0.39 ms backward for 1.2 MB, ResNet's 3x3 pool 20 ms each way for 25.7 MB): an element outside the
    // plane is skipped, the first one inside is taken, and a later one replaces the maximum unless it is ≤ it or the
    // maximum is already NaN. Results are bitwise those of the scalar loop.
    // Backward: 2x2 windows without padding do not overlap, so each window's four inputs are written directly (dY at the
    // maximum, zeros elsewhere; only the last row and column an odd height or width leaves outside every window are
    // cleared). 3x3 windows with padding 0 or 1 build dX row by row (Overlapping3). Otherwise the plane is cleared and dY
    // added at each window's maximum in window order, as the scalar loop.

    // Whether g is a max pool the stride-2 path computes: stride 2 both ways, windows of at most 4x4, padding at most half
    // the window (every window holds an input).
    private static bool IsMaxPoolStride2(in PoolGeometry g) =>
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported && !g.Adaptive && g.StrideH == 2 && g.StrideW == 2
        && g.KernelH is >= 1 and <= 4 && g.KernelW is >= 1 and <= 4 && g.PadH <= g.KernelH / 2 && g.PadW <= g.KernelW / 2;

    // Plane p: y = the window maxima (forward), or dX from dY (backward).
    private readonly unsafe struct MaxPoolStride2Body(float[] xs, float[]? gys, float[] outs, in PoolGeometry g, bool backward) : IParallelBody
    {
        private readonly PoolGeometry _g = g;

        [SkipLocalsInit]   // the position buffer is written before it is read
        public void Invoke(int p)
        {
            int h = _g.Height, w = _g.Width, oh = _g.OutH, ow = _g.OutW;
            int* at = stackalloc int[16];
            fixed (float* x0 = xs, gy0 = gys, o0 = outs)
            {
                float* x = x0 + (long)p * h * w;
                bool disjoint = _g.KernelH == 2 && _g.KernelW == 2 && _g.PadH == 0 && _g.PadW == 0;
                if (!backward)
                {
                    float* y = o0 + (long)p * oh * ow;
                    for (int i = 0; i < oh; i++)
                        for (int j = 0; j < ow; j += 16)
                        {
                            int n = Math.Min(16, ow - j);
                            var best = disjoint ? Window2x2(x + 2 * i * w, w, j, n).Best : Window(x, i, j, n, track: false).Best;
                            if (n == 16) best.Store(y + i * ow + j);
                            else Avx512F.MaskStore(y + i * ow + j, Kernels.Simd.Lanes512.First(n), best);
                        }
                    return;
                }
                float* dx = o0 + (long)p * h * w, dy = gy0 + (long)p * oh * ow;
                if (disjoint)
                {
                    if (2 * oh < h) new Span<float>(dx + 2 * oh * w, (h - 2 * oh) * w).Clear();
                    for (int i = 0; i < oh; i++)
                    {
                        for (int j = 0; j < ow; j += 16) Disjoint(x, dy + i * ow + j, dx, i, j, Math.Min(16, ow - j));
                        if (2 * ow < w) { dx[2 * i * w + w - 1] = 0f; dx[(2 * i + 1) * w + w - 1] = 0f; }
                    }
                    return;
                }
                if (_g.KernelH == 3 && _g.KernelW == 3 && _g.PadH == _g.PadW && _g.PadH <= 1)
                {
                    Overlapping3(x, dy, dx);
                    return;
                }
                new Span<float>(dx, h * w).Clear();
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j += 16)
                    {
                        int n = Math.Min(16, ow - j);
                        Window(x, i, j, n, track: true).At.Store(at);
                        float* g = dy + i * ow + j;
                        for (int l = 0; l < n; l++) dx[at[l]] += g[l];
                    }
            }
        }

        // The maxima of windows (i, j .. j + n − 1) of plane x and, where track, their positions (lanes past n: zeros): in
        // the plane, or with rel as window offsets dr·KW + dc. Blocks of 16 windows whose every element lies inside the
        // plane's columns take the plain loop; those at the left and right edges (padding, a partial last block) mask their
        // loads and skip the elements outside.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private (Vector512<float> Best, Vector512<int> At) Window(float* x, int i, int j, int n, bool track, bool rel = false)
        {
            int w = _g.Width, rb = 2 * i - _g.PadH, r0 = Math.Max(0, rb), r1 = Math.Min(_g.Height, rb + _g.KernelH);
            int first = 2 * j - _g.PadW, kw = _g.KernelW;
            var index = Kernels.Simd.Lanes512.Index;
            var evens = Kernels.Simd.Lanes512.Evens;
            var cols = Vector512.Create(first) + index + index;   // columns of element dc = 0
            if (n == 16 && first >= 0 && first + kw - 1 + 32 <= w)
            {
                float* row = x + r0 * w + first;
                var best = Avx512F.PermuteVar16x32x2(Vector512.Load(row), evens, Vector512.Load(row + 16));
                var at = !track ? default : rel ? Vector512.Create((r0 - rb) * kw) : Vector512.Create(r0 * w) + cols;
                for (int r = r0; r < r1; r++, row += w)
                    for (int dc = r == r0 ? 1 : 0; dc < kw; dc++)
                    {
                        var v = Avx512F.PermuteVar16x32x2(Vector512.Load(row + dc), evens, Vector512.Load(row + dc + 16));
                        var keep = Vector512.LessThanOrEqual(v, best) | ~Vector512.Equals(best, best);
                        best = Vector512.ConditionalSelect(keep, best, v);
                        if (track) at = Vector512.ConditionalSelect(keep.AsInt32(), at, rel ? Vector512.Create((r - rb) * kw + dc) : Vector512.Create(r * w + dc) + cols);
                    }
                return (best, at);
            }
            return Edge(x, r0, r1, rb, first, n, track, rel);
        }

        // Window for a block at the plane's left or right edge: masked loads, elements outside the plane skipped, the first
        // one inside taken. The masks depend on the column offset only, so they are built once per block.
        [SkipLocalsInit]
        private (Vector512<float> Best, Vector512<int> At) Edge(float* x, int r0, int r1, int rb, int first, int n, bool track, bool rel)
        {
            int w = _g.Width, kw = _g.KernelW;
            var index = Kernels.Simd.Lanes512.Index;
            var masks = stackalloc Vector512<int>[3 * 4];   // per dc: raw floats 0..15, 16..31, lanes inside the plane
            for (int dc = 0; dc < kw; dc++)
            {
                int c0 = first + dc;
                var rawLo = Vector512.Create(c0) + index;
                var rawHi = rawLo + Vector512.Create(16);
                var end = Vector512.Create(Math.Min(w, c0 + 2 * n));   // no further than the last window needs
                var cols = rawLo + index;
                masks[3 * dc] = Vector512.GreaterThanOrEqual(rawLo, Vector512<int>.Zero) & Vector512.LessThan(rawLo, end);
                masks[3 * dc + 1] = Vector512.GreaterThanOrEqual(rawHi, Vector512<int>.Zero) & Vector512.LessThan(rawHi, end);
                masks[3 * dc + 2] = Vector512.GreaterThanOrEqual(cols, Vector512<int>.Zero) & Vector512.LessThan(cols, Vector512.Create(w))
                                    & Vector512.LessThan(index, Vector512.Create(n));
            }
            var cols0 = Vector512.Create(first) + index + index;
            var best = Vector512<float>.Zero;
            var at = Vector512<int>.Zero;
            var started = Vector512<int>.Zero;
            for (int r = r0; r < r1; r++)
            {
                float* row = x + r * w + first;
                for (int dc = 0; dc < kw; dc++)
                {
                    var valid = masks[3 * dc + 2];
                    var v = Avx512F.PermuteVar16x32x2(Avx512F.MaskLoad(row + dc, masks[3 * dc].AsSingle(), Vector512<float>.Zero), Kernels.Simd.Lanes512.Evens,
                                                      Avx512F.MaskLoad(row + dc + 16, masks[3 * dc + 1].AsSingle(), Vector512<float>.Zero));
                    var take = (Vector512.LessThanOrEqual(v, best) | ~Vector512.Equals(best, best)).AsInt32();
                    var keep = ~valid | (started & take);
                    best = Vector512.ConditionalSelect(keep.AsSingle(), best, v);
                    if (track) at = Vector512.ConditionalSelect(keep, at, rel ? Vector512.Create((r - rb) * kw + dc) : Vector512.Create(r * w + dc) + cols0);
                    started |= valid;
                }
            }
            return (best, at);
        }

        // dX of 3x3 windows with stride 2 and padding p ≤ 1 (ResNet's, AlexNet's), written row by row without clearing
        // the plane or adding one element at a time. Window (i, j) covers rows 2i − p + dr and columns 2j − p + dc (dr, dc
        // in 0..2), so within an input row an even offset 2l from the block's first column 2j − p gets dY of window j + l
        // − 1 (dc = 2) and then of window j + l (dc = 0), an odd offset only that of window j + l (dc = 1); and row 2i − p
        // + 2 is shared with the next window row (its dr = 0). Each element is summed in the scalar loop's order
        // (+0, then the windows in (i, j) order): a shared row is read back and added to, dc = 2 before dc = 0.
        private void Overlapping3(float* x, float* dy, float* dx)
        {
            int h = _g.Height, w = _g.Width, oh = _g.OutH, ow = _g.OutW, p = _g.PadH;
            var index = Kernels.Simd.Lanes512.Index;
            var z = Vector512<float>.Zero;
            for (int i = 0; i < oh; i++)
            {
                // The previous block's dc = 2 contributions, per kernel row.
                Vector512<float> carry0 = z, carry1 = z, carry2 = z;
                for (int j = 0; j < ow; j += 16)
                {
                    int n = Math.Min(16, ow - j);
                    var (_, k) = Window(x, i, j, n, track: true, rel: true);
                    var g = Avx512F.MaskLoad(dy + i * ow + j, Kernels.Simd.Lanes512.First(n), z);
                    int col = 2 * j - p;
                    // Offsets this block writes: up to 2n (a last block's even offset 2n holds its last dc = 2), and only
                    // inside the row; a full last block leaves offset 32 to the tail below.
                    int limit = Math.Min(j + n == ow ? 2 * n + 1 : 32, w - col);
                    var mLo = (Vector512.GreaterThanOrEqual(Vector512.Create(col) + index, Vector512<int>.Zero)
                               & Vector512.LessThan(index, Vector512.Create(limit))).AsSingle();
                    var mHi = Vector512.LessThan(index + Vector512.Create(16), Vector512.Create(limit)).AsSingle();
                    RowBlock(dx, i, 0, col, k, g, ref carry0, mLo, mHi);
                    RowBlock(dx, i, 1, col, k, g, ref carry1, mLo, mHi);
                    RowBlock(dx, i, 2, col, k, g, ref carry2, mLo, mHi);
                }
                RowTail(dx, i, 0, carry0);
                RowTail(dx, i, 1, carry1);
                RowTail(dx, i, 2, carry2);
            }
            // Rows no window reaches: below the last window row.
            int reach = 2 * (oh - 1) - p + 3;
            if (oh == 0) reach = 0;
            for (int r = Math.Max(0, reach); r < h; r++) new Span<float>(dx + (long)r * w, w).Clear();
        }

        // Kernel row dr of window row i, block at column col: offsets 0..31 from col are (dc = 2 of the window before, 0)
        // then (dc = 0, dc = 1) interleaved, added to what a shared row already holds (+0 otherwise).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void RowBlock(float* dx, int i, int dr, int col, Vector512<int> k, Vector512<float> g, ref Vector512<float> carry,
                              Vector512<float> mLo, Vector512<float> mHi)
        {
            int ri = 2 * i - _g.PadH + dr;
            if ((uint)ri >= (uint)_g.Height) return;
            var z = Vector512<float>.Zero;
            var c0 = Vector512.ConditionalSelect(Vector512.Equals(k, Vector512.Create(3 * dr)).AsSingle(), g, z);
            var c1 = Vector512.ConditionalSelect(Vector512.Equals(k, Vector512.Create(3 * dr + 1)).AsSingle(), g, z);
            var c2 = Vector512.ConditionalSelect(Vector512.Equals(k, Vector512.Create(3 * dr + 2)).AsSingle(), g, z);
            // dc = 2 of window j + l − 1 at even offset 2l: c2 one lane up, the previous block's last lane first.
            var c2s = Avx512F.AlignRight32(c2.AsInt32(), carry.AsInt32(), 15).AsSingle();
            carry = c2;
            float* d = dx + (long)ri * _g.Width + col;
            bool shared = dr == 0 && i > 0;   // written as the previous window row's dr = 2
            var sLo = shared ? Avx512F.MaskLoad(d, mLo, z) : z;
            var sHi = shared ? Avx512F.MaskLoad(d + 16, mHi, z) : z;
            Avx512F.MaskStore(d, mLo, sLo + Avx512F.PermuteVar16x32x2(c2s, Kernels.Simd.Lanes512.InterLo, z)
                                          + Avx512F.PermuteVar16x32x2(c0, Kernels.Simd.Lanes512.InterLo, c1));
            Avx512F.MaskStore(d + 16, mHi, sHi + Avx512F.PermuteVar16x32x2(c2s, Kernels.Simd.Lanes512.InterHi, z)
                                               + Avx512F.PermuteVar16x32x2(c0, Kernels.Simd.Lanes512.InterHi, c1));
        }

        // After the last block of kernel row dr of window row i: the last window's dc = 2 at offset 32 of a full last
        // block, then zeros in the columns no window reaches (a shared row has them already).
        private void RowTail(float* dx, int i, int dr, Vector512<float> carry)
        {
            int ri = 2 * i - _g.PadH + dr, w = _g.Width, ow = _g.OutW;
            if ((uint)ri >= (uint)_g.Height || ow == 0) return;
            bool shared = dr == 0 && i > 0;
            float* row = dx + (long)ri * w;
            int tail = 2 * ow - _g.PadH + 1;   // the first column after the windows' reach
            if (ow % 16 == 0 && tail - 1 < w)
            {
                float v = carry.GetElement(15);
                row[tail - 1] = shared ? row[tail - 1] + v : 0f + v;
            }
            if (!shared) for (int c = Math.Max(0, tail); c < w; c++) row[c] = 0f;
        }

        // 2x2 windows without padding (i, j .. j + n − 1) of the rows at r0 and r0 + w: no element is outside the plane, so
        // the only masks are those of a partial last block; positions 0..3 in window order.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static (Vector512<float> Best, Vector512<int> At) Window2x2(float* r0, int w, int j, int n)
        {
            var mLo = Kernels.Simd.Lanes512.First(2 * n);
            var mHi = Kernels.Simd.Lanes512.First(2 * n - 16);
            var z = Vector512<float>.Zero;
            float* a0 = r0 + 2 * j, a1 = a0 + w;
            var lo0 = Avx512F.MaskLoad(a0, mLo, z); var hi0 = Avx512F.MaskLoad(a0 + 16, mHi, z);
            var lo1 = Avx512F.MaskLoad(a1, mLo, z); var hi1 = Avx512F.MaskLoad(a1 + 16, mHi, z);
            var best = Avx512F.PermuteVar16x32x2(lo0, Kernels.Simd.Lanes512.Evens, hi0);
            var at = Vector512<int>.Zero;
            Step(ref best, ref at, Avx512F.PermuteVar16x32x2(lo0, Kernels.Simd.Lanes512.Odds, hi0), 1);
            Step(ref best, ref at, Avx512F.PermuteVar16x32x2(lo1, Kernels.Simd.Lanes512.Evens, hi1), 2);
            Step(ref best, ref at, Avx512F.PermuteVar16x32x2(lo1, Kernels.Simd.Lanes512.Odds, hi1), 3);
            return (best, at);
        }

        // The scalar rule as a select: keep the maximum where v ≤ it or it is NaN; else v (a NaN v included) at position k.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Step(ref Vector512<float> best, ref Vector512<int> at, Vector512<float> v, int k)
        {
            var keep = Vector512.LessThanOrEqual(v, best) | ~Vector512.Equals(best, best);
            best = Vector512.ConditionalSelect(keep, best, v);
            at = Vector512.ConditionalSelect(keep.AsInt32(), at, Vector512.Create(k));
        }

        // dX of 2x2 windows (i, j .. j + n − 1): dY where the window's maximum was, zeros at its other three inputs.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Disjoint(float* x, float* dy, float* dx, int i, int j, int n)
        {
            int w = _g.Width;
            var (_, at) = Window2x2(x + 2 * i * w, w, j, n);
            var g = Avx512F.MaskLoad(dy, Kernels.Simd.Lanes512.First(n), Vector512<float>.Zero);
            var z = Vector512<float>.Zero;
            var ga = Vector512.ConditionalSelect(Vector512.Equals(at, Vector512.Create(0)).AsSingle(), g, z);
            var gb = Vector512.ConditionalSelect(Vector512.Equals(at, Vector512.Create(1)).AsSingle(), g, z);
            var gc = Vector512.ConditionalSelect(Vector512.Equals(at, Vector512.Create(2)).AsSingle(), g, z);
            var gd = Vector512.ConditionalSelect(Vector512.Equals(at, Vector512.Create(3)).AsSingle(), g, z);
            // Interleave (a, b) into row 2i and (c, d) into row 2i + 1: columns 2j .. 2j + 2n − 1.
            var mLo = Kernels.Simd.Lanes512.First(2 * n);
            var mHi = Kernels.Simd.Lanes512.First(2 * n - 16);
            float* e0 = dx + 2 * i * w + 2 * j, e1 = e0 + w;
            Avx512F.MaskStore(e0, mLo, Avx512F.PermuteVar16x32x2(ga, Kernels.Simd.Lanes512.InterLo, gb));
            Avx512F.MaskStore(e0 + 16, mHi, Avx512F.PermuteVar16x32x2(ga, Kernels.Simd.Lanes512.InterHi, gb));
            Avx512F.MaskStore(e1, mLo, Avx512F.PermuteVar16x32x2(gc, Kernels.Simd.Lanes512.InterLo, gd));
            Avx512F.MaskStore(e1 + 16, mHi, Avx512F.PermuteVar16x32x2(gc, Kernels.Simd.Lanes512.InterHi, gd));
        }
    }

    private readonly struct MaxPoolBackwardBody(float[] xs, float[] gys, float[] gxs, int xPlane, int yPlane, int w, PoolPlan plan) : IParallelBody
    {
        public void Invoke(int p) => MaxBackwardPlane(xs, gxs, p * xPlane, xPlane, gys, p * yPlane, w, plan);
    }

    private static unsafe void MaxBackwardPlane(float[] xs, float[] gxs, int xOff, int planeLen, float[] gys, int yOff, int w, in PoolPlan plan)
    {
        ReadOnlySpan<int> R0 = plan.R0, R1 = plan.R1, C0 = plan.C0, C1 = plan.C1;
        int oh = R0.Length, ow = C0.Length;
        gxs.AsSpan(xOff, planeLen).Clear();
        fixed (float* px0 = xs, pgx0 = gxs, pgy0 = gys)
        {
            float* px = px0 + xOff, pgx = pgx0 + xOff, pgy = pgy0 + yOff;
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int idx = ArgMaxInPlane(px, w, R0[i], R1[i], C0[j], C1[j]);
                    if (idx >= 0) pgx[idx] += pgy[i * ow + j];
                }
        }
    }

    /// <inheritdoc/>
    public override void AvgPool2d(Tensor x, in PoolGeometry g, Tensor y)
    {
        CheckPoolGeometry(g);
        int planes = PlaneCount(x, g);
        NeedLength(y, (long)planes * g.OutH * g.OutW, nameof(y));
        int h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW;
        ForPlanes(planes, (long)planes * (h * w + oh * ow), new AvgPoolBody(A(x), A(y), h * w, oh * ow, w, Plan(g), g.CountIncludePad));
    }

    private readonly struct AvgPoolBody(float[] xs, float[] ys, int xPlane, int yPlane, int w, PoolPlan plan, bool includePad) : IParallelBody
    {
        public void Invoke(int p) => AvgPlane(xs, p * xPlane, ys, p * yPlane, w, plan, includePad);
    }

    private static unsafe void AvgPlane(float[] xs, int xOff, float[] ys, int yOff, int w, in PoolPlan plan, bool includePad)
    {
        ReadOnlySpan<int> R0 = plan.R0, R1 = plan.R1, RP = plan.RP, C0 = plan.C0, C1 = plan.C1, CP = plan.CP;
        int oh = R0.Length, ow = C0.Length;
        fixed (float* px0 = xs, py0 = ys)
        {
            float* px = px0 + xOff, py = py0 + yOff;
            for (int i = 0; i < oh; i++)
            {
                int r0 = R0[i], r1 = R1[i];
                for (int j = 0; j < ow; j++)
                {
                    int c0 = C0[j], c1 = C1[j];
                    double acc = 0;
                    for (int r = r0; r < r1; r++)
                    {
                        float* row = px + r * w;
                        for (int c = c0; c < c1; c++) acc += row[c];
                    }
                    int divisor = includePad ? RP[i] * CP[j] : (r1 - r0) * (c1 - c0);
                    py[i * ow + j] = (float)(acc / divisor);
                }
            }
        }
    }

    /// <inheritdoc/>
    public override void AvgPool2dBackward(Tensor dY, in PoolGeometry g, Tensor dX)
    {
        CheckPoolGeometry(g);
        int planes = PlaneCount(dX, g);
        NeedLength(dY, (long)planes * g.OutH * g.OutW, nameof(dY));
        int h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW;
        ForPlanes(planes, (long)planes * (h * w + oh * ow), new AvgPoolBackwardBody(A(dY), A(dX), h * w, oh * ow, w, Plan(g), g.CountIncludePad));
    }

    private readonly struct AvgPoolBackwardBody(float[] gys, float[] gxs, int xPlane, int yPlane, int w, PoolPlan plan, bool includePad) : IParallelBody
    {
        public void Invoke(int p) => AvgBackwardPlane(gxs, p * xPlane, xPlane, gys, p * yPlane, w, plan, includePad);
    }

    private static unsafe void AvgBackwardPlane(float[] gxs, int xOff, int planeLen, float[] gys, int yOff, int w, in PoolPlan plan, bool includePad)
    {
        ReadOnlySpan<int> R0 = plan.R0, R1 = plan.R1, RP = plan.RP, C0 = plan.C0, C1 = plan.C1, CP = plan.CP;
        int oh = R0.Length, ow = C0.Length;
        gxs.AsSpan(xOff, planeLen).Clear();
        fixed (float* pgx0 = gxs, pgy0 = gys)
        {
            float* pgx = pgx0 + xOff, pgy = pgy0 + yOff;
            for (int i = 0; i < oh; i++)
            {
                int r0 = R0[i], r1 = R1[i];
                for (int j = 0; j < ow; j++)
                {
                    int c0 = C0[j], c1 = C1[j];
                    int divisor = includePad ? RP[i] * CP[j] : (r1 - r0) * (c1 - c0);
                    float share = pgy[i * ow + j] / divisor;
                    for (int r = r0; r < r1; r++)
                    {
                        float* row = pgx + r * w;
                        for (int c = c0; c < c1; c++) row[c] += share;
                    }
                }
            }
        }
    }
}
