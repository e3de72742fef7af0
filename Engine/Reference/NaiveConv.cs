namespace ConvEngine.Reference;

/// <summary>Naive convolution building blocks (im2col, col2im, padding) and a direct seven-loop convolution used as the oracle for <c>NN.Conv2d</c>.</summary>
public static class NaiveConv
{
    /// <summary>Unfolds one image x [C, H, W] into col [C·KH·KW, OH·OW].</summary>
    public static void Im2Col(ReadOnlySpan<float> x, in ConvGeometry g, Span<float> col)
    {
        int cols = g.OutH * g.OutW;
        for (int c = 0; c < g.Channels; c++)
            for (int kh = 0; kh < g.KernelH; kh++)
                for (int kw = 0; kw < g.KernelW; kw++)
                {
                    int row = (c * g.KernelH + kh) * g.KernelW + kw;
                    for (int oh = 0; oh < g.OutH; oh++)
                        for (int ow = 0; ow < g.OutW; ow++)
                        {
                            int ih = oh * g.StrideH - g.PadH + kh * g.DilationH;
                            int iw = ow * g.StrideW - g.PadW + kw * g.DilationW;
                            bool inside = ih >= 0 && ih < g.Height && iw >= 0 && iw < g.Width;
                            col[row * cols + oh * g.OutW + ow] = inside ? x[(c * g.Height + ih) * g.Width + iw] : 0f;
                        }
                }
    }

    /// <summary>Adds col [C·KH·KW, OH·OW] back into one image dX [C, H, W].</summary>
    public static void Col2Im(ReadOnlySpan<float> col, in ConvGeometry g, Span<float> dX)
    {
        int cols = g.OutH * g.OutW;
        for (int c = 0; c < g.Channels; c++)
            for (int kh = 0; kh < g.KernelH; kh++)
                for (int kw = 0; kw < g.KernelW; kw++)
                {
                    int row = (c * g.KernelH + kh) * g.KernelW + kw;
                    for (int oh = 0; oh < g.OutH; oh++)
                        for (int ow = 0; ow < g.OutW; ow++)
                        {
                            int ih = oh * g.StrideH - g.PadH + kh * g.DilationH;
                            int iw = ow * g.StrideW - g.PadW + kw * g.DilationW;
                            if (ih >= 0 && ih < g.Height && iw >= 0 && iw < g.Width)
                                dX[(c * g.Height + ih) * g.Width + iw] += col[row * cols + oh * g.OutW + ow];
                        }
                }
    }

    /// <summary>
    /// Unfolds <paramref name="images"/> images of x (each [C, H, W], consecutive) into col [C·KH·KW, images·OH·OW]:
    /// image b occupies columns b·OH·OW .. (b + 1)·OH·OW − 1 of every row.
    /// </summary>
    public static void Im2ColBatch(ReadOnlySpan<float> x, int images, in ConvGeometry g, Span<float> col)
    {
        int cols = g.OutH * g.OutW, ld = images * cols, per = g.Channels * g.Height * g.Width;
        for (int b = 0; b < images; b++)
            for (int row = 0; row < g.ColRows; row++)
            {
                int c = row / (g.KernelH * g.KernelW), kh = row / g.KernelW % g.KernelH, kw = row % g.KernelW;
                for (int oh = 0; oh < g.OutH; oh++)
                    for (int ow = 0; ow < g.OutW; ow++)
                    {
                        int ih = oh * g.StrideH - g.PadH + kh * g.DilationH;
                        int iw = ow * g.StrideW - g.PadW + kw * g.DilationW;
                        bool inside = ih >= 0 && ih < g.Height && iw >= 0 && iw < g.Width;
                        col[row * ld + b * cols + oh * g.OutW + ow] = inside ? x[b * per + (c * g.Height + ih) * g.Width + iw] : 0f;
                    }
            }
    }

    /// <summary>The adjoint of <see cref="Im2ColBatch"/>: adds col [C·KH·KW, images·OH·OW] back into the images of dX (each [C, H, W]).</summary>
    public static void Col2ImBatch(ReadOnlySpan<float> col, int images, in ConvGeometry g, Span<float> dX)
    {
        int cols = g.OutH * g.OutW, ld = images * cols, per = g.Channels * g.Height * g.Width;
        for (int b = 0; b < images; b++)
            for (int row = 0; row < g.ColRows; row++)
            {
                int c = row / (g.KernelH * g.KernelW), kh = row / g.KernelW % g.KernelH, kw = row % g.KernelW;
                for (int oh = 0; oh < g.OutH; oh++)
                    for (int ow = 0; ow < g.OutW; ow++)
                    {
                        int ih = oh * g.StrideH - g.PadH + kh * g.DilationH;
                        int iw = ow * g.StrideW - g.PadW + kw * g.DilationW;
                        if (ih >= 0 && ih < g.Height && iw >= 0 && iw < g.Width)
                            dX[b * per + (c * g.Height + ih) * g.Width + iw] += col[row * ld + b * cols + oh * g.OutW + ow];
                    }
            }
    }

    /// <summary>y[(j·rows + i)·inner + t] = x[(i·cols + j)·inner + t]: swaps the first two axes of x viewed as [rows, cols, inner].</summary>
    public static void SwapAxes(ReadOnlySpan<float> x, int rows, int cols, int inner, Span<float> y)
    {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                for (int t = 0; t < inner; t++)
                    y[(j * rows + i) * inner + t] = x[(i * cols + j) * inner + t];
    }

