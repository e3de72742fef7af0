namespace ConvEngine.NN;

// 2-D average pooling over every (H, W) plane of x (N, C, H, W) → y (N, C, OH, OW), OH = ⌊(H + 2·p − k) / s⌋ + 1 (floor mode).
//   forward   y[n, c, oh, ow] = (Σ of x over the window clipped to the input) / divisor, where the divisor is
//             countIncludePad: the window's size clipped to the PADDED input (padding cells count, as zeros);
//             otherwise:       the number of real input cells in the window.
//   backward  dX[n, c, i, j] = Σ over the windows containing (i, j) of dY[n, c, oh, ow] / divisor(oh, ow)
// No parameters; dX and y come from ReusableBuffer. Cache: the input's shape and the geometry (in AvgPoolPass, shared with the other average pooling).

/// <summary>2-D average pooling with PyTorch's arguments (floor mode).</summary>
public sealed class AvgPool2d : Module
{
    private readonly AvgPoolPass _pass = new();
    private readonly bool _square;

    /// <summary>Creates a square average pooling.</summary>
    /// <param name="kernelSize">Window height and width.</param>
    /// <param name="stride">Stride along both axes; null (the default) means <paramref name="kernelSize"/>.</param>
    /// <param name="padding">Implicit zero padding on every side, at most half the kernel.</param>
    /// <param name="countIncludePad">Whether padded cells count in the divisor (PyTorch's count_include_pad).</param>
    public AvgPool2d(int kernelSize, int? stride = null, int padding = 0, bool countIncludePad = true)
        : this((kernelSize, kernelSize), stride is int s ? (s, s) : null, (padding, padding), countIncludePad) => _square = true;

    /// <summary>Creates a rectangular average pooling.</summary>
    /// <param name="kernelSize">Window (height, width).</param>
    /// <param name="stride">Stride (vertical, horizontal); null means <paramref name="kernelSize"/>.</param>
    /// <param name="padding">Implicit zero padding (top and bottom, left and right), at most half the kernel; default (0, 0).</param>
    /// <param name="countIncludePad">Whether padded cells count in the divisor.</param>
    public AvgPool2d((int H, int W) kernelSize, (int H, int W)? stride = null, (int H, int W)? padding = null, bool countIncludePad = true)
    {
        (KernelSize, Stride, Padding) = PoolArgs.Validate(kernelSize, stride, padding);
        CountIncludePad = countIncludePad;
    }

    /// <summary>Window (height, width).</summary>
    public (int H, int W) KernelSize { get; }
    /// <summary>Stride (vertical, horizontal).</summary>
    public (int H, int W) Stride { get; }
    /// <summary>Padding (top and bottom, left and right).</summary>
    public (int H, int W) Padding { get; }
    /// <summary>Whether padded cells count in the divisor.</summary>
    public bool CountIncludePad { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var g = PoolArgs.Geometry(x, KernelSize, Stride, Padding, CountIncludePad);
        return _pass.Forward(x, g, ReusableBuffer(0, x.Device, [x.Dim(0), x.Dim(1), g.OutH, g.OutW], x));
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        RequireCache(_pass.InputShape);
        ArgumentNullException.ThrowIfNull(dY);
        return _pass.Backward(dY, ReusableBuffer(1, dY.Device, _pass.InputShape!, dY));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"AvgPool2d(kernel_size={PoolArgs.Show(KernelSize, _square)}, stride={PoolArgs.Show(Stride, _square)}, padding={PoolArgs.Show(Padding, _square)}"
        + (CountIncludePad ? ")" : ", count_include_pad=False)");
}
