using System.Diagnostics;

namespace ConvEngine.NN;

/// <summary>A learnable tensor and its gradient, named as in a PyTorch <c>state_dict</c> (<c>conv1.weight</c>, gradient <c>conv1.weight.grad</c>).</summary>
[DebuggerDisplay("{Name,nq} {Value.ShapeString,nq}")]
public sealed class Parameter
{
    /// <summary>Creates a parameter holding <paramref name="value"/> with a zero gradient of the same shape.</summary>
    /// <param name="localName">The name inside its module, such as <c>weight</c>.</param>
    /// <param name="value">The initial value; the parameter takes ownership.</param>
    public Parameter(string localName, Tensor value)
    {
        ArgumentException.ThrowIfNullOrEmpty(localName);
        ArgumentNullException.ThrowIfNull(value);
        LocalName = localName;
        Value = value;
        Grad = value.ZerosLike();
        Rename(localName);
    }

    /// <summary>The name inside the owning module (<c>weight</c>, <c>bias</c>).</summary>
    public string LocalName { get; }

    /// <summary>The full dotted name from the root module (<c>layer1.0.conv1.weight</c>).</summary>
    public string Name { get; private set; } = "";

    /// <summary>The current value.</summary>
    public Tensor Value { get; }

    /// <summary>The gradient: accumulated by <see cref="Module.Backward"/>, cleared by <see cref="ZeroGrad"/>.</summary>
    public Tensor Grad { get; }

    /// <summary>The dimensions of <see cref="Value"/>.</summary>
    public int[] Shape => Value.Shape;

    /// <summary>Sets the gradient to zero.</summary>
    public void ZeroGrad() => Grad.Device.Fill(Grad, 0f);

    internal void Rename(string fullName)
    {
        Name = fullName;
        Value.Name = fullName;
        Grad.Name = fullName + ".grad";
    }
}