    /// <summary>The input index that padded position <paramref name="p"/> (may be negative or ≥ size) copies under <paramref name="mode"/>; −1 for zero padding outside.</summary>
    public static int SourceIndex(int p, int size, PaddingMode mode)
    {
        if (p >= 0 && p < size) return p;
        switch (mode)
        {
            case PaddingMode.Zeros: return -1;
            case PaddingMode.Replicate: return p < 0 ? 0 : size - 1;
            case PaddingMode.Reflect:
                if (size == 1) return 0;
                int period = 2 * (size - 1);
                int q = ((p % period) + period) % period;
                return q < size ? q : period - q;
            default: throw new ArgumentOutOfRangeException(nameof(mode));
        }
    }

    /// <summary>Pads planes x [planes, H, W] into y [planes, H+top+bottom, W+left+right].</summary>
    public static void Pad2d(ReadOnlySpan<float> x, int planes, int h, int w, PaddingMode mode, Padding2d pad, Span<float> y)
    {
        int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int si = SourceIndex(i - pad.Top, h, mode), sj = SourceIndex(j - pad.Left, w, mode);
                    y[(p * oh + i) * ow + j] = si < 0 || sj < 0 ? 0f : x[(p * h + si) * w + sj];
                }
    }

    /// <summary>The adjoint of <see cref="Pad2d"/>; dX is overwritten.</summary>
    public static void Pad2dBackward(ReadOnlySpan<float> dY, int planes, int h, int w, PaddingMode mode, Padding2d pad, Span<float> dX)
    {
        int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
        dX.Slice(0, planes * h * w).Clear();
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int si = SourceIndex(i - pad.Top, h, mode), sj = SourceIndex(j - pad.Left, w, mode);
                    if (si >= 0 && sj >= 0) dX[(p * h + si) * w + sj] += dY[(p * oh + i) * ow + j];
                }
    }

    /// <summary>
    /// Direct convolution, the definition itself: y[n, co, oh, ow] = b[co] + Σ over ci in co's group, kh, kw of
    /// w[co, ci, kh, kw]·xpad[n, g·Cin/G + ci, oh·s − p + kh·d, ow·s − p + kw·d], with xpad given by <paramref name="mode"/>.
    /// Returns y as [N, Cout, OH, OW] in a new array.
    /// </summary>
    public static float[] Conv2dDirect(ReadOnlySpan<float> x, int n, int cin, int h, int w, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        int cout, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int groups, PaddingMode mode, out int outH, out int outW)
    {
        outH = ConvMath.OutputSize(h, kh, sh, ph, dh);
        outW = ConvMath.OutputSize(w, kw, sw, pw, dw);
        int cinG = cin / groups, coutG = cout / groups;
        var y = new float[n * cout * outH * outW];
        for (int b = 0; b < n; b++)
            for (int co = 0; co < cout; co++)
            {
                int grp = co / coutG;
                for (int oh = 0; oh < outH; oh++)
                    for (int ow = 0; ow < outW; ow++)
                    {
                        double acc = bias.IsEmpty ? 0 : bias[co];
                        for (int ci = 0; ci < cinG; ci++)
                            for (int i = 0; i < kh; i++)
                                for (int j = 0; j < kw; j++)
                                {
                                    int ih = SourceIndex(oh * sh - ph + i * dh, h, mode);
                                    int iw = SourceIndex(ow * sw - pw + j * dw, w, mode);
                                    if (ih < 0 || iw < 0) continue;
                                    int c = grp * cinG + ci;
                                    acc += (double)weight[((co * cinG + ci) * kh + i) * kw + j] * x[((b * cin + c) * h + ih) * w + iw];
                                }
                        y[((b * cout + co) * outH + oh) * outW + ow] = (float)acc;
                    }
            }
        return y;
    }

    /// <summary>
    /// The input gradient of a one-group zero-padded convolution in scatter form, the twin of Kernels/Conv/ScatterDx.cs:
    /// every dY[n, co, oh, ow] goes back through each tap to the input it read, dX[n, ci, oh·s − p + kh·d, ow·s − p + kw·d]
    /// += w[co, ci, kh, kw]·dY[n, co, oh, ow] (taps on the padding are dropped). Sums in double; returns dX as [N, C, H, W]
    /// in a new array.
    /// </summary>
    public static float[] Conv2dInputGradient(ReadOnlySpan<float> dY, int n, ReadOnlySpan<float> weight, int cout, in ConvGeometry g)
    {
        int c = g.Channels, h = g.Height, w = g.Width, kh = g.KernelH, kw = g.KernelW, oh = g.OutH, ow = g.OutW;
        var acc = new double[n * c * h * w];
        for (int b = 0; b < n; b++)
            for (int co = 0; co < cout; co++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        double d = dY[((b * cout + co) * oh + i) * ow + j];
                        for (int ci = 0; ci < c; ci++)
                            for (int r = 0; r < kh; r++)
                            {
                                int ih = i * g.StrideH - g.PadH + r * g.DilationH;
                                if ((uint)ih >= (uint)h) continue;
                                for (int t = 0; t < kw; t++)
                                {
                                    int iw = j * g.StrideW - g.PadW + t * g.DilationW;
                                    if ((uint)iw >= (uint)w) continue;
                                    acc[((b * c + ci) * h + ih) * w + iw] += weight[((co * c + ci) * kh + r) * kw + t] * d;
                                }
                            }
                    }
        var dX = new float[acc.Length];
        for (int e = 0; e < acc.Length; e++) dX[e] = (float)acc[e];
        return dX;
    }
}
