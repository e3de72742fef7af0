namespace ConvEngine.Optim;

/// <summary>
/// The base of learning-rate schedules. A schedule is a closed-form function <see cref="LearningRateAt"/> of the epoch
/// (PyTorch's <c>_get_closed_form_lr</c>); <see cref="Step"/> advances <see cref="LastEpoch"/> by one and writes the new rate
/// into the optimizer.
/// </summary>
/// <remarks>
/// As in PyTorch, constructing a schedule records the optimizer's current rate as <see cref="BaseLearningRate"/>, sets
/// <see cref="LastEpoch"/> to 0 and applies the epoch-0 rate. Call <see cref="Step"/> once per epoch after the epoch's
/// optimizer steps (<c>optimizer.Step()</c> then <c>scheduler.Step()</c>). Calling it once per iteration instead works the same
/// way with the periods (stepSize, tMax, warmupSteps) counted in iterations.
/// </remarks>
public abstract class LrScheduler
{
    private int _lastEpoch;

    /// <summary>Binds the schedule to <paramref name="optimizer"/> and applies the epoch-0 rate.</summary>
    /// <param name="optimizer">The optimizer whose <see cref="Optimizer.LearningRate"/> is set.</param>
    protected LrScheduler(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        Optimizer = optimizer;
        BaseLearningRate = optimizer.LearningRate;
    }

    /// <summary>The optimizer being scheduled.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The optimizer's rate when the schedule was created (PyTorch's <c>base_lr</c>).</summary>
    public float BaseLearningRate { get; }

    /// <summary>
    /// The number of <see cref="Step"/> calls so far. Setting it (to resume from a checkpoint) applies the rate of that epoch.
    /// </summary>
    public int LastEpoch
    {
        get => _lastEpoch;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _lastEpoch = value;
            Optimizer.LearningRate = LearningRateAt(value);
        }
    }

    /// <summary>The rate the schedule gives at <paramref name="epoch"/> (closed form; does not change any state).</summary>
    /// <param name="epoch">The epoch, 0 or more.</param>
    public abstract float LearningRateAt(int epoch);

    /// <summary>Advances one epoch and sets the optimizer's rate to <c>LearningRateAt(LastEpoch)</c>.</summary>
    public void Step() => LastEpoch = _lastEpoch + 1;

    /// <summary>Applies the epoch-0 rate; derived constructors call it once their fields are set.</summary>
    protected void Start() => LastEpoch = 0;
}

/// <summary>
/// Decays the rate by <c>gamma</c> every <c>stepSize</c> epochs (PyTorch's <c>StepLR</c>):
/// lr(t) = base·gamma^⌊t / stepSize⌋.
/// </summary>
public sealed class StepLR : LrScheduler
{
    /// <summary>Creates the schedule and applies the epoch-0 rate (the base rate).</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="stepSize">The period in epochs (≥ 1).</param>
    /// <param name="gamma">The multiplicative decay per period.</param>
    public StepLR(Optimizer optimizer, int stepSize, float gamma = 0.1f) : base(optimizer)
    {
        if (stepSize < 1) throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "stepSize must be at least 1.");
        if (!(gamma >= 0) || float.IsInfinity(gamma)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must be finite and non-negative.");
        StepSize = stepSize;
        Gamma = gamma;
        Start();
    }

    /// <summary>The period in epochs.</summary>
    public int StepSize { get; }
    /// <summary>The decay per period.</summary>
    public float Gamma { get; }

    /// <inheritdoc/>
    public override float LearningRateAt(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        return (float)(BaseLearningRate * Math.Pow(Gamma, epoch / StepSize));
    }
}

