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
        ForPlanes(planes, (long)planes * (h * w + oh * ow), new MaxPoolBody(A(x), A(y), h * w, oh * ow, w, Plan(g)));
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
        ForPlanes(planes, (long)planes * (h * w + oh * ow), new MaxPoolBackwardBody(A(x), A(dY), A(dX), h * w, oh * ow, w, Plan(g)));
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
