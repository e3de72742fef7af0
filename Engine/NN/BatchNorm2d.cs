namespace ConvEngine.NN;

// BatchNorm2d over x (N, C, H, W): statistics per channel over N·H·W values. The math, caches and gradients are in
// BatchNormBase.cs (dγ, dβ accumulated; cleared by ZeroGrad). See docs/layers/batchnorm.md.

/// <summary>
/// Batch normalisation of images (N, C, H, W), as PyTorch's <c>nn.BatchNorm2d</c>: in training mode each channel is normalised
/// with the batch's mean and biased variance over N·H·W values and the running statistics are updated; in eval mode the running
/// statistics are used. Then y = x̂·weight + bias.
/// </summary>
public sealed class BatchNorm2d : BatchNormBase
{
    /// <summary>Creates the layer with weight 1, bias 0, running mean 0 and running variance 1.</summary>
    /// <param name="numFeatures">The number of channels C.</param>
    /// <param name="eps">Added to the variance before the square root.</param>
    /// <param name="momentum">The weight of the newest batch in the running statistics.</param>
    /// <param name="device">Where the parameters and buffers live (default <see cref="CpuDevice.Default"/>).</param>
    public BatchNorm2d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, IDevice? device = null)
        : base(numFeatures, eps, momentum, device) { }

    private protected override (int Outer, int Inner) Layout(Tensor x)
    {
        ShapeUtil.RequireRank(x, 4, nameof(x), "[N, C, H, W]");
        return (x.Dim(0), x.Dim(2) * x.Dim(3));
    }
}
