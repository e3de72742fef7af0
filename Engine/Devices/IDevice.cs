namespace ConvEngine;

/// <summary>
/// The small set of primitives every backend implements. Layers are written once against this interface;
/// <see cref="CpuDevice"/> implements it with SIMD and threads, <see cref="ReferenceDevice"/> with plain loop nests
/// (the test oracle), and GPU backends with kernels. No backend is global: a device is passed in or comes with a tensor.
/// </summary>
/// <remarks>
/// Conventions: tensors are contiguous and row-major. "Channel" primitives view a tensor as <c>[outer, channels, inner]</c>
/// (for NCHW: outer = N, inner = H·W; for a <c>[N, F]</c> matrix: outer = N, channels = F, inner = 1).
/// A primitive that writes an output overwrites it unless its documentation says it accumulates.
/// </remarks>
public interface IDevice : IDisposable
{
    /// <summary>A human-readable name such as <c>cpu(2 threads)</c>.</summary>
    string Name { get; }

    // ---- memory -------------------------------------------------------------------------------

    /// <summary>Allocates a zero-filled buffer of <paramref name="length"/> floats.</summary>
    DeviceBuffer Allocate(int length);

    /// <summary>Copies host values into <paramref name="destination"/> starting at element <paramref name="offset"/>.</summary>
    void CopyFromHost(ReadOnlySpan<float> source, DeviceBuffer destination, int offset);

    /// <summary>Copies <c>destination.Length</c> elements of <paramref name="source"/>, starting at <paramref name="offset"/>, to host memory.</summary>
    void CopyToHost(DeviceBuffer source, int offset, Span<float> destination);

    /// <summary>Copies <paramref name="length"/> elements between buffers of this device.</summary>
    void Copy(DeviceBuffer source, int sourceOffset, DeviceBuffer destination, int destinationOffset, int length);

    /// <summary>Sets every element of <paramref name="x"/> to <paramref name="value"/>.</summary>
    void Fill(Tensor x, float value);

    // ---- dense linear algebra -------------------------------------------------------------------

    /// <summary>
    /// Row-major GEMM: C = alpha·op(A)·op(B) + beta·C with op(A) of size m×k and op(B) of size k×n.
    /// Matrices start at the given element offsets of their tensors and have leading dimensions lda, ldb, ldc
    /// (the distance between consecutive rows as stored). When beta is 0, C is not read (NaNs in it do not propagate).
    /// </summary>
    void Gemm(bool transA, bool transB, int m, int n, int k, float alpha,
              Tensor a, int aOffset, int lda, Tensor b, int bOffset, int ldb,
              float beta, Tensor c, int cOffset, int ldc);

    // ---- element-wise ---------------------------------------------------------------------------

    /// <summary>y = f(x) for the function <paramref name="op"/> with parameter <paramref name="alpha"/>. x and y may be the same tensor.</summary>
    void Unary(UnaryOp op, float alpha, Tensor x, Tensor y);

    /// <summary>dX = f'(x) ⊙ dY, where <paramref name="y"/> = f(x) is passed too since some derivatives are cheaper from it.</summary>
    void UnaryBackward(UnaryOp op, float alpha, Tensor x, Tensor y, Tensor dY, Tensor dX);

    /// <summary>y = a + b (same lengths). y may alias a or b.</summary>
    void Add(Tensor a, Tensor b, Tensor y);

    /// <summary>y = a ⊙ b (same lengths). y may alias a or b.</summary>
    void Multiply(Tensor a, Tensor b, Tensor y);

    /// <summary>y = alpha·x + beta·y. When beta is 0, y is not read.</summary>
    void Axpby(float alpha, Tensor x, float beta, Tensor y);

    /// <summary>Σ xᵢ, accumulated in double.</summary>
    double Sum(Tensor x);

    /// <summary>Σ xᵢ², accumulated in double.</summary>
    double SumOfSquares(Tensor x);

    // ---- per-channel ----------------------------------------------------------------------------

    /// <summary>y[o, c, i] += bias[c] for y viewed as [outer, channels, inner].</summary>
    void AddChannelBias(Tensor y, Tensor bias, int outer, int channels, int inner);

    /// <summary>y[o, c, i] = x[o, c, i]·scale[c]. y may alias x.</summary>
    void ChannelScale(Tensor x, Tensor scale, int outer, int channels, int inner, Tensor y);

    /// <summary>result[c] = Σ over o, i of a[o, c, i]·b[o, c, i] (b null means 1); added to result when <paramref name="accumulate"/>.</summary>
    void ChannelDot(Tensor a, Tensor? b, int outer, int channels, int inner, Tensor result, bool accumulate);

    // ---- convolution helpers -------------------------------------------------------------------

    /// <summary>
    /// Unfolds image <paramref name="image"/> of x [N, C, H, W] into col [C·KH·KW, OH·OW]; row index c·KH·KW + kh·KW + kw,
    /// column index oh·OW + ow; cells that fall into the zero padding are 0.
    /// </summary>
    void Im2Col(Tensor x, int image, in ConvGeometry g, Tensor col);

    /// <summary>The adjoint of <see cref="Im2Col"/>: adds col [C·KH·KW, OH·OW] back into image <paramref name="image"/> of dX (accumulates).</summary>
    void Col2Im(Tensor col, in ConvGeometry g, Tensor dX, int image);

