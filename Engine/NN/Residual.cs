namespace ConvEngine.NN;

// The residual block of the seeds (ResNet's basic block), input x (N, Cin, H, W):
//   a   = ReLU(bn1(conv1(x)))            conv1: 3x3, stride s, padding 1, Cin -> Cout
//   b   = bn2(conv2(a))                  conv2: 3x3, stride 1, padding 1, Cout -> Cout
//   sc  = x                              identity-add   (needs Cin == Cout and s == 1)
//       | conv3(x)                       projected-add  (conv3: 1x1, stride s, Cin -> Cout)
//   y   = ReLU(b + sc)                   (N, Cout, H', W'),  H' = ⌊(H − 1)/s⌋ + 1
// Backward: dS = ReLU'(b + sc) ⊙ dY is sent down both paths, and the two input gradients add up:
//   dX = conv1ᵀ(bn1ᵀ(ReLU'ᵀ(conv2ᵀ(bn2ᵀ(dS))))) + (dS | conv3ᵀ(dS))
// The identity path is why deep residual networks keep their gradients: dX always contains dS itself.
// Parameter gradients of the children are accumulated (+=), cleared by ZeroGrad.

/// <summary>
/// The seeds' residual block: conv3x3-BN-ReLU-conv3x3-BN plus an identity shortcut, or a 1x1 projected shortcut with the stride,
/// then ReLU. Children are named <c>conv1</c>, <c>bn1</c>, <c>conv2</c>, <c>bn2</c> and (projection only) <c>conv3</c>, as in the seeds' PyTorch code.
/// </summary>
public sealed class Residual : Module
{
    private readonly ReLU _relu1, _relu2;
    private Tensor? _sum;

    /// <summary>Creates the block.</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="useProjection">Use a 1x1 convolution (with the stride) on the shortcut; required when channels or stride change.</param>
    /// <param name="stride">Stride of the first 3x3 convolution and of the projection.</param>
    /// <param name="device">Where the parameters live (default <see cref="CpuDevice.Default"/>).</param>
    /// <param name="seed">Seed for the initial weights (null: unseeded).</param>
    public Residual(int inChannels, int outChannels, bool useProjection = false, int stride = 1, IDevice? device = null, int? seed = null)
    {
        if (!useProjection && (inChannels != outChannels || stride != 1))
            throw new ArgumentException($"An identity shortcut needs inChannels == outChannels and stride 1 (got {inChannels} -> {outChannels}, stride {stride}); use useProjection: true.", nameof(useProjection));
        var rng = Init.Generator(seed);
        InChannels = inChannels;
        OutChannels = outChannels;
        Stride = stride;
        Conv1 = RegisterModule("conv1", new Conv2d(inChannels, outChannels, 3, stride, 1, device: device, seed: rng.Next()));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(outChannels, device: device));
        _relu1 = RegisterModule("relu1", new ReLU());
        Conv2 = RegisterModule("conv2", new Conv2d(outChannels, outChannels, 3, 1, 1, device: device, seed: rng.Next()));
        Bn2 = RegisterModule("bn2", new BatchNorm2d(outChannels, device: device));
        if (useProjection) Conv3 = RegisterModule("conv3", new Conv2d(inChannels, outChannels, 1, stride, 0, device: device, seed: rng.Next()));
        _relu2 = RegisterModule("relu2", new ReLU());
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Stride of the block.</summary>
    public int Stride { get; }
    /// <summary>The first 3x3 convolution.</summary>
    public Conv2d Conv1 { get; }
    /// <summary>Batch norm after <see cref="Conv1"/>.</summary>
    public BatchNorm2d Bn1 { get; }
    /// <summary>The second 3x3 convolution.</summary>
    public Conv2d Conv2 { get; }
    /// <summary>Batch norm after <see cref="Conv2"/>.</summary>
    public BatchNorm2d Bn2 { get; }
    /// <summary>The 1x1 projection of the shortcut, or null for an identity shortcut.</summary>
    public Conv2d? Conv3 { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var a = _relu1.Forward(Bn1.Forward(Conv1.Forward(x)));
        var b = Bn2.Forward(Conv2.Forward(a));
        var shortcut = Conv3 is null ? x : Conv3.Forward(x);
        if (b.Length != shortcut.Length)
            throw new ArgumentException($"Residual '{Name}': branch output {b.ShapeString} and shortcut {shortcut.ShapeString} differ.", nameof(x));
        var sum = ReusableBuffer(0, x.Device, b.ShapeRef, x);
        x.Device.Add(b, shortcut, sum);
        _sum = sum;
        return _relu2.Forward(sum);
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        RequireCache(_sum);
        var dS = _relu2.Backward(dY);
        var dX = Conv1.Backward(Bn1.Backward(_relu1.Backward(Conv2.Backward(Bn2.Backward(dS)))));
        var dShortcut = Conv3 is null ? dS : Conv3.Backward(dS);
        var sum = ReusableBuffer(1, dX.Device, dX.ShapeRef, dY);
        dX.Device.Add(dX, dShortcut, sum);
        return sum;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Residual({InChannels}, {OutChannels}, projection={Conv3 is not null}, stride={Stride})";
}
