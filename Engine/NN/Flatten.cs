namespace ConvEngine.NN;

// Flatten: (N, C, H, W) -> (N, C·H·W). A view: no data moves.
//   backward: dX = dY viewed with the input's shape (no parameters).

/// <summary>Flattens every dimension after the first: (N, d1, d2, …) → (N, d1·d2·…).</summary>
public sealed class Flatten : Module
{
    private int[]? _inputShape;

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 1) throw new ArgumentException($"Flatten needs at least one dimension (the batch) but got shape {x.ShapeString}.", nameof(x));
        _inputShape = x.Shape;
        int n = x.Dim(0);
        return x.Reshape(n, n == 0 ? 0 : x.Length / n);
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var shape = RequireCache(_inputShape);
        ArgumentNullException.ThrowIfNull(dY);
        if (dY.Length != ShapeUtil.Product(shape))
            throw new ArgumentException($"dY {dY.ShapeString} does not match the flattened input {ShapeUtil.Format(shape)}.", nameof(dY));
        return dY.Reshape(shape);
    }

    /// <inheritdoc/>
    public override string ToString() => "Flatten()";
}
