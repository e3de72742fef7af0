namespace ConvEngine.NN;

/// <summary>
/// The forward and backward pass shared by <see cref="AvgPool2d"/> and <see cref="AdaptiveAvgPool2d"/>: they differ only in
/// how the geometry's windows are chosen, which the layer decides. Cache: the input's shape, its device and the geometry.
/// </summary>
internal sealed class AvgPoolPass
{
    private IDevice? _device;
    private PoolGeometry _geom;

    /// <summary>The shape of the last forward's input; null before the first forward.</summary>
    public int[]? InputShape { get; private set; }

    /// <summary>y (shape [N, C, OH, OW], overwritten) = average pooling of x over the windows of <paramref name="g"/>.</summary>
    public Tensor Forward(Tensor x, in PoolGeometry g, Tensor y)
    {
        x.Device.AvgPool2d(x, g, y);
        InputShape = Module.SameShape(InputShape, x);
        _device = x.Device;
        _geom = g;
        return y;
    }

    /// <summary>dX: each dY spread evenly over its window's divisor. Call only after <see cref="Forward"/>.</summary>
    public Tensor Backward(Tensor dY, Tensor dX)
    {
        var shape = InputShape!;
        ArgumentNullException.ThrowIfNull(dY);
        ReadOnlySpan<int> expected = [shape[0], shape[1], _geom.OutH, _geom.OutW];
        ShapeUtil.RequireShape(dY, expected, nameof(dY));
        Module.CheckDevice(dY, _device!, nameof(dY));
        _device!.AvgPool2dBackward(dY, _geom, dX);
        return dX;
    }
}
