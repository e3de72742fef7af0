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

    /// <summary>Window bounds of every output row and column, and how many planes a job has.</summary>
    private readonly record struct PoolPlan(int Planes, int[] R0, int[] R1, int[] RP, int[] C0, int[] C1, int[] CP);

    private static PoolPlan Plan(in PoolGeometry g, int planes)
    {
        var r0 = new int[g.OutH]; var r1 = new int[g.OutH]; var rp = new int[g.OutH];
        var c0 = new int[g.OutW]; var c1 = new int[g.OutW]; var cp = new int[g.OutW];
        for (int i = 0; i < g.OutH; i++) (r0[i], r1[i], rp[i]) = g.RowWindow(i);
        for (int j = 0; j < g.OutW; j++) (c0[j], c1[j], cp[j]) = g.ColWindow(j);
        return new PoolPlan(planes, r0, r1, rp, c0, c1, cp);
    }

    private void ForPlanes(int planes, long work, Action<int> body)
    {
        if (work < PoolSerialThreshold) { for (int p = 0; p < planes; p++) body(p); return; }
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
        var plan = Plan(g, planes);
        float[] xs = A(x), ys = A(y);
        int h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW;
        ForPlanes(planes, (long)planes * (h * w + oh * ow), p => MaxPlane(xs, p * h * w, ys, p * oh * ow, w, plan));
    }

    // All pointer arithmetic below stays inside the planes whose lengths were checked above (PlaneCount/NeedLength):
    // window bounds come from PoolGeometry and are clipped to [0, H) × [0, W).
    private static unsafe void MaxPlane(float[] xs, int xOff, float[] ys, int yOff, int w, PoolPlan plan)
    {
        int oh = plan.R0.Length, ow = plan.C0.Length;
        fixed (float* px0 = xs, py0 = ys)
        {
            float* px = px0 + xOff, py = py0 + yOff;
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int idx = ArgMaxInPlane(px, w, plan.R0[i], plan.R1[i], plan.C0[j], plan.C1[j]);
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
        var plan = Plan(g, planes);
        float[] xs = A(x), gys = A(dY), gxs = A(dX);
        int h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW;
        ForPlanes(planes, (long)planes * (h * w + oh * ow), p => MaxBackwardPlane(xs, gxs, p * h * w, h * w, gys, p * oh * ow, w, plan));
    }

    private static unsafe void MaxBackwardPlane(float[] xs, float[] gxs, int xOff, int planeLen, float[] gys, int yOff, int w, PoolPlan plan)
    {
        int oh = plan.R0.Length, ow = plan.C0.Length;
        gxs.AsSpan(xOff, planeLen).Clear();
        fixed (float* px0 = xs, pgx0 = gxs, pgy0 = gys)
        {
            float* px = px0 + xOff, pgx = pgx0 + xOff, pgy = pgy0 + yOff;
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int idx = ArgMaxInPlane(px, w, plan.R0[i], plan.R1[i], plan.C0[j], plan.C1[j]);
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
        var plan = Plan(g, planes);
        bool includePad = g.CountIncludePad;
        float[] xs = A(x), ys = A(y);
        int h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW;
        ForPlanes(planes, (long)planes * (h * w + oh * ow), p => AvgPlane(xs, p * h * w, ys, p * oh * ow, w, plan, includePad));
    }

    private static unsafe void AvgPlane(float[] xs, int xOff, float[] ys, int yOff, int w, PoolPlan plan, bool includePad)
    {
        int oh = plan.R0.Length, ow = plan.C0.Length;
        fixed (float* px0 = xs, py0 = ys)
        {
            float* px = px0 + xOff, py = py0 + yOff;
            for (int i = 0; i < oh; i++)
            {
                int r0 = plan.R0[i], r1 = plan.R1[i];
                for (int j = 0; j < ow; j++)
                {
                    int c0 = plan.C0[j], c1 = plan.C1[j];
                    double acc = 0;
                    for (int r = r0; r < r1; r++)
                    {
                        float* row = px + r * w;
                        for (int c = c0; c < c1; c++) acc += row[c];
                    }
                    int divisor = includePad ? plan.RP[i] * plan.CP[j] : (r1 - r0) * (c1 - c0);
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
        var plan = Plan(g, planes);
        bool includePad = g.CountIncludePad;
        float[] gys = A(dY), gxs = A(dX);
        int h = g.Height, w = g.Width, oh = g.OutH, ow = g.OutW;
        ForPlanes(planes, (long)planes * (h * w + oh * ow), p => AvgBackwardPlane(gxs, p * h * w, h * w, gys, p * oh * ow, w, plan, includePad));
    }

    private static unsafe void AvgBackwardPlane(float[] gxs, int xOff, int planeLen, float[] gys, int yOff, int w, PoolPlan plan, bool includePad)
    {
        int oh = plan.R0.Length, ow = plan.C0.Length;
        gxs.AsSpan(xOff, planeLen).Clear();
        fixed (float* pgx0 = gxs, pgy0 = gys)
        {
            float* pgx = pgx0 + xOff, pgy = pgy0 + yOff;
            for (int i = 0; i < oh; i++)
            {
                int r0 = plan.R0[i], r1 = plan.R1[i];
                for (int j = 0; j < ow; j++)
                {
                    int c0 = plan.C0[j], c1 = plan.C1[j];
                    int divisor = includePad ? plan.RP[i] * plan.CP[j] : (r1 - r0) * (c1 - c0);
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
