using System.Diagnostics;
using System.Text;

namespace ConvEngine;

/// <summary>
/// A dense float32 tensor stored row-major (NCHW for images) in a buffer owned by an <see cref="IDevice"/>.
/// Tensors created by <see cref="Reshape"/> are views that share the buffer of their source.
/// </summary>
/// <remarks>
/// Element access from .NET code goes through <see cref="ToArray"/> and <see cref="CopyFrom(ReadOnlySpan{float})"/>, which work on every device,
/// or through <see cref="AsSpan"/>, which works only for tensors whose buffer lives in host memory (the CPU devices).
/// </remarks>
[DebuggerDisplay("{DebuggerSummary,nq}")]
[DebuggerTypeProxy(typeof(TensorDebugView))]
public sealed class Tensor : IDisposable
{
    private readonly int[] _shape;

    /// <summary>Allocates a zero-filled tensor of the given shape on <paramref name="device"/>.</summary>
    /// <param name="device">The device that owns the storage.</param>
    /// <param name="shape">The dimensions; each must be zero or positive.</param>
    public Tensor(IDevice device, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(device);
        _shape = ShapeUtil.Validate(shape, nameof(shape));
        Length = ShapeUtil.Product(_shape);
        Device = device;
        Buffer = device.Allocate(Length);
    }

    private Tensor(DeviceBuffer buffer, int[] shape, string? name)
    {
        _shape = shape;
        Length = ShapeUtil.Product(shape);
        Device = buffer.Device;
        Buffer = buffer;
        Name = name;
    }

    /// <summary>The dimensions, outermost first. A copy: changing it does not change the tensor.</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>The number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>The total number of elements.</summary>
    public int Length { get; }

    /// <summary>The device that owns this tensor's storage.</summary>
    public IDevice Device { get; }

    /// <summary>The storage; shared with views made by <see cref="Reshape"/>.</summary>
    public DeviceBuffer Buffer { get; }

    /// <summary>An optional stable name such as <c>conv1.weight</c> or <c>conv1.weight.grad</c>, shown by debuggers and inspectors.</summary>
    public string? Name { get; set; }

    /// <summary>The size of dimension <paramref name="dim"/>; negative values count from the end (-1 is the last).</summary>
    public int Dim(int dim)
    {
        int d = dim < 0 ? dim + _shape.Length : dim;
        if (d < 0 || d >= _shape.Length)
            throw new ArgumentOutOfRangeException(nameof(dim), $"Dimension {dim} does not exist in a tensor of rank {_shape.Length} (shape {ShapeUtil.Format(_shape)}).");
        return _shape[d];
    }

    /// <summary>Creates a tensor on the default CPU device (<see cref="CpuDevice.Default"/>) holding a copy of <paramref name="data"/>.</summary>
    /// <param name="data">The values in row-major order; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The dimensions.</param>
    public static Tensor FromArray(float[] data, params int[] shape) => FromArray(CpuDevice.Default, data, shape);

    /// <summary>Creates a tensor on <paramref name="device"/> holding a copy of <paramref name="data"/>.</summary>
    /// <param name="device">The device that will own the storage.</param>
    /// <param name="data">The values in row-major order; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The dimensions.</param>
    public static Tensor FromArray(IDevice device, float[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(data);
        var s = ShapeUtil.Validate(shape, nameof(shape));
        long expected = ShapeUtil.Product(s);
        if (expected != data.Length)
            throw new ArgumentException($"Shape {ShapeUtil.Format(s)} needs {expected} elements but data has {data.Length}.", nameof(data));
        var t = new Tensor(device, s);
        device.CopyFromHost(data, t.Buffer, 0);
        return t;
    }

    /// <summary>A zero-filled tensor on the default CPU device.</summary>
    /// <param name="shape">The dimensions.</param>
    public static Tensor Zeros(params int[] shape) => new(CpuDevice.Default, shape);

    /// <summary>A zero-filled tensor on <paramref name="device"/>.</summary>
    /// <param name="device">The device that will own the storage.</param>
    /// <param name="shape">The dimensions.</param>
    public static Tensor Zeros(IDevice device, params int[] shape) => new(device, shape);

    /// <summary>A tensor of the same shape on the same device, zero-filled.</summary>
    public Tensor ZerosLike() => new(Device, _shape);

    /// <summary>Copies the elements to a new host array in row-major order.</summary>
    public float[] ToArray()
    {
        var result = new float[Length];
        Device.CopyToHost(Buffer, 0, result);
        return result;
    }

    /// <summary>Overwrites all elements with <paramref name="values"/> (row-major order).</summary>
    /// <param name="values">Exactly <see cref="Length"/> values.</param>
    public void CopyFrom(ReadOnlySpan<float> values)
    {
        if (values.Length != Length)
            throw new ArgumentException($"Expected {Length} values for a tensor of shape {ShapeUtil.Format(_shape)} but got {values.Length}.", nameof(values));
        Device.CopyFromHost(values, Buffer, 0);
    }

    /// <summary>Overwrites this tensor with the contents of <paramref name="source"/>, which must have the same number of elements.</summary>
    /// <param name="source">The tensor to copy, on the same device.</param>
    public void CopyFrom(Tensor source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Length != Length)
            throw new ArgumentException($"Cannot copy a tensor of shape {ShapeUtil.Format(source._shape)} into one of shape {ShapeUtil.Format(_shape)}.", nameof(source));
        Device.Copy(source.Buffer, 0, Buffer, 0, Length);
    }

