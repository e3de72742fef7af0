namespace ConvEngine.NN;

// Flatten: (N, C, H, W) -> (N, C·H·W). A view: no data moves.
//   backward: dX = dY viewed with the input's shape (no parameters).
// With buffer reuse on, a pass given the same tensor as last time returns the same view object (no allocation per step).

/// <summary>Flattens every dimension after the first: (N, d1, d2, …) → (N, d1·d2·…).</summary>
public sealed class Flatten : Module
{
    private int[]? _inputShape;
    private Tensor? _x, _xView, _dY, _dYView;

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 1) throw new ArgumentException($"Flatten needs at least one dimension (the batch) but got shape {x.ShapeString}.", nameof(x));
        _inputShape = SameShape(_inputShape, x);
        if (ReusesBuffers && ReferenceEquals(x, _x) && _xView is not null) return _xView;
        int n = x.Dim(0);
        var view = x.Reshape(n, n == 0 ? 0 : x.Length / n);
        (_x, _xView) = ReusesBuffers ? (x, view) : (null, null);
        return view;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var shape = RequireCache(_inputShape);
        ArgumentNullException.ThrowIfNull(dY);
        if (dY.Length != ShapeUtil.Product(shape))
            throw new ArgumentException($"dY {dY.ShapeString} does not match the flattened input {ShapeUtil.Format(shape)}.", nameof(dY));
        if (ReusesBuffers && ReferenceEquals(dY, _dY) && _dYView is not null && _dYView.ShapeRef.AsSpan().SequenceEqual(shape)) return _dYView;
        var view = dY.Reshape(shape);
        (_dY, _dYView) = ReusesBuffers ? (dY, view) : (null, null);
        return view;
    }

    /// <inheritdoc/>
    public override string ToString() => "Flatten()";
}
