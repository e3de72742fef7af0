namespace ConvEngine.Losses;

/// <summary>How a loss combines its per-element terms.</summary>
public enum Reduction
{
    /// <summary>The mean over all elements (PyTorch's default).</summary>
    Mean,
    /// <summary>The sum over all elements.</summary>
    Sum,
    /// <summary>Half the sum: ½Σ(target − output)², whose gradient is simply (output − target) (the seeds' loss).</summary>
    HalfSum,
}

/// <summary>A loss value together with its gradient with respect to the loss's first input.</summary>
/// <param name="Loss">The scalar loss.</param>
/// <param name="Gradient">∂Loss/∂input, with the input's shape; a new tensor owned by the caller.</param>
public readonly record struct LossResult(double Loss, Tensor Gradient);