    /// <summary>A deep copy on the same device.</summary>
    public Tensor Clone()
    {
        var t = new Tensor(Device, _shape) { Name = Name };
        Device.Copy(Buffer, 0, t.Buffer, 0, Length);
        return t;
    }

    /// <summary>A copy of this tensor on <paramref name="device"/> (through host memory when the devices differ).</summary>
    /// <param name="device">The destination device.</param>
    public Tensor To(IDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (ReferenceEquals(device, Device)) return Clone();
        var t = FromArray(device, ToArray(), _shape);
        t.Name = Name;
        return t;
    }

    /// <summary>A view with another shape over the same storage. One dimension may be -1 and is then inferred.</summary>
    /// <param name="shape">The new dimensions; their product must equal <see cref="Length"/>.</param>
    public Tensor Reshape(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var s = (int[])shape.Clone();
        int infer = Array.IndexOf(s, -1);
        if (infer >= 0)
        {
            long rest = 1;
            for (int i = 0; i < s.Length; i++) if (i != infer) rest *= s[i];
            if (rest <= 0 || Length % rest != 0)
                throw new ArgumentException($"Cannot reshape a tensor of shape {ShapeUtil.Format(_shape)} to {ShapeUtil.Format(shape)}.", nameof(shape));
            s[infer] = (int)(Length / rest);
        }
        ShapeUtil.Validate(s, nameof(shape));
        if (ShapeUtil.Product(s) != Length)
            throw new ArgumentException($"Cannot reshape a tensor of shape {ShapeUtil.Format(_shape)} ({Length} elements) to {ShapeUtil.Format(shape)}.", nameof(shape));
        return new Tensor(Buffer, s, Name);
    }

    /// <summary>
    /// The elements as a span over host memory. Only for tensors on a host device (<see cref="CpuDevice"/>, <see cref="ReferenceDevice"/>);
    /// other devices throw <see cref="InvalidOperationException"/>: use <see cref="ToArray"/> there.
    /// </summary>
    public Span<float> AsSpan() => Buffer is HostBuffer h
        ? h.Data.AsSpan(0, Length)
        : throw new InvalidOperationException($"Tensor '{Name ?? "(unnamed)"}' lives on {Device.Name}, not in host memory; use ToArray().");

    /// <summary>Summary statistics of the elements (computed on the host).</summary>
    public TensorStats Stats() => TensorStats.Of(ToArray());

    /// <summary>The shape formatted as <c>[2, 3, 28, 28]</c>.</summary>
    public string ShapeString => ShapeUtil.Format(_shape);

    internal string DebuggerSummary
    {
        get
        {
            var s = Stats();
            return $"{Name ?? "Tensor"} {ShapeString} on {Device.Name}: mean={s.Mean:G4} maxAbs={s.MaxAbs:G4}";
        }
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(Name ?? "Tensor").Append(' ').Append(ShapeString);
        var data = ToArray();
        sb.Append(" [");
        for (int i = 0; i < Math.Min(8, data.Length); i++) { if (i > 0) sb.Append(", "); sb.Append(data[i].ToString("G5", System.Globalization.CultureInfo.InvariantCulture)); }
        if (data.Length > 8) sb.Append(", ...");
        sb.Append(']');
        return sb.ToString();
    }

    /// <summary>Releases the storage if this tensor owns pooled or native memory. Host tensors are garbage-collected and need no disposal.</summary>
    public void Dispose() => Buffer.Release();

    internal int[] ShapeRef => _shape;

    private sealed class TensorDebugView(Tensor t)
    {
        public string? Name => t.Name;
        public int[] Shape => t.Shape;
        public TensorStats Stats => t.Stats();
        public float[] First64 => t.ToArray().Take(64).ToArray();
    }
}

/// <summary>Summary statistics of a tensor's elements.</summary>
/// <param name="Count">Number of elements.</param>
/// <param name="Mean">Arithmetic mean.</param>
/// <param name="Std">Population standard deviation.</param>
/// <param name="Min">Smallest element.</param>
/// <param name="Max">Largest element.</param>
/// <param name="MaxAbs">Largest absolute value.</param>
/// <param name="ZeroFraction">Fraction of elements that are exactly zero.</param>
/// <param name="L2Norm">Euclidean norm.</param>
public readonly record struct TensorStats(int Count, double Mean, double Std, float Min, float Max, float MaxAbs, double ZeroFraction, double L2Norm)
{
    /// <summary>Computes the statistics of <paramref name="values"/> in double precision.</summary>
    /// <param name="values">The elements.</param>
    public static TensorStats Of(ReadOnlySpan<float> values)
    {
        if (values.Length == 0) return new TensorStats(0, 0, 0, 0, 0, 0, 0, 0);
        double sum = 0, sq = 0; float min = float.PositiveInfinity, max = float.NegativeInfinity, maxAbs = 0; int zeros = 0;
        foreach (var v in values)
        {
            sum += v; sq += (double)v * v;
            if (v < min) min = v;
            if (v > max) max = v;
            if (MathF.Abs(v) > maxAbs) maxAbs = MathF.Abs(v);
            if (v == 0) zeros++;
        }
        double mean = sum / values.Length;
        double var = Math.Max(0, sq / values.Length - mean * mean);
        return new TensorStats(values.Length, mean, Math.Sqrt(var), min, max, maxAbs, (double)zeros / values.Length, Math.Sqrt(sq));
    }
}
