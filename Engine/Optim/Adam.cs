using ConvEngine.NN;

namespace ConvEngine.Optim;

/// <summary>
/// Adam as PyTorch 1.13's <c>torch.optim.Adam</c> (amsgrad off). At step t (1-based) for each parameter w with gradient g:
/// <code>
/// g = g + weightDecay·w                          (L2 penalty through the gradient; AdamW decays w directly instead)
/// m = β₁·m + (1 − β₁)·g                          (saved as &lt;param&gt;.exp_avg)
/// v = β₂·v + (1 − β₂)·g²                         (saved as &lt;param&gt;.exp_avg_sq)
/// w = w − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps)
/// </code>
/// </summary>
public class Adam : Optimizer
{
    private static readonly string[] Kinds = ["exp_avg", "exp_avg_sq"];
    private readonly bool _decoupled;

    /// <summary>Creates the optimizer.</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="lr">The learning rate.</param>
    /// <param name="beta1">The decay of the first-moment average, in [0, 1).</param>
    /// <param name="beta2">The decay of the second-moment average, in [0, 1).</param>
    /// <param name="eps">Added to the denominator.</param>
    /// <param name="weightDecay">L2 penalty added to the gradient.</param>
    public Adam(IEnumerable<Parameter> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0)
        : this(parameters, lr, beta1, beta2, eps, weightDecay, decoupled: false) { }

    private protected Adam(IEnumerable<Parameter> parameters, float lr, float beta1, float beta2, float eps, float weightDecay, bool decoupled)
        : base(parameters, lr)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "beta1 must be in [0, 1).");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "beta2 must be in [0, 1).");
        RequireNonNegative(eps, nameof(eps));
        RequireNonNegative(weightDecay, nameof(weightDecay));
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        _decoupled = decoupled;
    }

    /// <summary>The decay of the first-moment average.</summary>
    public float Beta1 { get; }
    /// <summary>The decay of the second-moment average.</summary>
    public float Beta2 { get; }
    /// <summary>Added to the denominator.</summary>
    public float Eps { get; }
    /// <summary>The weight decay (L2 through the gradient for Adam, decoupled for AdamW).</summary>
    public float WeightDecay { get; }

    /// <inheritdoc/>
    protected override IReadOnlyList<string> StateKinds => Kinds;

    /// <inheritdoc/>
    public override void Step()
    {
        int t = StepCount + 1;
        foreach (var p in ParameterList)   // the List itself: no boxed enumerator per step
        {
            var m = GetOrCreateState(p, Kinds[0]);
            var v = GetOrCreateState(p, Kinds[1]);
            p.Value.Device.AdamStep(p.Value, p.Grad, m, v, LearningRate, Beta1, Beta2, Eps, WeightDecay, _decoupled, t);
        }
        StepCount = t;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{GetType().Name}(lr={LearningRate}, betas=({Beta1}, {Beta2}), eps={Eps}, weight_decay={WeightDecay})";
}

/// <summary>
/// AdamW as PyTorch 1.13's <c>torch.optim.AdamW</c>: Adam with decoupled weight decay, w = w·(1 − lr·weightDecay) before the
/// Adam update (the gradient itself is not changed). State names as <see cref="Adam"/>.
/// </summary>
public sealed class AdamW : Adam
{
    /// <summary>Creates the optimizer.</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="lr">The learning rate.</param>
    /// <param name="beta1">The decay of the first-moment average, in [0, 1).</param>
    /// <param name="beta2">The decay of the second-moment average, in [0, 1).</param>
    /// <param name="eps">Added to the denominator.</param>
    /// <param name="weightDecay">The decoupled decay rate.</param>
    public AdamW(IEnumerable<Parameter> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 1e-2f)
        : base(parameters, lr, beta1, beta2, eps, weightDecay, decoupled: true) { }
}
