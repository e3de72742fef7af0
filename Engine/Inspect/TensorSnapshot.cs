using System.Globalization;

namespace ConvEngine.Inspect;

/// <summary>
/// A copy of a tensor taken at one moment of a training step (the live tensor may change later), with its summary
/// statistics (shape, mean, std, min, max, fraction of zeros, L2 norm).
/// </summary>
public sealed class TensorSnapshot
{
    private readonly float[] _data;
    private readonly int[] _shape;

    /// <summary>Copies <paramref name="tensor"/> (from any device) under the role <paramref name="role"/>.</summary>
    /// <param name="role">What the tensor is in its event: <c>input</c>, <c>output</c>, <c>dY</c>, <c>dX</c>, <c>weight</c>, <c>weight.grad</c>, <c>weight.update</c>, …</param>
    /// <param name="tensor">The tensor to copy.</param>
    public TensorSnapshot(string role, Tensor tensor)
        : this(role, tensor?.ToArray() ?? throw new ArgumentNullException(nameof(tensor)), tensor.Shape, tensor.Name)
    {
    }

    /// <summary>Wraps <paramref name="data"/> (taken, not copied) with the given shape.</summary>
    /// <param name="role">What the tensor is in its event.</param>
    /// <param name="data">The values, row-major.</param>
    /// <param name="shape">The dimensions; their product must equal the data length.</param>
    /// <param name="tensorName">The source tensor's name, if any.</param>
    public TensorSnapshot(string role, float[] data, int[] shape, string? tensorName = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(role);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        if (ShapeUtil.Product(shape) != data.Length)
            throw new ArgumentException($"Shape {ShapeUtil.Format(shape)} needs {ShapeUtil.Product(shape)} values but data has {data.Length}.", nameof(data));
        Role = role;
        TensorName = tensorName;
        _data = data;
        _shape = (int[])shape.Clone();
        Stats = TensorStats.Of(data);
    }

    /// <summary>What the tensor is in its event (<c>input</c>, <c>output</c>, <c>dY</c>, <c>dX</c>, <c>weight.grad</c>, …).</summary>
    public string Role { get; }

    /// <summary>The source tensor's name (<c>conv1.weight</c>), or null.</summary>
    public string? TensorName { get; }

    /// <summary>The dimensions (a copy).</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>The shape formatted as <c>[8, 6, 28, 28]</c>.</summary>
    public string ShapeString => ShapeUtil.Format(_shape);

    /// <summary>The copied values, row-major (read-only).</summary>
    public ReadOnlySpan<float> Data => _data;

    /// <summary>Shape-free summary statistics of the values.</summary>
    public TensorStats Stats { get; }

    /// <summary>A new tensor holding the values, on <paramref name="device"/> (default CPU).</summary>
    /// <param name="device">The destination device.</param>
    public Tensor ToTensor(IDevice? device = null)
    {
        var t = Tensor.FromArray(device ?? CpuDevice.Default, (float[])_data.Clone(), _shape);
        t.Name = TensorName;
        return t;
    }

    /// <summary>One line: role, shape and statistics, such as <c>output [8, 6, 28, 28] mean=0.1 std=0.2 min=0 max=1.3 zeros=48.1% l2=12.3</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Role,-14} {ShapeString,-16} mean={Stats.Mean,10:G4} std={Stats.Std,10:G4} min={Stats.Min,10:G4} max={Stats.Max,10:G4} zeros={Stats.ZeroFraction * 100,5:F1}% l2={Stats.L2Norm:G4}");
}
