using System.Globalization;

namespace ConvEngine.NN;

// 2-D max pooling over every (H, W) plane of x (N, C, H, W) → y (N, C, OH, OW), OH = ⌊(H + 2·p − k) / s⌋ + 1 (floor mode).
//   forward   y[n, c, oh, ow] = max over the window rows oh·s − p .. oh·s − p + k − 1 (clipped to the input; padding is −∞)
//   backward  dX[n, c, i, j] = Σ over the windows whose FIRST maximum (row-major within the window; a NaN wins) is (i, j) of dY
//             Overlapping windows (stride < kernel) can route several dY to one input cell; they add up.
// No parameters; dX is written whole (a new tensor, or the reused buffer: Module.ReuseBuffers). Cache: the input x (the argmax is recomputed in backward, no index tensor is kept).

/// <summary>2-D max pooling with PyTorch's arguments (floor mode, dilation 1).</summary>
public sealed class MaxPool2d : Module
{
    private Tensor? _x;
    private PoolGeometry _geom;
    private readonly bool _square;

    /// <summary>Creates a square max pooling.</summary>
    /// <param name="kernelSize">Window height and width.</param>
    /// <param name="stride">Stride along both axes; null (the default) means <paramref name="kernelSize"/>.</param>
    /// <param name="padding">Implicit −∞ padding on every side, at most half the kernel.</param>
    public MaxPool2d(int kernelSize, int? stride = null, int padding = 0)
        : this((kernelSize, kernelSize), stride is int s ? (s, s) : null, (padding, padding)) => _square = true;

    /// <summary>Creates a rectangular max pooling.</summary>
    /// <param name="kernelSize">Window (height, width).</param>
    /// <param name="stride">Stride (vertical, horizontal); null means <paramref name="kernelSize"/>.</param>
    /// <param name="padding">Implicit −∞ padding (top and bottom, left and right), at most half the kernel; default (0, 0).</param>
    public MaxPool2d((int H, int W) kernelSize, (int H, int W)? stride = null, (int H, int W)? padding = null)
    {
        (KernelSize, Stride, Padding) = PoolArgs.Validate(kernelSize, stride, padding);
    }

    /// <summary>Window (height, width).</summary>
    public (int H, int W) KernelSize { get; }
    /// <summary>Stride (vertical, horizontal).</summary>
    public (int H, int W) Stride { get; }
    /// <summary>Padding (top and bottom, left and right).</summary>
    public (int H, int W) Padding { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var g = PoolArgs.Geometry(x, KernelSize, Stride, Padding, countIncludePad: true);
        var y = ReusableBuffer(0, x.Device, [x.Dim(0), x.Dim(1), g.OutH, g.OutW], x);
        x.Device.MaxPool2d(x, g, y);
        _x = x;
        _geom = g;
        return y;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var x = RequireCache(_x);
        PoolArgs.CheckDY(dY, x, _geom);
        var dX = ReusableBuffer(1, x.Device, x.ShapeRef, dY);
        x.Device.MaxPool2dBackward(x, dY, _geom, dX);
        return dX;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"MaxPool2d(kernel_size={PoolArgs.Show(KernelSize, _square)}, stride={PoolArgs.Show(Stride, _square)}, padding={PoolArgs.Show(Padding, _square)}, dilation=1, ceil_mode=False)";
}

/// <summary>Argument checks and geometry shared by the pooling layers.</summary>
internal static class PoolArgs
{
    public static ((int H, int W) Kernel, (int H, int W) Stride, (int H, int W) Padding) Validate(
        (int H, int W) kernelSize, (int H, int W)? stride, (int H, int W)? padding)
    {
        if (kernelSize.H <= 0 || kernelSize.W <= 0)
            throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, $"kernelSize must be positive but got {Show(kernelSize, false)}.");
        var s = stride ?? kernelSize;
        if (s.H <= 0 || s.W <= 0)
            throw new ArgumentOutOfRangeException(nameof(stride), s, $"stride must be positive but got {Show(s, false)}.");
        var p = padding ?? (0, 0);
        if (p.H < 0 || p.W < 0)
            throw new ArgumentOutOfRangeException(nameof(padding), p, $"padding must be zero or positive but got {Show(p, false)}.");
        if (p.H > kernelSize.H / 2 || p.W > kernelSize.W / 2)
            throw new ArgumentException($"padding should be at most half of the kernel size, but got padding {Show(p, false)} with kernelSize {Show(kernelSize, false)}.", nameof(padding));
        return (kernelSize, s, p);
    }

    /// <summary>Checks a rank-4 input and returns its geometry; a window larger than the padded input names x and the sizes.</summary>
    public static PoolGeometry Geometry(Tensor x, (int H, int W) k, (int H, int W) s, (int H, int W) p, bool countIncludePad)
    {
        ShapeUtil.RequireRank(x, 4, nameof(x), "[N, C, H, W]");
        int h = x.Dim(2), w = x.Dim(3);
        if (h == 0 || w == 0 || k.H > h + 2 * p.H || k.W > w + 2 * p.W)
            throw new ArgumentException(
                $"Input {x.ShapeString} is too small for kernel {Show(k, false)} with padding {Show(p, false)}: the padded input is ({h + 2 * p.H}, {w + 2 * p.W}).", nameof(x));
        return new PoolGeometry(h, w, k.H, k.W, s.H, s.W, p.H, p.W, countIncludePad);
    }

    /// <summary>Checks that dY has the shape [N, C, OH, OW] of the last output.</summary>
    public static void CheckDY(Tensor dY, Tensor x, in PoolGeometry g)
    {
        ArgumentNullException.ThrowIfNull(dY);
        ReadOnlySpan<int> expected = [x.Dim(0), x.Dim(1), g.OutH, g.OutW];
        ShapeUtil.RequireShape(dY, expected, nameof(dY));
        if (!ReferenceEquals(dY.Device, x.Device))
            throw new ArgumentException($"dY {dY.ShapeString} is on {dY.Device.Name} but the input was on {x.Device.Name}.", nameof(dY));
    }

    public static string Show((int H, int W) v, bool square) =>
        square && v.H == v.W ? v.H.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"({v.H}, {v.W})");
}
