using ConvEngine.NN;

namespace ConvEngine.Tests.PyTorchReference;

/// <summary>A module that only holds parameters (p0, p1, …) with given initial values, for optimizer tests; it has no forward pass.</summary>
public sealed class ParameterHolder : Module
{
    public ParameterHolder(params Tensor[] values)
    {
        for (int i = 0; i < values.Length; i++) RegisterParameter($"p{i}", values[i]);
    }

    protected override Tensor ForwardCore(Tensor x) => throw new NotSupportedException("ParameterHolder has no forward pass.");
    protected override Tensor BackwardCore(Tensor dY) => throw new NotSupportedException("ParameterHolder has no backward pass.");
}
