// CpuDevice GEMM: validates the arguments (so the unsafe blocked kernel never addresses outside an array), then runs
// the BLIS-style GEMM of Kernels/Gemm on this device's threads.
using ConvEngine.Kernels.Gemm;

namespace ConvEngine;

public sealed partial class CpuDevice
{
    /// <inheritdoc/>
    public override void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, Tensor a, int aOffset, int lda,
                              Tensor b, int bOffset, int ldb, float beta, Tensor c, int cOffset, int ldc)
    {
        if (m < 0) throw new ArgumentException($"m must be non-negative but is {m}.", nameof(m));
        if (n < 0) throw new ArgumentException($"n must be non-negative but is {n}.", nameof(n));
        if (k < 0) throw new ArgumentException($"k must be non-negative but is {k}.", nameof(k));
        if (m == 0 || n == 0) return;
        NeedGemmMatrix(c, cOffset, ldc, m, n, nameof(c), nameof(ldc));
        if (k > 0 && alpha != 0)
        {
            NeedGemmMatrix(a, aOffset, lda, transA ? k : m, transA ? m : k, nameof(a), nameof(lda));
            NeedGemmMatrix(b, bOffset, ldb, transB ? n : k, transB ? k : n, nameof(b), nameof(ldb));
        }
        BlockedGemm.Gemm(this, transA, transB, m, n, k, alpha, A(a), aOffset, lda, A(b), bOffset, ldb, beta, A(c), cOffset, ldc);
    }

    /// <summary>
    /// Implicit-GEMM convolution: C (m x images·OH·OW, leading dimension ldc) = A (m x k) · rows [rowOffset, rowOffset + k)
    /// of the im2col matrix of <paramref name="images"/> images of x starting at <paramref name="firstImage"/> + beta·C,
    /// packing B straight from x (see Kernels/Gemm/Im2ColB.cs). Equal to Im2ColBatch followed by Gemm, without the column matrix.
    /// <paramref name="flipTaps"/> = T > 0 reads A as the flipped transpose of the weight block at aOffset (row stride lda):
    /// A(i, co·T + t) = a[aOffset + co·lda + i·T + T − 1 − t].
    /// </summary>
    internal void GemmIm2Col(int m, int k, Tensor a, int aOffset, int lda, Tensor x, int firstImage, int images, in ConvGeometry g,
                             int rowOffset, float beta, Tensor c, int cOffset, int ldc, int flipTaps = 0)
    {
        int per = CheckIm2ColView(x, firstImage, images, g, rowOffset, k);
        int n = images * g.ColCols;
        if (m == 0 || n == 0) return;
        NeedGemmMatrix(c, cOffset, ldc, m, n, nameof(c), nameof(ldc));
        if (flipTaps > 0)
        {
            // A is the weight block W (k / T rows of lda ≥ m·T floats) read flipped: see BlockedGemm.GemmIm2Col.
            if (k % flipTaps != 0 || lda < (long)m * flipTaps)
                throw new ArgumentException($"A flipped weight needs k ({k}) divisible by the taps ({flipTaps}) and lda ({lda}) ≥ m·taps ({(long)m * flipTaps}).", nameof(flipTaps));
            if (k > 0) NeedGemmMatrix(a, aOffset, lda, k / flipTaps, m * flipTaps, nameof(a), nameof(lda));
        }
        else if (k > 0) NeedGemmMatrix(a, aOffset, lda, m, k, nameof(a), nameof(lda));
        BlockedGemm.GemmIm2Col(this, m, k, 1f, A(a), aOffset, lda, A(x), firstImage * per, images, g, rowOffset, beta, A(c), cOffset, ldc, flipTaps);
    }

    /// <summary>
    /// Direct convolution (Kernels/Conv/DirectConv.cs): y[firstImage + i] = w ⊛ x[firstImage + i] for the
    /// <paramref name="images"/> images, overwriting y (NCHW, <paramref name="outChannels"/> channels), plus
    /// <paramref name="bias"/> (one per output channel) where given. w is (outChannels, C·KH·KW) row-major. Requires
    /// <c>DirectConv.Applies(g)</c>.
    /// </summary>
    internal void ConvDirect(Tensor w, int outChannels, Tensor x, int firstImage, int images, in ConvGeometry g, Tensor y, Tensor? bias = null)
    {
        int per = CheckDirect(x, firstImage, images, g, outChannels, y, nameof(y));
        NeedElements(w, (long)outChannels * g.ColRows, nameof(w));
        if (bias is not null) NeedElements(bias, outChannels, nameof(bias));
        if (images == 0 || per == 0) return;
        Kernels.Conv.DirectConv.Forward(this, A(w), outChannels, A(x), firstImage, images, g, A(y), bias is null ? null : A(bias));
    }

    /// <summary>
    /// Strided 1x1 convolution with the output channels in the vector lanes (Kernels/Conv/PointwiseConv.cs):
    /// y[firstImage + i] (outChannels, OH, OW) = w (outChannels, C) ⊛ x[firstImage + i] (+ bias) for the <paramref name="images"/>
    /// images of the NCHW batches, overwriting y. Requires AVX-512 and a 1x1 kernel without padding and column stride 1 or 2.
    /// </summary>
    internal void ConvPointwise(Tensor w, int outChannels, Tensor x, int firstImage, int images, in ConvGeometry g, Tensor y, Tensor? bias = null)
    {
        CheckLanesConv(w, outChannels, x, firstImage, images, g, y, bias);   // the geometry is checked by the kernel (PointwiseConv.Applies)
        Kernels.Conv.PointwiseConv.Forward(this, A(w), outChannels, A(x), firstImage, images, g, A(y), bias is null ? null : A(bias));
    }

    /// <summary>
    /// Strided convolution with the output channels in the vector lanes (Kernels/Conv/StridedLanesConv.cs):
    /// y[firstImage + i] (outChannels, OH, OW) = w (outChannels, C·KH·KW) ⊛ x[firstImage + i] (+ bias) for the
    /// <paramref name="images"/> images of the NCHW batches, overwriting y. Requires AVX-512 and a column stride of 1 to 4.
    /// </summary>
    internal void ConvStridedLanes(Tensor w, int outChannels, Tensor x, int firstImage, int images, in ConvGeometry g, Tensor y, Tensor? bias = null)
    {
        CheckLanesConv(w, outChannels, x, firstImage, images, g, y, bias);   // the geometry is checked by the kernel (StridedLanesConv.Applies)
        Kernels.Conv.StridedLanesConv.Forward(this, A(w), outChannels, A(x), firstImage, images, g, A(y), bias is null ? null : A(bias));
    }

    // The lengths of a channel-lanes forward's operands: x holds the images, y their outputs, w (Cout, K), bias (Cout).
    private static void CheckLanesConv(Tensor w, int outChannels, Tensor x, int firstImage, int images, in ConvGeometry g, Tensor y, Tensor? bias)
    {
        CheckIm2ColView(x, firstImage, images, g, 0, g.ColRows);
        NeedLength(y, (firstImage + images) * (long)outChannels * g.OutH * g.OutW, nameof(y));
        NeedElements(w, (long)outChannels * g.ColRows, nameof(w));
        if (bias is not null) NeedElements(bias, outChannels, nameof(bias));
    }

    /// <summary>
    /// Scatter-form input gradient (Kernels/Conv/ScatterDx.cs) of the stride-1 convolution <paramref name="g"/>:
    /// dX[firstImage + i] (C, H, W) = Σ over the taps of w (outChannels, C·KH·KW) times dY[firstImage + i]
    /// (outChannels, OH, OW), overwriting dX, for the <paramref name="images"/> images of the NCHW batches. Requires
    /// <c>ScatterDx.Applies(g)</c>.
    /// </summary>
    internal void ConvDataGradScatter(Tensor w, int outChannels, Tensor dY, int firstImage, int images, in ConvGeometry g, Tensor dX)
    {
        if (!Kernels.Conv.ScatterDx.Applies(g))
            throw new ArgumentException($"The scatter-form dX needs AVX-512, stride 1, dilation 1 and a non-empty input and output; got {g}.", nameof(g));
        ArgumentOutOfRangeException.ThrowIfNegative(outChannels);
        ArgumentOutOfRangeException.ThrowIfNegative(firstImage);
        ArgumentOutOfRangeException.ThrowIfNegative(images);
        int per = g.Channels * g.Height * g.Width;
        NeedLength(dX, (long)(firstImage + images) * per, nameof(dX));
        NeedLength(dY, (firstImage + images) * (long)outChannels * g.OutH * g.OutW, nameof(dY));
        NeedElements(w, (long)outChannels * g.ColRows, nameof(w));
        if (images == 0 || per == 0) return;
        Kernels.Conv.ScatterDx.DataGrad(this, A(w), outChannels, A(dY), firstImage, images, g, A(dX));
    }

    /// <summary>
    /// Direct weight gradient (Kernels/Conv/DirectConv.cs): dW (outChannels, C·KH·KW) at <paramref name="dwOffset"/> =
    /// beta·dW + Σ over the images of dY ⊗ im2col(x), with dY and x NCHW batches. Requires <c>DirectConv.Applies(g)</c>.
    /// With <paramref name="planeSums"/> (at least (firstImage + images)·outChannels long), also the sum of each of the
    /// images' dY planes, in double, at [n·outChannels + co].
    /// </summary>
    internal void ConvWeightGradDirect(Tensor dY, int outChannels, Tensor x, int firstImage, int images, in ConvGeometry g, float beta, Tensor dW, int dwOffset,
                                       double[]? planeSums = null)
    {
        int per = CheckDirect(x, firstImage, images, g, outChannels, dY, nameof(dY));
        if (dwOffset < 0 || dW.Length < dwOffset + (long)outChannels * g.ColRows)
            throw new ArgumentException($"dW {dW.ShapeString} at offset {dwOffset} cannot hold {outChannels}x{g.ColRows} values.", nameof(dW));
        if (planeSums is not null && planeSums.Length < (long)(firstImage + images) * outChannels)
            throw new ArgumentException($"planeSums has {planeSums.Length} elements; images {firstImage}..{firstImage + images - 1} of {outChannels} channels need {(long)(firstImage + images) * outChannels}.", nameof(planeSums));
        if (images == 0 || per == 0) return;
        Kernels.Conv.DirectConv.WeightGrad(this, A(dY), outChannels, A(x), firstImage, images, g, beta, A(dW), dwOffset, planeSums);
    }

    /// <summary>
    /// Implicit weight-gradient GEMM: C (m x n) = A (m x images·OH·OW) · (rows [rowOffset, rowOffset + n) of the im2col matrix
    /// of the images)ᵀ + beta·C, packing from x directly. Equal to Im2ColBatch followed by Gemm(transB: true).
    /// </summary>
    internal void GemmIm2ColT(int m, int n, Tensor a, int aOffset, int lda, Tensor x, int firstImage, int images, in ConvGeometry g,
                              int rowOffset, float beta, Tensor c, int cOffset, int ldc)
    {
        int per = CheckIm2ColView(x, firstImage, images, g, rowOffset, n);
        int k = images * g.ColCols;
        if (m == 0 || n == 0) return;
        NeedGemmMatrix(c, cOffset, ldc, m, n, nameof(c), nameof(ldc));
        if (k > 0) NeedGemmMatrix(a, aOffset, lda, m, k, nameof(a), nameof(lda));
        BlockedGemm.GemmIm2ColT(this, m, n, 1f, A(a), aOffset, lda, A(x), firstImage * per, images, g, rowOffset, beta, A(c), cOffset, ldc);
    }

    /// <summary>
    /// Winograd F(2x2, 3x3) convolution (Kernels/Conv/Winograd.cs): y[firstImage + i] = w ⊛ x[firstImage + i] for the
    /// <paramref name="images"/> images, overwriting y (NCHW, <paramref name="outChannels"/> channels), plus
    /// <paramref name="bias"/> (one per output channel) where given. The 3x3 filter
    /// of output o and input c is the 9 floats at o·<paramref name="strideO"/> + c·<paramref name="strideI"/> of w, taps
    /// reversed when <paramref name="flipTaps"/> (the dX convolution reading W straight). Requires <c>Winograd.Applies(g)</c>.
    /// </summary>
    internal void ConvWinograd(Tensor w, int strideO, int strideI, bool flipTaps, int outChannels, Tensor x, int firstImage, int images,
                               in ConvGeometry g, Tensor y, Tensor? bias = null)
    {
        CheckWinograd(g, outChannels);
        if (bias is not null) NeedElements(bias, outChannels, nameof(bias));
        if (strideO < 0 || strideI < 0) throw new ArgumentException($"Filter strides must be non-negative but are {strideO} and {strideI}.", nameof(strideO));
        CheckIm2ColView(x, firstImage, images, g, 0, g.ColRows);
        NeedLength(y, (firstImage + images) * (long)outChannels * g.OutH * g.OutW, nameof(y));
        if (outChannels > 0) NeedLength(w, (long)(outChannels - 1) * strideO + (long)(g.Channels - 1) * strideI + 9, nameof(w));
        if (images == 0 || outChannels == 0) return;
        Kernels.Conv.Winograd.Forward(this, A(w), strideO, strideI, flipTaps, outChannels, A(x), firstImage, images, g, A(y), bias is null ? null : A(bias));
    }

    /// <summary>
    /// Winograd F(2x2, 3x3) weight gradient (Kernels/Conv/Winograd.cs): dW (outChannels, C·9) at <paramref name="dwOffset"/> =
    /// beta·dW + Σ over the images of the gradient of the 3x3 stride-1 convolution of x with output gradient dY (NCHW
    /// batches). Requires <c>Winograd.Applies(g)</c>.
    /// </summary>
    internal void ConvWeightGradWinograd(Tensor dY, int outChannels, Tensor x, int firstImage, int images, in ConvGeometry g, float beta,
                                         Tensor dW, int dwOffset)
    {
        CheckWinograd(g, outChannels);
        CheckIm2ColView(x, firstImage, images, g, 0, g.ColRows);
        NeedLength(dY, (firstImage + images) * (long)outChannels * g.OutH * g.OutW, nameof(dY));
        if (dwOffset < 0 || dW.Length < dwOffset + (long)outChannels * g.ColRows)
            throw new ArgumentException($"dW {dW.ShapeString} at offset {dwOffset} cannot hold {outChannels}x{g.ColRows} values.", nameof(dW));
        if (outChannels == 0) return;
        Kernels.Conv.Winograd.WeightGrad(this, A(dY), outChannels, A(x), firstImage, images, g, beta, A(dW), dwOffset);
    }

    /// <summary>Checks a Winograd call: the kernel applies to <paramref name="g"/> and the channel count is not negative.</summary>
    private static void CheckWinograd(in ConvGeometry g, int outChannels)
    {
        if (!Kernels.Conv.Winograd.Applies(g))
            throw new ArgumentException($"The Winograd convolution needs AVX-512, a 3x3 kernel, stride 1, dilation 1 and a non-empty output; got {g}.", nameof(g));
        ArgumentOutOfRangeException.ThrowIfNegative(outChannels);
    }

    /// <summary>
    /// Checks a direct-convolution call: the kernel applies to <paramref name="g"/>, x holds the images, and the NCHW batch
    /// <paramref name="output"/> (y, or dY) holds their outChannels x OH x OW planes; returns C·H·W.
    /// </summary>
    private static int CheckDirect(Tensor x, int firstImage, int images, in ConvGeometry g, int outChannels, Tensor output, string outputName)
    {
        if (!Kernels.Conv.DirectConv.Applies(g)) throw new ArgumentException($"The direct convolution needs AVX-512 and a non-empty output; got {g}.", nameof(g));
        int per = CheckIm2ColView(x, firstImage, images, g, 0, g.ColRows);
        NeedLength(output, (firstImage + images) * (long)outChannels * g.OutH * g.OutW, outputName);
        return per;
    }

    /// <summary>Checks the images and the row range [rowOffset, rowOffset + rows) of an implicit im2col view; returns C·H·W.</summary>
    private static int CheckIm2ColView(Tensor x, int firstImage, int images, in ConvGeometry g, int rowOffset, int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstImage);
        ArgumentOutOfRangeException.ThrowIfNegative(images);
        int per = g.Channels * g.Height * g.Width;
        NeedLength(x, (long)(firstImage + images) * per, nameof(x));
        if (rowOffset < 0 || rowOffset + rows > g.ColRows)
            throw new ArgumentOutOfRangeException(nameof(rowOffset), rowOffset, $"Rows [{rowOffset}, {rowOffset + rows}) are not inside the {g.ColRows} rows of the column matrix.");
        return per;
    }

    /// <summary>Checks that a rows x cols row-major matrix at <paramref name="offset"/> with leading dimension <paramref name="ld"/> lies inside <paramref name="t"/>.</summary>
    private static void NeedGemmMatrix(Tensor t, int offset, int ld, int rows, int cols, string arg, string ldArg)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentException($"Leading dimension {ldArg} must be at least the stored row width {cols} but is {ld}.", ldArg);
        if (offset < 0)
            throw new ArgumentException($"Offset of {arg} must be non-negative but is {offset}.", arg);
        long needed = offset + (long)(rows - 1) * ld + cols;
        if (t.Length < needed)
            throw new ArgumentException($"Matrix {arg} ({rows}x{cols}, offset {offset}, leading dimension {ld}) needs {needed} elements but tensor {t.ShapeString} has {t.Length}.", arg);
    }
}
