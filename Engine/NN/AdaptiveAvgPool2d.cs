using System.Globalization;

namespace ConvEngine.NN;

// Adaptive 2-D average pooling: x (N, C, H, W) → y (N, C, OH, OW) for a fixed output size, whatever H and W are.
//   windows   output row i averages input rows ⌊i·H/OH⌋ .. ⌈(i+1)·H/OH⌉ − 1, columns likewise (windows may overlap)
//   forward   y[n, c, i, j] = mean of x over the window
//   backward  dX[n, c, h, w] = Σ over the windows containing (h, w) of dY[n, c, i, j] / window size
// No parameters; dX and y come from ReusableBuffer. Cache: the input's shape and the geometry (in AvgPoolPass, shared with the other average pooling).

/// <summary>Adaptive average pooling to a fixed output size (PyTorch's AdaptiveAvgPool2d), e.g. the global pooling before a classifier.</summary>
public sealed class AdaptiveAvgPool2d : Module
{
    private readonly AvgPoolPass _pass = new();
    private readonly bool _square;

    /// <summary>Creates an adaptive pooling to (<paramref name="outH"/>, <paramref name="outW"/>).</summary>
    /// <param name="outH">Output height.</param>
    /// <param name="outW">Output width.</param>
    public AdaptiveAvgPool2d(int outH, int outW)
    {
        if (outH <= 0) throw new ArgumentOutOfRangeException(nameof(outH), outH, $"outH must be positive but got {outH}.");
        if (outW <= 0) throw new ArgumentOutOfRangeException(nameof(outW), outW, $"outW must be positive but got {outW}.");
        OutputSize = (outH, outW);
    }

    /// <summary>Creates an adaptive pooling to a square output (1 gives global average pooling).</summary>
    /// <param name="outputSize">Output height and width.</param>
    public AdaptiveAvgPool2d(int outputSize)
    {
        if (outputSize <= 0) throw new ArgumentOutOfRangeException(nameof(outputSize), outputSize, $"outputSize must be positive but got {outputSize}.");
        OutputSize = (outputSize, outputSize);
        _square = true;
    }

    /// <summary>Output (height, width).</summary>
    public (int H, int W) OutputSize { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        ShapeUtil.RequireRank(x, 4, nameof(x), "[N, C, H, W]");
        int h = x.Dim(2), w = x.Dim(3);
        if (h == 0 || w == 0)
            throw new ArgumentException($"Input {x.ShapeString} has an empty plane; adaptive pooling needs H ≥ 1 and W ≥ 1.", nameof(x));
        var g = PoolGeometry.AdaptiveOf(h, w, OutputSize.H, OutputSize.W);
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
    public override string ToString() => _square
        ? string.Create(CultureInfo.InvariantCulture, $"AdaptiveAvgPool2d(output_size={OutputSize.H})")
        : string.Create(CultureInfo.InvariantCulture, $"AdaptiveAvgPool2d(output_size=({OutputSize.H}, {OutputSize.W}))");
}
