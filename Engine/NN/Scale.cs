namespace ConvEngine.NN;

// Scale by a fixed factor, any shape (N, ...): the seeds' "scale" of a residual branch.
//   forward   y = factor·x
//   backward  dX = factor·dY      (no parameters; dX is written whole (a new tensor, or the reused buffer: Module.ReuseBuffers), nothing is accumulated)
// Cache: the output shape only.

/// <summary>Multiplies its input by a fixed factor: y = factor·x.</summary>
public sealed class Scale : Module
{
    private int[]? _shape;

    /// <summary>Creates the layer.</summary>
    /// <param name="factor">The constant factor (any finite value).</param>
    public Scale(float factor)
    {
        if (!float.IsFinite(factor)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "The scale factor must be finite.");
        Factor = factor;
    }

    /// <summary>The constant factor.</summary>
    public float Factor { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = ReusableBuffer(0, x.Device, x.ShapeRef, x);
        x.Device.Unary(UnaryOp.Scale, Factor, x, y);
        _shape = SameShape(_shape, x);
        return y;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var shape = RequireCache(_shape);
        CheckGradShape(dY, shape);
        var dX = ReusableBuffer(1, dY.Device, dY.ShapeRef, dY);
        dY.Device.Unary(UnaryOp.Scale, Factor, dY, dX);
        return dX;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Scale({Factor})";
}
