// Strided 1x1 convolution with the output channels in the vector lanes (AVX-512): ResNet's projection shortcuts.
//
// y[n][co][oh][ow] = b[co] + Σ_c W[co][c] · x[n][c][oh·sH][ow·sW]        (1x1 kernel, no padding, sW = 1 or 2, any sH)
// Shapes: W (Cout, C), packed once per call in groups of NB ≤ 4 blocks of 16 output channels as Wt[group][c][nb][16] (zero
// past Cout); x (N, C, H, W) read in place; y (N, Cout, OH, OW) overwritten.
// A tile is NB channel blocks × J pixels of one output row, NB·J ≤ 24 zmm accumulators (4 x 6, 3 x 8, 2 or 1 x 12), each
// holding 16 output channels of one pixel. Per input channel it loads the NB weight vectors and broadcasts the J inputs
// x[c][oh·sH][(ow0 + j)·sW]: NB + J loads for NB·J FMAs (10 for 24 at 4 x 6). A broadcast reads any address, so the
// stride costs nothing: no copy of the even columns and rows, no packed panels. The tile is pixel-major in registers and
// channel-major in y; it is stored through 16 x 4 register transposes (ChannelLanesConv.Store4), the bias added as one
// vector. Work items are (image, output row): the row's inputs (C rows of W floats) stay in L1 for all channel groups.
// The register kernel is StridedLanesConv's, stepping over the input planes (PlaneTaps) instead of an offset table.
//
// Why: through the implicit GEMM this layer packed its B panels from the even rows and columns (CopyEven, FillRow: a third
// of its forward) before a K = 64 GEMM, and ran at about parity with PyTorch (resnet_down: 0.86–1.11x in four sittings).
// The sum over c runs in order for every output, whatever the thread count. NaiveConv.Conv2dDirect is the twin.
using System.Runtime.CompilerServices;
using static ConvEngine.Kernels.Conv.ChannelLanesConv;

namespace ConvEngine.Kernels.Conv;

internal static partial class PointwiseConv
{
    /// <summary>Output channels per block: one zmm (the shared register kernel's).</summary>
    public const int Lanes = StridedLanesConv.Lanes;

    /// <summary>Channel blocks per tile, at most (the shared register kernel's).</summary>
    public const int MaxBlocks = StridedLanesConv.MaxBlocks;

    /// <summary>Whether the kernel computes <paramref name="g"/>: AVX-512, a 1x1 kernel without padding, column stride 1 or 2, non-empty.</summary>
    public static bool Applies(in ConvGeometry g) =>
        DirectConv.IsSupported && g.KernelH == 1 && g.KernelW == 1 && g.PadH == 0 && g.PadW == 0 && g.StrideW is 1 or 2
        && g.Channels > 0 && g.OutH > 0 && g.OutW > 0;

    /// <summary>Pixels per tile for tiles of <paramref name="blocks"/> channel blocks: blocks · pixels ≤ 24 accumulators.</summary>
    public static int PixelsPerTile(int blocks) => StridedLanesConv.PixelsPerTile(blocks);

    [ThreadStatic] private static float[]? t_w;

    /// <summary>
    /// y[firstImage + i] (outChannels, OH, OW) = w (outChannels, C) ⊛ x[firstImage + i] (+ bias) for i in [0, images),
    /// overwriting y. x and y are NCHW arrays of whole batches; <paramref name="g"/> must satisfy <see cref="Applies"/>.
    /// </summary>
    public static unsafe void Forward(CpuDevice device, float[] w, int outChannels, float[] x, int firstImage, int images, in ConvGeometry g, float[] y,
                                      float[]? bias)
    {
        if (!Applies(g)) throw new ArgumentException($"The pointwise kernel needs AVX-512 and a 1x1 kernel without padding and column stride 1 or 2, but the geometry is {g}.", nameof(g));
        if (outChannels <= 0 || images <= 0) return;
        int c = g.Channels, blocks = (outChannels + Lanes - 1) / Lanes, nb = Math.Min(MaxBlocks, blocks);
        var wt = StridedLanesConv.PackWeights(w, outChannels, c, ref t_w);   // [group][c][block][16]
        fixed (float* wt0 = wt, x0 = x, y0 = y, b0 = bias)
        {
            var body = new Body(g, wt0, x0 + (long)firstImage * c * g.Height * g.Width, y0 + (long)firstImage * outChannels * g.OutH * g.OutW, b0,
                                outChannels, blocks, nb);
            int items = images * g.OutH;
            bool parallel = (long)images * g.OutH * g.OutW * outChannels * c >= 1 << 18 && device.CanRunParallel;
            if (g.StrideW == 1) Run<W1>(in body, device, items, parallel);
            else Run<W2>(in body, device, items, parallel);
        }
    }

    private static void Run<TS>(in Body body, CpuDevice device, int items, bool parallel) where TS : struct, IWidth
    {
        var b = new Items<TS>(body);
        if (parallel) device.ParallelFor(items, b);
        else for (int i = 0; i < items; i++) b.Invoke(i);
    }

    // What the items of one call share: the packed weights, the batch's first image in x and y, the bias (or null).
    private readonly unsafe struct Body(in ConvGeometry g, float* wt, float* x, float* y, float* bias, int cout, int blocks, int nb)
    {
        public readonly ConvGeometry G = g;
        public readonly float* Wt = wt, X = x, Y = y, Bias = bias;
        public readonly int Cout = cout, Blocks = blocks, Nb = nb;
    }

    // Item = (image, output row): every channel group and every tile of the row. TS: the column stride.
    private readonly unsafe struct Items<TS>(Body b) : IParallelBody where TS : struct, IWidth
    {
        [SkipLocalsInit]   // the tile buffer is written in full (the tile's NB·J vectors) before it is read
        public void Invoke(int item)
        {
            var g = b.G;
            int oh = item % g.OutH, img = item / g.OutH, c = g.Channels, ow = g.OutW, plane = g.OutH * ow;
            long xPlane = (long)g.Height * g.Width;
            float* t = stackalloc float[28 * Lanes];   // 24 vectors, and the last group of 4 pixels reads up to 3 past them
            float* xRow = b.X + img * c * xPlane + (long)oh * g.StrideH * g.Width;
            float* yRow = b.Y + (long)img * b.Cout * plane + oh * ow;
            for (int cb0 = 0; cb0 < b.Blocks; cb0 += b.Nb)
            {
                int nbq = Math.Min(b.Nb, b.Blocks - cb0), j = PixelsPerTile(nbq);
                float* wg = b.Wt + (long)cb0 * c * Lanes;
                for (int ow0 = 0; ow0 < ow; ow0 += j)
                {
                    int jn = Math.Min(j, ow - ow0);
                    StridedLanesConv.Tile<TS, StridedLanesConv.PlaneTaps>(nbq, jn, c, new StridedLanesConv.PlaneTaps(xRow + ow0 * TS.J, xPlane), wg, t, jn * Lanes);
                    for (int q = 0; q < nbq; q++)
                    {
                        int co0 = (cb0 + q) * Lanes, channels = Math.Min(Lanes, b.Cout - co0);
                        var bias = StridedLanesConv.BiasLanes(b.Bias, co0, channels);
                        float* yq = yRow + (long)co0 * plane + ow0;
                        for (int p = 0; p < jn; p += 4)
                            ChannelLanesConv.Store4(t + (q * jn + p) * Lanes, bias, yq + p, plane, Math.Min(4, jn - p), channels);
                    }
                }
            }
        }
    }
}