    /// <summary>
    /// Unfolds <paramref name="images"/> consecutive images of x [N, C, H, W], starting at <paramref name="firstImage"/>, side by side
    /// into col [C·KH·KW, images·OH·OW]: image b of the batch fills columns b·OH·OW .. (b + 1)·OH·OW − 1 of every row, laid out
    /// as <see cref="Im2Col"/> lays out one image. One GEMM over these columns convolves all the images at once.
    /// </summary>
    void Im2ColBatch(Tensor x, int firstImage, int images, in ConvGeometry g, Tensor col);

    /// <summary>The adjoint of <see cref="Im2ColBatch"/>: adds col [C·KH·KW, images·OH·OW] back into images firstImage.. of dX (accumulates).</summary>
    void Col2ImBatch(Tensor col, in ConvGeometry g, Tensor dX, int firstImage, int images);

    /// <summary>
    /// Swaps the first two axes of a block: y[yOffset + (j·rows + i)·inner + t] = x[xOffset + (i·cols + j)·inner + t] for
    /// i &lt; rows, j &lt; cols, t &lt; inner (x viewed as [rows, cols, inner], y as [cols, rows, inner]). Moves a batch of
    /// convolution outputs between the GEMM's [Cout, N·OH·OW] layout and NCHW. x and y must not overlap.
    /// </summary>
    void SwapAxes(Tensor x, int xOffset, int rows, int cols, int inner, Tensor y, int yOffset);

    /// <summary>y [N, C, H + top + bottom, W + left + right] = x [N, C, H, W] padded with the given mode.</summary>
    void Pad2d(Tensor x, PaddingMode mode, Padding2d pad, Tensor y);

    /// <summary>The adjoint of <see cref="Pad2d"/>: dX (overwritten) sums every padded cell of dY back into the input cell it copied.</summary>
    void Pad2dBackward(Tensor dY, PaddingMode mode, Padding2d pad, Tensor dX);

    // ---- pooling ---------------------------------------------------------------------------------

    /// <summary>Max pooling of every (H, W) plane of x into y [.., OH, OW]; padding counts as −∞.</summary>
    void MaxPool2d(Tensor x, in PoolGeometry g, Tensor y);

    /// <summary>
    /// Max-pooling backward: dX (overwritten) receives each dY at the first position (row-major within the window) where x attains the maximum,
    /// recomputed from x, so no index tensor is kept.
    /// </summary>
    void MaxPool2dBackward(Tensor x, Tensor dY, in PoolGeometry g, Tensor dX);

    /// <summary>Average pooling (sliding or adaptive) of every (H, W) plane of x into y.</summary>
    void AvgPool2d(Tensor x, in PoolGeometry g, Tensor y);

    /// <summary>Average-pooling backward: dX (overwritten) spreads each dY evenly over its window's divisor.</summary>
    void AvgPool2dBackward(Tensor dY, in PoolGeometry g, Tensor dX);

    // ---- batch normalisation ---------------------------------------------------------------------

    /// <summary>Per-channel mean and biased variance of x viewed as [outer, channels, inner].</summary>
    void BatchNormStatistics(Tensor x, int outer, int channels, int inner, Tensor mean, Tensor variance);

    /// <summary>y = (x − mean[c])·invStd[c]·gamma[c] + beta[c].</summary>
    void BatchNormForward(Tensor x, Tensor mean, Tensor invStd, Tensor gamma, Tensor beta, int outer, int channels, int inner, Tensor y);

    /// <summary>
    /// Batch-norm backward. dGamma += Σ dY·x̂ and dBeta += Σ dY (accumulated); dX is overwritten:
    /// with <paramref name="batchStatistics"/>, dX = invStd/M·(M·g − Σg − x̂·Σ(g·x̂)) where g = dY·gamma and M = outer·inner;
    /// otherwise (statistics held fixed, as in eval mode) dX = dY·gamma·invStd.
    /// </summary>
    void BatchNormBackward(Tensor x, Tensor dY, Tensor mean, Tensor invStd, Tensor gamma, int outer, int channels, int inner,
                           bool batchStatistics, Tensor dX, Tensor dGamma, Tensor dBeta);

    // ---- losses, randomness, optimizers -----------------------------------------------------------

    /// <summary>
    /// Softmax cross-entropy over logits [N, K] with integer labels: returns the mean loss over the batch and writes
    /// dLogits = (softmax(logits) − onehot(labels)) / N. Stable for large logits (subtracts the row maximum).
    /// </summary>
    double SoftmaxCrossEntropy(Tensor logits, ReadOnlySpan<int> labels, Tensor dLogits);

    /// <summary>
    /// mask[i] = keepValue when a counter-based uniform draw u(seed, stream, i) is ≥ p, else 0.
    /// The draw is the same on every device (see <see cref="Rng.Uniform"/>), so masks agree across backends.
    /// </summary>
    void DropoutMask(ulong seed, ulong stream, float p, float keepValue, Tensor mask);

    /// <summary>PyTorch's SGD update for one parameter (see <c>ConvEngine.Optim.Sgd</c>); velocity may be null when momentum is 0.</summary>
    void SgdStep(Tensor weight, Tensor grad, Tensor? velocity, float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep);

    /// <summary>PyTorch's Adam (decoupled = false) or AdamW (decoupled = true) update for one parameter at step <paramref name="step"/> (1-based).</summary>
    void AdamStep(Tensor weight, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, bool decoupled, int step);
}
