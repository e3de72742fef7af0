namespace ConvEngine.Reference;

/// <summary>
/// Winograd F(2x2, 3x3) convolution as plain loops: the naive twin of the CPU's Winograd kernel
/// (<c>Kernels/Conv/Winograd.cs</c>) and the version to read.
/// </summary>
/// <remarks>
/// <para>
/// A 3x3 filter g slid over a 4x4 input patch d gives a 2x2 output tile Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A, where ⊙ multiplies
/// elementwise and
/// </para>
/// <code>
///      Bᵀ = [ 1  0 -1  0 ]      G = [ 1    0    0  ]      Aᵀ = [ 1  1  1  0 ]
///           [ 0  1  1  0 ]          [ 1/2  1/2  1/2 ]           [ 0  1 -1 -1 ]
///           [ 0 -1  1  0 ]          [ 1/2 -1/2  1/2 ]
///           [ 0  1  0 -1 ]          [ 0    0    1  ]
/// </code>
/// <para>
/// Summed over input channels, the 4·9 = 36 multiplications of a tile become 16 per channel pair, and the channel sum of
/// each of the 16 positions ξ is an ordinary matrix product (the fast kernel runs it on the GEMM's micro-kernel). The
/// transforms here evaluate their sums in the fast kernel's order, and the channel sums use fused multiply-adds in channel
/// order, so the two produce the same bits.
/// </para>
/// </remarks>
public static class NaiveWinograd
{
    /// <summary>U = G g Gᵀ: the 3x3 filter <paramref name="g"/> (row-major) as 16 values, u[4·row + col].</summary>
    public static void TransformFilter(ReadOnlySpan<float> g, Span<float> u)
    {
        Need(g, 9, nameof(g));
        Need(u, 16, nameof(u));
        // G g (4x3): filter rows r0, ½(r0 + r1 + r2), ½(r0 − r1 + r2), r2; then each row (p, q, s) times Gᵀ.
        Span<float> gg = stackalloc float[12];
        for (int c = 0; c < 3; c++)
        {
            gg[c] = g[c];
            gg[3 + c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
            gg[6 + c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
            gg[9 + c] = g[6 + c];
        }
        for (int r = 0; r < 4; r++)
        {
            float p = gg[3 * r], q = gg[3 * r + 1], s = gg[3 * r + 2];
            u[4 * r] = p;
            u[4 * r + 1] = 0.5f * (p + q + s);
            u[4 * r + 2] = 0.5f * (p - q + s);
            u[4 * r + 3] = s;
        }
    }

    /// <summary>V = Bᵀ d B: the 4x4 input patch <paramref name="d"/> (row-major) as 16 values, v[4·row + col].</summary>
    public static void TransformInput(ReadOnlySpan<float> d, Span<float> v)
    {
        Need(d, 16, nameof(d));
        Need(v, 16, nameof(v));
        // d B: each row (d0, d1, d2, d3) becomes (d0 − d2, d1 + d2, d2 − d1, d1 − d3); then Bᵀ combines the rows the same way.
        Span<float> db = stackalloc float[16];
        for (int r = 0; r < 4; r++)
        {
            float d0 = d[4 * r], d1 = d[4 * r + 1], d2 = d[4 * r + 2], d3 = d[4 * r + 3];
            db[4 * r] = d0 - d2;
            db[4 * r + 1] = d1 + d2;
            db[4 * r + 2] = d2 - d1;
            db[4 * r + 3] = d1 - d3;
        }
        for (int c = 0; c < 4; c++)
        {
            v[c] = db[c] - db[8 + c];
            v[4 + c] = db[4 + c] + db[8 + c];
            v[8 + c] = db[8 + c] - db[4 + c];
            v[12 + c] = db[4 + c] - db[12 + c];
        }
    }

    /// <summary>Y = Aᵀ m A: the 16 products <paramref name="m"/> of a tile as its 2x2 outputs, y[2·row + col].</summary>
    public static void TransformOutput(ReadOnlySpan<float> m, Span<float> y)
    {
        Need(m, 16, nameof(m));
        Need(y, 4, nameof(y));
        // m A: each row (m0, m1, m2, m3) becomes (m0 + m1 + m2, m1 − m2 − m3); then Aᵀ combines the rows the same way.
        Span<float> ma = stackalloc float[8];
        for (int r = 0; r < 4; r++)
        {
            ma[2 * r] = m[4 * r] + m[4 * r + 1] + m[4 * r + 2];
            ma[2 * r + 1] = m[4 * r + 1] - m[4 * r + 2] - m[4 * r + 3];
        }
        for (int c = 0; c < 2; c++)
        {
            y[c] = ma[c] + ma[2 + c] + ma[4 + c];
            y[2 + c] = ma[2 + c] - ma[4 + c] - ma[6 + c];
        }
    }

    /// <summary>
    /// y (images, outChannels, OH, OW) = w ⊛ x for x (images, C, H, W) with geometry <paramref name="g"/> (3x3, stride 1,
    /// dilation 1, zero padding), no bias. The filter of output o and input c is the 9 floats at
    /// o·<paramref name="strideO"/> + c·<paramref name="strideI"/> of w: (C·9, 9) for a weight [Cout, C, 3, 3]; taps
    /// reversed when <paramref name="flipTaps"/> (with strides (9, Cout'·9) that reads a weight [Cout', C', 3, 3] as the
    /// flipped, transposed filter of its input gradient).
    /// </summary>
    public static void Conv2d(ReadOnlySpan<float> x, int images, in ConvGeometry g, ReadOnlySpan<float> w, int strideO, int strideI,
                              bool flipTaps, int outChannels, Span<float> y)
    {
        CheckBatch(x, y, nameof(y), images, g, outChannels);
        int c = g.Channels, oh = g.OutH, ow = g.OutW;
        if (outChannels > 0 && c > 0) Need(w, (long)(outChannels - 1) * strideO + (long)(c - 1) * strideI + 9, nameof(w));
        // U[o][c][ξ] once; then per tile: V[c][ξ], the channel sums M[ξ] and the output transform.
        var u = new float[(long)outChannels * c * 16];
        Span<float> filter = stackalloc float[9];
        for (int o = 0; o < outChannels; o++)
            for (int ci = 0; ci < c; ci++)
            {
                var src = w.Slice(o * strideO + ci * strideI, 9);
                for (int t = 0; t < 9; t++) filter[t] = flipTaps ? src[8 - t] : src[t];
                TransformFilter(filter, u.AsSpan((o * c + ci) * 16, 16));
            }
        var v = new float[c * 16];
        Span<float> m = stackalloc float[16], tile = stackalloc float[4];
        for (int n = 0; n < images; n++)
            for (int i = 0; i < (oh + 1) / 2; i++)
                for (int j = 0; j < (ow + 1) / 2; j++)
                {
                    TransformTile(x, n, i, j, g, v);
                    for (int o = 0; o < outChannels; o++)
                    {
                        m.Clear();
                        for (int ci = 0; ci < c; ci++)
                            for (int xi = 0; xi < 16; xi++)
                                m[xi] = MathF.FusedMultiplyAdd(u[(o * c + ci) * 16 + xi], v[ci * 16 + xi], m[xi]);
                        TransformOutput(m, tile);
                        for (int r = 0; r < 2 && 2 * i + r < oh; r++)
                            for (int s = 0; s < 2 && 2 * j + s < ow; s++)
                                y[((n * outChannels + o) * oh + 2 * i + r) * ow + 2 * j + s] = tile[2 * r + s];
                    }
                }
    }

    /// <summary>
    /// The weight gradient of <see cref="Conv2d"/> (forward weight layout, no flip): dW (outChannels, C, 3, 3) =
    /// Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)] G, the adjoint of Y = Aᵀ [U ⊙ V] A with respect to U = G g Gᵀ. dY is
    /// (images, outChannels, OH, OW); outputs past OH or OW in a cut tile count as zero. Overwrites dW.
    /// </summary>
    public static void WeightGrad(ReadOnlySpan<float> x, ReadOnlySpan<float> dY, int images, in ConvGeometry g, int outChannels, Span<float> dW)
    {
        CheckBatch(x, dY, nameof(dY), images, g, outChannels);
        int c = g.Channels, oh = g.OutH, ow = g.OutW;
        Need(dW, (long)outChannels * c * 9, nameof(dW));
        var du = new float[(long)outChannels * c * 16];
        var v = new float[c * 16];
        Span<float> dm = stackalloc float[16];
        for (int n = 0; n < images; n++)
            for (int i = 0; i < (oh + 1) / 2; i++)
                for (int j = 0; j < (ow + 1) / 2; j++)
                {
                    TransformTile(x, n, i, j, g, v);
                    for (int o = 0; o < outChannels; o++)
                    {
                        // dM = A dY Aᵀ with A = (Aᵀ)ᵀ = [1 0; 1 1; 1 −1; 0 −1].
                        int at = ((n * outChannels + o) * oh + 2 * i) * ow + 2 * j;
                        bool right = 2 * j + 1 < ow, below = 2 * i + 1 < oh;
                        float y00 = dY[at], y01 = right ? dY[at + 1] : 0f;
                        float y10 = below ? dY[at + ow] : 0f, y11 = below && right ? dY[at + ow + 1] : 0f;
                        ReadOnlySpan<float> z = [y00, y00 + y01, y00 - y01, -y01];
                        ReadOnlySpan<float> w = [y10, y10 + y11, y10 - y11, -y11];
                        for (int s = 0; s < 4; s++)
                        {
                            dm[s] = z[s];
                            dm[4 + s] = z[s] + w[s];
                            dm[8 + s] = z[s] - w[s];
                            dm[12 + s] = -w[s];
                        }
                        for (int ci = 0; ci < c; ci++)
                            for (int xi = 0; xi < 16; xi++)
                                du[(o * c + ci) * 16 + xi] = MathF.FusedMultiplyAdd(dm[xi], v[ci * 16 + xi], du[(o * c + ci) * 16 + xi]);
                    }
                }
        // dW = Gᵀ dU G: rows (R0 + ½R1 + ½R2, ½R1 − ½R2, ½R1 + ½R2 + R3), then the same on each row's four values.
        Span<float> t = stackalloc float[12];
        for (int o = 0; o < outChannels; o++)
            for (int ci = 0; ci < c; ci++)
            {
                var u = du.AsSpan((o * c + ci) * 16, 16);
                for (int col = 0; col < 4; col++)
                {
                    t[col] = u[col] + 0.5f * u[4 + col] + 0.5f * u[8 + col];
                    t[4 + col] = 0.5f * u[4 + col] - 0.5f * u[8 + col];
                    t[8 + col] = 0.5f * u[4 + col] + 0.5f * u[8 + col] + u[12 + col];
                }
                var dst = dW.Slice((o * c + ci) * 9, 9);
                for (int row = 0; row < 3; row++)
                {
                    float a = t[4 * row], b = t[4 * row + 1], cc = t[4 * row + 2], dd = t[4 * row + 3];
                    dst[3 * row] = a + 0.5f * b + 0.5f * cc;
                    dst[3 * row + 1] = 0.5f * b - 0.5f * cc;
                    dst[3 * row + 2] = 0.5f * b + 0.5f * cc + dd;
                }
            }
    }

    // V[ci] = Bᵀ d B for every input channel of tile (n, i, j): the 4x4 patch at (2i − pH, 2j − pW), zeros outside the image.
    private static void TransformTile(ReadOnlySpan<float> x, int n, int i, int j, in ConvGeometry g, Span<float> v)
    {
        int c = g.Channels, h = g.Height, wd = g.Width;
        Span<float> d = stackalloc float[16];
        for (int ci = 0; ci < c; ci++)
        {
            for (int r = 0; r < 4; r++)
                for (int s = 0; s < 4; s++)
                {
                    int ih = 2 * i - g.PadH + r, iw = 2 * j - g.PadW + s;
                    d[4 * r + s] = ih >= 0 && ih < h && iw >= 0 && iw < wd ? x[((n * c + ci) * h + ih) * wd + iw] : 0f;
                }
            TransformInput(d, v.Slice(ci * 16, 16));
        }
    }

    private static void RequireF23(in ConvGeometry g)
    {
        if (g.KernelH != 3 || g.KernelW != 3 || g.StrideH != 1 || g.StrideW != 1 || g.DilationH != 1 || g.DilationW != 1)
            throw new ArgumentException($"F(2x2, 3x3) needs a 3x3 kernel, stride 1 and dilation 1; got {g}.", nameof(g));
    }

    // What both entry points check: the geometry, the counts, x (images, C, H, W) and the output-shaped tensor (y or dY:
    // images, outChannels, OH, OW), named outName.
    private static void CheckBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> outShaped, string outName, int images, in ConvGeometry g,
                                   int outChannels)
    {
        RequireF23(g);
        ArgumentOutOfRangeException.ThrowIfNegative(images);
        ArgumentOutOfRangeException.ThrowIfNegative(outChannels);
        Need(x, (long)images * g.Channels * g.Height * g.Width, nameof(x));
        Need(outShaped, (long)images * outChannels * g.OutH * g.OutW, outName);
    }

    private static void Need(ReadOnlySpan<float> s, long length, string arg)
    {
        if (s.Length < length) throw new ArgumentException($"{arg} needs at least {length} elements but has {s.Length}.", arg);
    }
}
