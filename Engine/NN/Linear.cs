namespace ConvEngine.NN;

// Linear (fully connected) layer, PyTorch layout: weight W [out, in], bias b [out].
//   forward   y[N, out] = x[N, in] · Wᵀ + b
//   backward  dX[N, in]  = dY · W                 (new tensor)
//             dW[out, in] += dYᵀ · x              (accumulated; cleared by ZeroGrad)
//             dB[out]     += Σₙ dY[n, :]          (accumulated)
// Cache: the input x.

/// <summary>A fully connected layer: y = x·Wᵀ + b with W of shape [out, in].</summary>
public sealed class Linear : Module
{
    private Tensor? _x;

    /// <summary>Creates the layer with PyTorch's default initialisation.</summary>
    /// <param name="inFeatures">Input features.</param>
    /// <param name="outFeatures">Output features.</param>
    /// <param name="bias">Whether to learn an additive bias.</param>
    /// <param name="device">Where the parameters live (default <see cref="CpuDevice.Default"/>).</param>
    /// <param name="seed">Seed for the initial weights (null: unseeded).</param>
    public Linear(int inFeatures, int outFeatures, bool bias = true, IDevice? device = null, int? seed = null)
    {
        if (inFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "inFeatures must be positive.");
        if (outFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "outFeatures must be positive.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Device = device ?? CpuDevice.Default;
        var rng = Init.Generator(seed);
        var w = new float[outFeatures * inFeatures];
        Init.KaimingUniform(w, inFeatures, rng);
        Weight = RegisterParameter("weight", Tensor.FromArray(Device, w, outFeatures, inFeatures));
        if (bias)
        {
            var b = new float[outFeatures];
            Init.KaimingUniform(b, inFeatures, rng);
            Bias = RegisterParameter("bias", Tensor.FromArray(Device, b, outFeatures));
        }
    }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }
    /// <summary>Output features.</summary>
    public int OutFeatures { get; }
    /// <summary>The device holding the parameters.</summary>
    public IDevice Device { get; }
    /// <summary>Weight [out, in].</summary>
    public Parameter Weight { get; }
    /// <summary>Bias [out], or null.</summary>
    public Parameter? Bias { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        ShapeUtil.RequireRank(x, 2, nameof(x), "[N, inFeatures]");
        ShapeUtil.RequireDim(x, 1, InFeatures, nameof(x), "inFeatures");
        CheckDevice(x, Device, nameof(x));
        int n = x.Dim(0);
        var y = ReusableBuffer(0, Device, [n, OutFeatures], x);
        Device.Gemm(false, true, n, OutFeatures, InFeatures, 1f, x, 0, InFeatures, Weight.Value, 0, InFeatures, 0f, y, 0, OutFeatures);
        if (Bias is not null) Device.AddChannelBias(y, Bias.Value, n, OutFeatures, 1);
        _x = x;
        return y;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var x = RequireCache(_x);
        int n = x.Dim(0);
        ArgumentNullException.ThrowIfNull(dY);
        if (dY.Rank != 2 || dY.Dim(0) != n || dY.Dim(1) != OutFeatures)
            throw new ArgumentException($"dY must have shape [{n}, {OutFeatures}] but has {dY.ShapeString}.", nameof(dY));
        var dX = ReusableBuffer(1, Device, [n, InFeatures], dY);
        Device.Gemm(false, false, n, InFeatures, OutFeatures, 1f, dY, 0, OutFeatures, Weight.Value, 0, InFeatures, 0f, dX, 0, InFeatures);
        Device.Gemm(true, false, OutFeatures, InFeatures, n, 1f, dY, 0, OutFeatures, x, 0, InFeatures, 1f, Weight.Grad, 0, InFeatures);
        if (Bias is not null) Device.ChannelDot(dY, null, n, OutFeatures, 1, Bias.Grad, accumulate: true);
        return dX;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Linear(in_features={InFeatures}, out_features={OutFeatures}, bias={Bias is not null})";
}
