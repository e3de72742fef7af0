using ConvEngine.NN;

namespace ConvEngine.Optim;

/// <summary>Gradient clipping, as <c>torch.nn.utils.clip_grad_norm_</c> with the L2 norm.</summary>
public static class GradClip
{
    /// <summary>
    /// Computes the global L2 norm of all gradients, total = √(Σ over parameters of Σ g²), and when total &gt; maxNorm scales
    /// every gradient in place by maxNorm/(total + 1e-6). Returns total (before clipping).
    /// </summary>
    /// <remarks>A non-finite total leaves the gradients unchanged (PyTorch would multiply them by NaN); check the returned value.</remarks>
    /// <param name="parameters">The parameters whose gradients are clipped.</param>
    /// <param name="maxNorm">The largest allowed norm (≥ 0).</param>
    public static float ClipGradNorm(IEnumerable<Parameter> parameters, float maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "maxNorm must be non-negative.");
        var list = parameters.ToList();
        double sumSq = 0;
        foreach (var p in list) sumSq += p.Grad.Device.SumOfSquares(p.Grad);
        double total = Math.Sqrt(sumSq);
        double coef = maxNorm / (total + 1e-6);
        if (coef < 1)
            foreach (var p in list) p.Grad.Device.Unary(UnaryOp.Scale, (float)coef, p.Grad, p.Grad);
        return (float)total;
    }
}
