namespace ConvEngine.NN;

// Dropout, any shape (N, ...). In training mode a mask is drawn per element: kept with probability 1 − p.
//   UpscaleInTrain    train  y = x·mask, mask ∈ {0, 1/(1 − p)}     eval  y = x
//   DowngradeInInfer  train  y = x·mask, mask ∈ {0, 1}             eval  y = x·(1 − p)
//   backward          train  dX = dY·mask (the mask of the last Forward)   eval  dX = dY·(eval factor)
// No parameters: dX is written whole (a new tensor, or the reused buffer: Module.ReuseBuffers), nothing is accumulated.
// The mask is the device's counter-based draw u(seed, Step, i) ≥ p, so it is a pure function of (seed, Step, index):
// Step counts training-mode forwards and can be set back to reproduce a mask.
// Cache: the mask (train) or the eval factor.

/// <summary>How <see cref="Dropout"/> keeps the expected output equal between training and inference (Paddle's two modes).</summary>
public enum DropoutMode
{
    /// <summary>Training scales kept values by 1/(1 − p); inference is the identity (PyTorch's dropout, Paddle's <c>upscale_in_train</c>).</summary>
    UpscaleInTrain,
    /// <summary>Training keeps values unscaled; inference multiplies by (1 − p) (Paddle's <c>downgrade_in_infer</c>).</summary>
    DowngradeInInfer,
}

/// <summary>Randomly zeroes elements with probability p in training mode; see <see cref="DropoutMode"/> for the scaling.</summary>
public sealed class Dropout : Module
{
    private Tensor? _mask;
    private float _factor;
    private int[]? _shape;

    /// <summary>Creates the layer.</summary>
    /// <param name="p">The probability of zeroing an element, in [0, 1]; p = 1 zeroes everything in training.</param>
    /// <param name="mode">How training and inference outputs are scaled.</param>
    /// <param name="seed">The seed of the mask generator.</param>
    public Dropout(float p = 0.5f, DropoutMode mode = DropoutMode.UpscaleInTrain, ulong seed = 0)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout probability must be in [0, 1].");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown dropout mode.");
        P = p;
        Mode = mode;
        Seed = seed;
    }

    /// <summary>The probability of zeroing an element.</summary>
    public float P { get; }
    /// <summary>How outputs are scaled.</summary>
    public DropoutMode Mode { get; }
    /// <summary>The seed of the mask generator.</summary>
    public ulong Seed { get; }

    /// <summary>
    /// The stream number of the next training-mode mask; incremented by every training-mode <see cref="Module.Forward"/>.
    /// Set it back to replay a mask (tests, resuming from a checkpoint).
    /// </summary>
    public ulong Step { get; set; }

    /// <summary>The value of kept elements in training: 1/(1 − p) (upscale; 0 when p = 1) or 1 (downgrade).</summary>
    public float KeepValue => Mode == DropoutMode.DowngradeInInfer ? 1f : (P >= 1 ? 0f : 1f / (1f - P));

    /// <summary>The factor applied in eval mode: 1 (upscale) or 1 − p (downgrade).</summary>
    public float EvalFactor => Mode == DropoutMode.DowngradeInInfer ? 1f - P : 1f;

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = ReusableBuffer(0, x.Device, x.ShapeRef, x);
        var device = x.Device;
        if (IsTraining)
        {
            var mask = ReusableBuffer(2, x.Device, x.ShapeRef, x);
            device.DropoutMask(Seed, Step, P, KeepValue, mask);
            Step++;
            device.Multiply(x, mask, y);
            _mask = mask;
        }
        else
        {
            device.Unary(UnaryOp.Scale, EvalFactor, x, y);
            _mask = null;
            _factor = EvalFactor;
        }
        _shape = SameShape(_shape, x);
        return y;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var shape = RequireCache(_shape);
        CheckGradShape(dY, shape);
        var dX = ReusableBuffer(1, dY.Device, dY.ShapeRef, dY);
        if (_mask is not null) dY.Device.Multiply(dY, _mask, dX);
        else dY.Device.Unary(UnaryOp.Scale, _factor, dY, dX);
        return dX;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Dropout(p={P}, mode={Mode})";
}
