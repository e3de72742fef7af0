namespace ConvEngine.Losses;

// Squared error between output and target of the same shape (any), n elements, d = output − target:
//   Mean     L = Σd²/n     dL/d output = 2·d/n       (PyTorch's nn.MSELoss default)
//   Sum      L = Σd²       dL/d output = 2·d
//   HalfSum  L = ½Σd²      dL/d output = d           (the seeds' loss)
// Computed with device primitives only (Axpby, SumOfSquares, Unary Scale); Forward caches the gradient.

/// <summary>Mean-squared-error loss (or its sum / half-sum variants, see <see cref="Reduction"/>).</summary>
public sealed class MseLoss
{
    private Tensor? _gradient;

    /// <summary>Creates the loss.</summary>
    /// <param name="reduction">How the squared differences are combined.</param>
    public MseLoss(Reduction reduction = Reduction.Mean)
    {
        if (!Enum.IsDefined(reduction)) throw new ArgumentOutOfRangeException(nameof(reduction), reduction, "Unknown reduction.");
        Reduction = reduction;
    }

    /// <summary>How the squared differences are combined.</summary>
    public Reduction Reduction { get; }

    /// <summary>Returns the loss and caches dLoss/dOutput for <see cref="Backward"/>.</summary>
    /// <param name="output">The prediction (any shape, at least one element).</param>
    /// <param name="target">The target, with the shape of <paramref name="output"/>, on the same device.</param>
    public double Forward(Tensor output, Tensor target)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(target);
        ShapeUtil.RequireShape(target, output.ShapeRef, nameof(target));
        if (!ReferenceEquals(output.Device, target.Device))
            throw new ArgumentException($"target is on {target.Device.Name} but output is on {output.Device.Name}.", nameof(target));
        if (output.Length == 0)
            throw new ArgumentException($"Expected at least one element but output has shape {output.ShapeString}.", nameof(output));
        var device = output.Device;
        var diff = output.Clone();
        diff.Name = null;
        device.Axpby(-1f, target, 1f, diff);              // d = output − target
        double sumSq = device.SumOfSquares(diff);
        int n = output.Length;
        (double loss, float gradScale) = Reduction switch
        {
            Reduction.Mean => (sumSq / n, (float)(2.0 / n)),
            Reduction.Sum => (sumSq, 2f),
            _ => (0.5 * sumSq, 1f),
        };
        if (gradScale != 1f) device.Unary(UnaryOp.Scale, gradScale, diff, diff);
        _gradient = diff;
        return loss;
    }

    /// <summary>dLoss/dOutput from the last <see cref="Forward"/>, as a new tensor with the output's shape.</summary>
    public Tensor Backward() =>
        (_gradient ?? throw new InvalidOperationException("MseLoss: Backward was called before Forward.")).Clone();

    /// <summary>Forward and Backward in one call.</summary>
    /// <param name="output">The prediction.</param>
    /// <param name="target">The target, with the same shape.</param>
    public LossResult Compute(Tensor output, Tensor target) => new(Forward(output, target), Backward());

    /// <inheritdoc/>
    public override string ToString() => $"MseLoss(reduction={Reduction})";
}
