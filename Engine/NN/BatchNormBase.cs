namespace ConvEngine.NN;

// Batch normalisation shared by BatchNorm1d and BatchNorm2d. x is viewed as [outer, C, inner]:
// (N, C, H, W) → outer = N, inner = H·W;  (N, C, L) → inner = L;  (N, C) → inner = 1.  M = outer·inner values per channel.
//   train  mean[c] = Σ x / M,  var[c] = Σ (x − mean)² / M  (biased),  invStd = 1/√(var + eps)
//          running_mean = (1 − m)·running_mean + m·mean
//          running_var  = (1 − m)·running_var  + m·var·M/(M − 1)   (unbiased, as PyTorch); num_batches_tracked += 1
//   eval   mean, var = running_mean, running_var (the batch is not looked at)
//   both   x̂ = (x − mean)·invStd,  y = x̂·γ[c] + β[c]
//   backward (train, statistics depend on x)  dX = γ·invStd/M·(M·dY − ΣdY − x̂·Σ(dY·x̂))
//            (eval, statistics fixed)         dX = dY·γ·invStd
//            dW = dγ += Σ dY·x̂,  dB = dβ += Σ dY      (accumulated; cleared by ZeroGrad)
// Cache: x, the mean and invStd used, and whether they were batch statistics (the mode at Forward time decides Backward).

/// <summary>
/// The shared implementation of <see cref="BatchNorm1d"/> and <see cref="BatchNorm2d"/>: PyTorch's batch normalisation with
/// learnable per-channel <c>weight</c> (γ, initialised to 1) and <c>bias</c> (β, 0) and the buffers <c>running_mean</c> (0),
/// <c>running_var</c> (1) and <c>num_batches_tracked</c>.
/// </summary>
/// <remarks>
/// <c>num_batches_tracked</c> is a rank-0 (shape <c>[]</c>, one element) float tensor holding the count of training batches;
/// PyTorch's is an int64 scalar. It is informational: with a fixed momentum it does not affect the statistics.
/// </remarks>
public abstract class BatchNormBase : Module
{
    private readonly Tensor _one;
    private Cache? _cache;

    private sealed record Cache(Tensor X, Tensor Mean, Tensor InvStd, bool BatchStatistics, int Outer, int Inner, int[] Shape);

    /// <summary>Creates the parameters and buffers for <paramref name="numFeatures"/> channels.</summary>
    private protected BatchNormBase(int numFeatures, float eps, float momentum, IDevice? device)
    {
        if (numFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(numFeatures), numFeatures, "numFeatures must be positive.");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be positive.");
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1].");
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        Device = device ?? CpuDevice.Default;
        var w = new Tensor(Device, numFeatures);
        Device.Fill(w, 1f);
        Weight = RegisterParameter("weight", w);
        Bias = RegisterParameter("bias", new Tensor(Device, numFeatures));
        RunningMean = RegisterBuffer("running_mean", new Tensor(Device, numFeatures));
        var rv = new Tensor(Device, numFeatures);
        Device.Fill(rv, 1f);
        RunningVar = RegisterBuffer("running_var", rv);
        NumBatchesTracked = RegisterBuffer("num_batches_tracked", new Tensor(Device));
        _one = new Tensor(Device);
        Device.Fill(_one, 1f);
    }

    /// <summary>The number of channels C.</summary>
    public int NumFeatures { get; }
    /// <summary>Added to the variance before the square root.</summary>
    public float Eps { get; }
    /// <summary>The weight m of the newest batch in the running statistics.</summary>
    public float Momentum { get; }
    /// <summary>The device holding the parameters and buffers.</summary>
    public IDevice Device { get; }
    /// <summary>γ [C], initialised to 1.</summary>
    public Parameter Weight { get; }
    /// <summary>β [C], initialised to 0.</summary>
    public Parameter Bias { get; }
    /// <summary>The running mean [C] used in eval mode.</summary>
    public Tensor RunningMean { get; }
    /// <summary>The running (unbiased) variance [C] used in eval mode.</summary>
    public Tensor RunningVar { get; }
    /// <summary>The number of training-mode forward passes, a float tensor of shape [] (rank 0, one element).</summary>
    public Tensor NumBatchesTracked { get; }

    /// <summary>Checks the rank and layout of <paramref name="x"/> and returns its [outer, C, inner] view sizes.</summary>
    private protected abstract (int Outer, int Inner) Layout(Tensor x);

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var (outer, inner) = Layout(x);
        ShapeUtil.RequireDim(x, 1, NumFeatures, nameof(x), "channels (numFeatures)");
        CheckDevice(x, Device, nameof(x));
        int c = NumFeatures;
        var y = ReusableBuffer(0, x.Device, x.ShapeRef, x);
        Tensor mean, invStd;
        bool batch = IsTraining;
        if (batch)
        {
            long m = (long)outer * inner;
            if (m <= 1)
                throw new ArgumentException($"Expected more than 1 value per channel when training, got input size {x.ShapeString}.", nameof(x));
            // Slots 2..4: with buffer reuse on, the statistics tensors are kept too (nothing is allocated per step).
            mean = ReusableBuffer(2, Device, [c]);
            var variance = ReusableBuffer(3, Device, [c]);
            Device.BatchNormStatistics(x, outer, c, inner, mean, variance);
            invStd = ReusableBuffer(4, Device, [c]);
            Device.Unary(UnaryOp.RsqrtPlus, Eps, variance, invStd);
            Device.Axpby(Momentum, mean, 1 - Momentum, RunningMean);
            Device.Axpby((float)(Momentum * (double)m / (m - 1)), variance, 1 - Momentum, RunningVar);
            Device.Add(NumBatchesTracked, _one, NumBatchesTracked);
        }
        else
        {
            mean = ReusableBuffer(2, Device, [c]);
            mean.CopyFrom(RunningMean);
            invStd = ReusableBuffer(4, Device, [c]);
            Device.Unary(UnaryOp.RsqrtPlus, Eps, RunningVar, invStd);
        }
        Device.BatchNormForward(x, mean, invStd, Weight.Value, Bias.Value, outer, c, inner, y);
        var old = _cache;   // a step that repeats the last one (as with reused buffers) keeps its cache record
        if (old is null || !ReferenceEquals(old.X, x) || !ReferenceEquals(old.Mean, mean) || !ReferenceEquals(old.InvStd, invStd)
            || old.BatchStatistics != batch || old.Outer != outer || old.Inner != inner || !old.Shape.AsSpan().SequenceEqual(x.ShapeRef))
            _cache = new Cache(x, mean, invStd, batch, outer, inner, x.Shape);
        return y;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var cache = RequireCache(_cache);
        CheckGradShape(dY, cache.Shape);
        var dX = ReusableBuffer(1, Device, cache.X.ShapeRef, dY);
        Device.BatchNormBackward(cache.X, dY, cache.Mean, cache.InvStd, Weight.Value, cache.Outer, NumFeatures, cache.Inner,
                                 cache.BatchStatistics, dX, Weight.Grad, Bias.Grad);
        return dX;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{GetType().Name}({NumFeatures}, eps={Eps}, momentum={Momentum})";
}
