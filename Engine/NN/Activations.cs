namespace ConvEngine.NN;

// Element-wise activations, any shape (N, ...):
//   forward   y = f(x)
//   backward  dX = f'(x) ⊙ dY        (no parameters; dX is written whole (a new tensor, or the reused buffer: Module.ReuseBuffers), nothing is accumulated)
// The derivatives, written with y = f(x) where that is cheaper:
//   ReLU       f = max(x, 0)              f' = 1[x > 0]
//   LeakyReLU  f = x>0 ? x : a·x          f' = x>0 ? 1 : a
//   ELU        f = x>0 ? x : a·(eˣ−1)     f' = x>0 ? 1 : y + a
//   Sigmoid    f = 1/(1+e⁻ˣ)              f' = y·(1−y)      (at most 1/4: why deep sigmoid nets' gradients vanish)
//   Tanh       f = tanh x                 f' = 1 − y²

/// <summary>The shared forward/backward of an element-wise activation; the cache is the last input and output.</summary>
public abstract class Activation : Module
{
    private Tensor? _x, _y;

    /// <summary>Creates an activation computing <paramref name="op"/> with parameter <paramref name="alpha"/>.</summary>
    protected Activation(UnaryOp op, float alpha)
    {
        Op = op;
        Alpha = alpha;
    }

    /// <summary>The device function.</summary>
    public UnaryOp Op { get; }

    /// <summary>The function's parameter (negative slope, ELU's alpha), 0 when unused.</summary>
    public float Alpha { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = ReusableBuffer(0, x.Device, x.ShapeRef, x);
        x.Device.Unary(Op, Alpha, x, y);
        _x = x;
        _y = y;
        return y;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var x = RequireCache(_x);
        CheckGradShape(dY, _y!);
        var dX = ReusableBuffer(1, x.Device, x.ShapeRef, dY);
        x.Device.UnaryBackward(Op, Alpha, x, _y!, dY, dX);
        return dX;
    }
}

/// <summary>Rectified linear unit: y = max(x, 0).</summary>
public sealed class ReLU() : Activation(UnaryOp.Relu, 0f)
{
    /// <inheritdoc/>
    public override string ToString() => "ReLU()";
}

/// <summary>Leaky ReLU: y = x for x &gt; 0, else negativeSlope·x.</summary>
/// <param name="negativeSlope">The slope for negative inputs (PyTorch's default 0.01).</param>
public sealed class LeakyReLU(float negativeSlope = 0.01f) : Activation(UnaryOp.LeakyRelu, negativeSlope)
{
    /// <inheritdoc/>
    public override string ToString() => $"LeakyReLU(negative_slope={Alpha})";
}

/// <summary>Exponential linear unit: y = x for x &gt; 0, else alpha·(eˣ − 1).</summary>
/// <param name="alpha">The saturation value for large negative inputs.</param>
public sealed class ELU(float alpha = 1f) : Activation(UnaryOp.Elu, alpha)
{
    /// <inheritdoc/>
    public override string ToString() => $"ELU(alpha={Alpha})";
}

/// <summary>Logistic sigmoid: y = 1 / (1 + e⁻ˣ).</summary>
public sealed class Sigmoid() : Activation(UnaryOp.Sigmoid, 0f)
{
    /// <inheritdoc/>
    public override string ToString() => "Sigmoid()";
}

/// <summary>Hyperbolic tangent.</summary>
public sealed class Tanh() : Activation(UnaryOp.Tanh, 0f)
{
    /// <inheritdoc/>
    public override string ToString() => "Tanh()";
}
