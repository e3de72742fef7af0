using ConvEngine.NN;

namespace ConvEngine.Optim;

/// <summary>
/// The base of the optimizers: holds the parameters, the learning rate, the step count and per-parameter state tensors
/// (momentum buffers, Adam moments) that live on each parameter's device. Updates use the device primitives, so they run
/// where the parameters are.
/// </summary>
/// <remarks>
/// Usage per iteration: <c>ZeroGrad()</c>, forward, loss, backward, <c>Step()</c>. State tensors are created at the first
/// <see cref="Step"/> (as PyTorch's lazily created state). <see cref="StateDict"/> names them <c>&lt;parameter name&gt;.&lt;state&gt;</c>
/// and adds <c>step</c>, a tensor of shape [] holding <see cref="StepCount"/>.
/// </remarks>
public abstract class Optimizer
{
    private readonly List<Parameter> _parameters;
    private readonly Dictionary<(Parameter, string), Tensor> _state = [];
    private float _lr;

    /// <summary>Captures the parameters to update.</summary>
    /// <param name="parameters">The parameters (at least one, no duplicates), typically <c>model.Parameters()</c>.</param>
    /// <param name="lr">The learning rate (≥ 0).</param>
    protected Optimizer(IEnumerable<Parameter> parameters, float lr)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = parameters.ToList();
        if (_parameters.Count == 0) throw new ArgumentException("The optimizer got an empty parameter list.", nameof(parameters));
        if (_parameters.Any(p => p is null)) throw new ArgumentException("The parameter list contains null.", nameof(parameters));
        var seen = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var p in _parameters)
            if (!seen.Add(p)) throw new ArgumentException($"Parameter '{p.Name}' appears more than once.", nameof(parameters));
        LearningRate = lr;
    }

    /// <summary>The parameters being optimised, in the order given.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>The parameters as the concrete list, for allocation-free iteration in <see cref="Step"/>.</summary>
    private protected List<Parameter> ParameterList => _parameters;

    /// <summary>The learning rate used by the next <see cref="Step"/> (schedulers set it).</summary>
    public float LearningRate
    {
        get => _lr;
        set
        {
            if (!(value >= 0) || float.IsInfinity(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "The learning rate must be finite and non-negative.");
            _lr = value;
        }
    }

    /// <summary>How many times <see cref="Step"/> has run (Adam's bias correction uses it as its 1-based step t).</summary>
    public int StepCount { get; protected set; }

    /// <summary>Updates every parameter from its gradient.</summary>
    public abstract void Step();

    /// <summary>Clears every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _parameters) p.ZeroGrad();
    }

    /// <summary>The state tensor <paramref name="kind"/> of <paramref name="p"/>, or null when it does not exist yet.</summary>
    protected Tensor? GetState(Parameter p, string kind) => _state.TryGetValue((p, kind), out var t) ? t : null;

    /// <summary>The state tensor <paramref name="kind"/> of <paramref name="p"/>, created zero-filled (shape of the parameter) when missing.</summary>
    protected Tensor GetOrCreateState(Parameter p, string kind)
    {
        if (!_state.TryGetValue((p, kind), out var t))
        {
            t = p.Value.ZerosLike();
            t.Name = p.Name + "." + kind;
            _state[(p, kind)] = t;
        }
        return t;
    }

    /// <summary>The names of the per-parameter state tensors this optimizer uses (such as <c>exp_avg</c>).</summary>
    protected abstract IReadOnlyList<string> StateKinds { get; }

    /// <summary>
    /// The optimizer state by name: the live per-parameter state tensors (<c>&lt;param&gt;.momentum_buffer</c>,
    /// <c>&lt;param&gt;.exp_avg</c>, <c>&lt;param&gt;.exp_avg_sq</c>) that exist so far, and <c>step</c>, a new tensor of shape [].
    /// The learning rate is not included: it belongs to the caller or its scheduler.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> StateDict()
    {
        RequireUniqueNames();
        var d = new Dictionary<string, Tensor>();
        var device = _parameters[0].Value.Device;
        var step = new Tensor(device);
        step.CopyFrom([StepCount]);
        d["step"] = step;
        foreach (var p in _parameters)
            foreach (var kind in StateKinds)
                if (GetState(p, kind) is { } t) d[p.Name + "." + kind] = t;
        return d;
    }

    /// <summary>
    /// Restores state saved by <see cref="StateDict"/>: copies the values (from any device) into this optimizer's state tensors,
    /// creating them as needed. <c>step</c> is required; an unknown name or a shape mismatch throws and nothing is changed.
    /// State a parameter has no entry for is dropped (it will start fresh, as before its first step).
    /// </summary>
    /// <param name="state">Tensors by name.</param>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        RequireUniqueNames();
        if (!state.TryGetValue("step", out var stepTensor) || stepTensor.Length != 1)
            throw new ArgumentException("The state dict needs 'step', a tensor with one element.", nameof(state));
        float stepValue = stepTensor.ToArray()[0];
        if (!(stepValue >= 0) || stepValue != MathF.Floor(stepValue) || stepValue > int.MaxValue)
            throw new ArgumentException($"'step' must be a non-negative integer but is {stepValue}.", nameof(state));
        var targets = new Dictionary<string, (Parameter P, string Kind)>();
        foreach (var p in _parameters)
            foreach (var kind in StateKinds) targets[p.Name + "." + kind] = (p, kind);
        foreach (var (name, t) in state)
        {
            if (name == "step") continue;
            if (!targets.TryGetValue(name, out var target))
                throw new ArgumentException($"Unexpected optimizer state '{name}'.", nameof(state));
            if (!t.ShapeRef.AsSpan().SequenceEqual(target.P.Value.ShapeRef))
                throw new ArgumentException($"Optimizer state '{name}': expected shape {target.P.Value.ShapeString} but got {t.ShapeString}.", nameof(state));
        }
        _state.Clear();
        foreach (var (name, (p, kind)) in targets)
            if (state.TryGetValue(name, out var src)) GetOrCreateState(p, kind).CopyFrom(src.ToArray());
        StepCount = (int)stepValue;
    }

    private void RequireUniqueNames()
    {
        var dup = _parameters.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
            throw new InvalidOperationException($"Several parameters are named '{dup.Key}', so their state cannot be saved by name; register them in one model.");
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="value"/> is finite and ≥ 0.</summary>
    protected static void RequireNonNegative(float value, string name)
    {
        if (!(value >= 0) || float.IsInfinity(value)) throw new ArgumentOutOfRangeException(name, value, $"{name} must be finite and non-negative.");
    }
}
