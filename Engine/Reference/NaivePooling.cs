namespace ConvEngine.Reference;

/// <summary>Naive max and average pooling over planes [planes, H, W].</summary>
public static class NaivePooling
{
    /// <summary>Max pooling; padding counts as −∞.</summary>
    public static void MaxPool2d(ReadOnlySpan<float> x, int planes, in PoolGeometry g, Span<float> y)
    {
        for (int p = 0; p < planes; p++)
            for (int oh = 0; oh < g.OutH; oh++)
                for (int ow = 0; ow < g.OutW; ow++)
                {
                    int idx = ArgMax(x, p, g, oh, ow);
                    y[(p * g.OutH + oh) * g.OutW + ow] = idx < 0 ? float.NegativeInfinity : x[idx];
                }
    }

    /// <summary>The flat index into x of the first maximum (row-major in the window) of output cell (oh, ow) of plane p; NaN wins as in PyTorch.</summary>
    public static int ArgMax(ReadOnlySpan<float> x, int p, in PoolGeometry g, int oh, int ow)
    {
        var (r0, r1, _) = g.RowWindow(oh);
        var (c0, c1, _) = g.ColWindow(ow);
        int best = -1; float bestVal = float.NegativeInfinity;
        for (int i = r0; i < r1; i++)
            for (int j = c0; j < c1; j++)
            {
                int idx = (p * g.Height + i) * g.Width + j;
                float v = x[idx];
                if (best < 0 || v > bestVal || float.IsNaN(v)) { best = idx; bestVal = v; if (float.IsNaN(v)) return best; }
            }
        return best;
    }

    /// <summary>Max-pooling backward (dX overwritten): each dY goes to its window's first maximum.</summary>
    public static void MaxPool2dBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dY, int planes, in PoolGeometry g, Span<float> dX)
    {
        dX.Slice(0, planes * g.Height * g.Width).Clear();
        for (int p = 0; p < planes; p++)
            for (int oh = 0; oh < g.OutH; oh++)
                for (int ow = 0; ow < g.OutW; ow++)
                {
                    int idx = ArgMax(x, p, g, oh, ow);
                    if (idx >= 0) dX[idx] += dY[(p * g.OutH + oh) * g.OutW + ow];
                }
    }

    /// <summary>The divisor of output cell (oh, ow).</summary>
    public static int Divisor(in PoolGeometry g, int oh, int ow)
    {
        var (r0, r1, rp) = g.RowWindow(oh);
        var (c0, c1, cp) = g.ColWindow(ow);
        return g.CountIncludePad ? rp * cp : (r1 - r0) * (c1 - c0);
    }

    /// <summary>Average pooling (sliding or adaptive).</summary>
    public static void AvgPool2d(ReadOnlySpan<float> x, int planes, in PoolGeometry g, Span<float> y)
    {
        for (int p = 0; p < planes; p++)
            for (int oh = 0; oh < g.OutH; oh++)
                for (int ow = 0; ow < g.OutW; ow++)
                {
                    var (r0, r1, _) = g.RowWindow(oh);
                    var (c0, c1, _) = g.ColWindow(ow);
                    double acc = 0;
                    for (int i = r0; i < r1; i++)
                        for (int j = c0; j < c1; j++) acc += x[(p * g.Height + i) * g.Width + j];
                    y[(p * g.OutH + oh) * g.OutW + ow] = (float)(acc / Divisor(g, oh, ow));
                }
    }

    /// <summary>Average-pooling backward (dX overwritten).</summary>
    public static void AvgPool2dBackward(ReadOnlySpan<float> dY, int planes, in PoolGeometry g, Span<float> dX)
    {
        dX.Slice(0, planes * g.Height * g.Width).Clear();
        for (int p = 0; p < planes; p++)
            for (int oh = 0; oh < g.OutH; oh++)
                for (int ow = 0; ow < g.OutW; ow++)
                {
                    var (r0, r1, _) = g.RowWindow(oh);
                    var (c0, c1, _) = g.ColWindow(ow);
                    float share = dY[(p * g.OutH + oh) * g.OutW + ow] / Divisor(g, oh, ow);
                    for (int i = r0; i < r1; i++)
                        for (int j = c0; j < c1; j++) dX[(p * g.Height + i) * g.Width + j] += share;
                }
    }
}