/// <summary>
/// Cosine annealing from the base rate to <c>etaMin</c> over <c>tMax</c> epochs (PyTorch's <c>CosineAnnealingLR</c>, closed form):
/// lr(t) = etaMin + (base − etaMin)·(1 + cos(π·t / tMax))/2. Past tMax the cosine continues (the rate rises again), as
/// PyTorch's closed form; stop stepping or use a longer tMax to hold the minimum.
/// </summary>
public sealed class CosineAnnealingLR : LrScheduler
{
    /// <summary>Creates the schedule and applies the epoch-0 rate (the base rate).</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="tMax">The half-period in epochs (≥ 1).</param>
    /// <param name="etaMin">The minimum rate, reached at epoch tMax.</param>
    public CosineAnnealingLR(Optimizer optimizer, int tMax, float etaMin = 0) : base(optimizer)
    {
        if (tMax < 1) throw new ArgumentOutOfRangeException(nameof(tMax), tMax, "tMax must be at least 1.");
        if (!(etaMin >= 0) || float.IsInfinity(etaMin)) throw new ArgumentOutOfRangeException(nameof(etaMin), etaMin, "etaMin must be finite and non-negative.");
        TMax = tMax;
        EtaMin = etaMin;
        Start();
    }

    /// <summary>The half-period in epochs.</summary>
    public int TMax { get; }
    /// <summary>The minimum rate.</summary>
    public float EtaMin { get; }

    /// <inheritdoc/>
    public override float LearningRateAt(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        return (float)(EtaMin + (BaseLearningRate - (double)EtaMin) * (1 + Math.Cos(Math.PI * epoch / TMax)) / 2);
    }
}

/// <summary>
/// Linear warm-up, optionally followed by another schedule (PyTorch's <c>SequentialLR([LinearLR(startFactor, total_iters =
/// warmupSteps), after], milestones = [warmupSteps])</c> in closed form):
/// lr(t) = base·(startFactor + (1 − startFactor)·t / warmupSteps) for t &lt; warmupSteps, then <c>after.LearningRateAt(t − warmupSteps)</c>
/// (or the base rate when there is no <c>after</c>).
/// </summary>
/// <remarks>
/// Create the <c>after</c> schedule first (it records the base rate), then wrap it, and call <see cref="LrScheduler.Step"/> only on
/// the wrapper: it drives the optimizer; the inner schedule is used as a pure function and its own <see cref="LrScheduler.LastEpoch"/> is not advanced.
/// </remarks>
public sealed class WarmupLR : LrScheduler
{
    /// <summary>Warm-up to the optimizer's current rate, then constant.</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="warmupSteps">The number of warm-up epochs (≥ 1).</param>
    /// <param name="startFactor">The fraction of the base rate at epoch 0, in [0, 1].</param>
    public WarmupLR(Optimizer optimizer, int warmupSteps, float startFactor = 1f / 3) : this(optimizer, null, warmupSteps, startFactor) { }

    /// <summary>Warm-up to <paramref name="after"/>'s base rate, then <paramref name="after"/>'s schedule shifted by the warm-up.</summary>
    /// <param name="after">The schedule that follows the warm-up; it must drive the same optimizer.</param>
    /// <param name="warmupSteps">The number of warm-up epochs (≥ 1).</param>
    /// <param name="startFactor">The fraction of the base rate at epoch 0, in [0, 1].</param>
    public WarmupLR(LrScheduler after, int warmupSteps, float startFactor = 1f / 3)
        : this((after ?? throw new ArgumentNullException(nameof(after))).Optimizer, after, warmupSteps, startFactor) { }

    private WarmupLR(Optimizer optimizer, LrScheduler? after, int warmupSteps, float startFactor) : base(optimizer)
    {
        if (warmupSteps < 1) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "warmupSteps must be at least 1.");
        if (!(startFactor >= 0 && startFactor <= 1)) throw new ArgumentOutOfRangeException(nameof(startFactor), startFactor, "startFactor must be in [0, 1].");
        After = after;
        WarmupSteps = warmupSteps;
        StartFactor = startFactor;
        Start();
    }

    /// <summary>The schedule after the warm-up, or null for a constant rate.</summary>
    public LrScheduler? After { get; }
    /// <summary>The number of warm-up epochs.</summary>
    public int WarmupSteps { get; }
    /// <summary>The fraction of the base rate at epoch 0.</summary>
    public float StartFactor { get; }

    /// <inheritdoc/>
    public override float LearningRateAt(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (epoch < WarmupSteps)
        {
            double baseLr = After?.BaseLearningRate ?? BaseLearningRate;
            return (float)(baseLr * (StartFactor + (1.0 - StartFactor) * epoch / WarmupSteps));
        }
        return After is null ? BaseLearningRate : After.LearningRateAt(epoch - WarmupSteps);
    }
}
