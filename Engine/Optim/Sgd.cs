using ConvEngine.NN;

namespace ConvEngine.Optim;

/// <summary>
/// Stochastic gradient descent as PyTorch 1.13's <c>torch.optim.SGD</c>. For each parameter w with gradient g:
/// <code>
/// d = g + weightDecay·w
/// buf = (first step) ? d : momentum·buf + (1 − dampening)·d      (only when momentum ≠ 0)
/// d = nesterov ? d + momentum·buf : buf                          (only when momentum ≠ 0)
/// w = w − lr·d
/// </code>
/// The momentum buffer is saved as <c>&lt;param&gt;.momentum_buffer</c>.
/// </summary>
public sealed class Sgd : Optimizer
{
    private static readonly string[] Kinds = ["momentum_buffer"];

    /// <summary>Creates the optimizer.</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="lr">The learning rate.</param>
    /// <param name="momentum">The momentum factor μ (0: plain SGD).</param>
    /// <param name="weightDecay">L2 penalty added to the gradient.</param>
    /// <param name="nesterov">Nesterov momentum; needs momentum &gt; 0 and dampening 0.</param>
    /// <param name="dampening">Dampening of the new gradient in the momentum buffer.</param>
    public Sgd(IEnumerable<Parameter> parameters, float lr, float momentum = 0, float weightDecay = 0, bool nesterov = false, float dampening = 0)
        : base(parameters, lr)
    {
        RequireNonNegative(momentum, nameof(momentum));
        RequireNonNegative(weightDecay, nameof(weightDecay));
        if (!float.IsFinite(dampening)) throw new ArgumentOutOfRangeException(nameof(dampening), dampening, "dampening must be finite.");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException($"Nesterov momentum requires a momentum and zero dampening (got momentum {momentum}, dampening {dampening}).", nameof(nesterov));
        Momentum = momentum;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        Dampening = dampening;
    }

    /// <summary>The momentum factor.</summary>
    public float Momentum { get; }
    /// <summary>The L2 penalty.</summary>
    public float WeightDecay { get; }
    /// <summary>Whether Nesterov momentum is used.</summary>
    public bool Nesterov { get; }
    /// <summary>The dampening of the momentum buffer.</summary>
    public float Dampening { get; }

    /// <inheritdoc/>
    protected override IReadOnlyList<string> StateKinds => Kinds;

    /// <inheritdoc/>
    public override void Step()
    {
        foreach (var p in ParameterList)   // the List itself: no boxed enumerator per step
        {
            Tensor? buf = null;
            bool first = false;
            if (Momentum != 0)
            {
                buf = GetState(p, Kinds[0]);
                first = buf is null;
                buf ??= GetOrCreateState(p, Kinds[0]);
            }
            p.Value.Device.SgdStep(p.Value, p.Grad, buf, LearningRate, Momentum, Dampening, WeightDecay, Nesterov, first);
        }
        StepCount++;
    }

    /// <inheritdoc/>
    public override string ToString() => $"SGD(lr={LearningRate}, momentum={Momentum}, dampening={Dampening}, weight_decay={WeightDecay}, nesterov={Nesterov})";
}
