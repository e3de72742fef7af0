namespace ConvEngine.NN;

// Learnable per-channel scale over x (N, C, ...) viewed as [N, C, inner] (inner = product of the trailing dimensions, 1 for (N, C)).
//   forward   y[n, c, i] = s[c]·x[n, c, i]
//   backward  dX[n, c, i] = s[c]·dY[n, c, i]                 (new tensor)
//             dW = ds[c] += Σ over n, i of dY[n, c, i]·x[n, c, i]   (accumulated; cleared by ZeroGrad)
// Cache: the input x.

/// <summary>A learnable scale per channel: y[n, c, …] = weight[c]·x[n, c, …], parameter <c>weight</c> [C].</summary>
public sealed class LearnableScale : Module
{
    private Tensor? _x;

    /// <summary>Creates the layer with every scale set to <paramref name="init"/>.</summary>
    /// <param name="channels">The number of channels C (dimension 1 of the input).</param>
    /// <param name="init">The initial value of every scale.</param>
    /// <param name="device">Where the parameter lives (default <see cref="CpuDevice.Default"/>).</param>
    public LearnableScale(int channels, float init = 1f, IDevice? device = null)
    {
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be positive.");
        Channels = channels;
        Device = device ?? CpuDevice.Default;
        var w = new Tensor(Device, channels);
        Device.Fill(w, init);
        Weight = RegisterParameter("weight", w);
    }

    /// <summary>The number of channels C.</summary>
    public int Channels { get; }
    /// <summary>The device holding the parameter.</summary>
    public IDevice Device { get; }
    /// <summary>The scales [C].</summary>
    public Parameter Weight { get; }

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 2)
            throw new ArgumentException($"Expected a tensor [N, C, ...] of rank 2 or more but got shape {x.ShapeString} (rank {x.Rank}).", nameof(x));
        ShapeUtil.RequireDim(x, 1, Channels, nameof(x), "channels");
        CheckDevice(x, Device, nameof(x));
        var (outer, inner) = View(x);
        var y = ReusableBuffer(0, x.Device, x.ShapeRef, x);
        Device.ChannelScale(x, Weight.Value, outer, Channels, inner, y);
        _x = x;
        return y;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        var x = RequireCache(_x);
        CheckGradShape(dY, x);
        var (outer, inner) = View(x);
        var dX = ReusableBuffer(1, x.Device, x.ShapeRef, dY);
        Device.ChannelScale(dY, Weight.Value, outer, Channels, inner, dX);
        Device.ChannelDot(dY, x, outer, Channels, inner, Weight.Grad, accumulate: true);
        return dX;
    }

    private (int Outer, int Inner) View(Tensor x)
    {
        int outer = x.Dim(0);
        return (outer, outer * Channels == 0 ? 0 : x.Length / (outer * Channels));
    }

    /// <inheritdoc/>
    public override string ToString() => $"LearnableScale({Channels})";
}
