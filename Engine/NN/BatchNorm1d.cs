namespace ConvEngine.NN;

// BatchNorm1d over x (N, C) or (N, C, L): statistics per channel over N (or N·L) values. The math, caches and gradients are in
// BatchNormBase.cs (dγ, dβ accumulated; cleared by ZeroGrad). See docs/layers/batchnorm.md.

/// <summary>
/// Batch normalisation of feature vectors (N, C) or sequences (N, C, L), as PyTorch's <c>nn.BatchNorm1d</c>: per channel over
/// N (or N·L) values; batch statistics in training mode, running statistics in eval mode; then y = x̂·weight + bias.
/// </summary>
public sealed class BatchNorm1d : BatchNormBase
{
    /// <summary>Creates the layer with weight 1, bias 0, running mean 0 and running variance 1.</summary>
    /// <param name="numFeatures">The number of channels (features) C.</param>
    /// <param name="eps">Added to the variance before the square root.</param>
    /// <param name="momentum">The weight of the newest batch in the running statistics.</param>
    /// <param name="device">Where the parameters and buffers live (default <see cref="CpuDevice.Default"/>).</param>
    public BatchNorm1d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, IDevice? device = null)
        : base(numFeatures, eps, momentum, device) { }

    private protected override (int Outer, int Inner) Layout(Tensor x)
    {
        if (x.Rank != 2 && x.Rank != 3)
            throw new ArgumentException($"Expected a rank-2 tensor [N, C] or a rank-3 tensor [N, C, L] but got shape {x.ShapeString} (rank {x.Rank}).", nameof(x));
        return (x.Dim(0), x.Rank == 3 ? x.Dim(2) : 1);
    }
}
