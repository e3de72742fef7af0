using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> OptimizerCases() => PyTorchFixtures.Source("optimizers");

    /// <summary>
    /// SGD (plain, momentum, nesterov, weight decay, dampening), Adam (with and without L2 weight decay) and AdamW: two
    /// parameters are fed the recorded gradient sequence and their values after every step are compared to PyTorch's.
    /// </summary>
    [TestCaseSource(nameof(OptimizerCases))]
    public void Optimizer(FixtureCase c, string device)
    {
        var dev = PyTorchFixtures.Device(device);
        var initial = c["params"].EnumerateArray().ToArray();
        var holder = new ParameterHolder(initial.Select(e => PyTorchFixtures.ToTensor(e, dev)).ToArray());
        var parameters = holder.Parameters().ToList();
        var opt = FixtureModules.Optimizer(c.Kind, c.Args, parameters);
        var grads = c["grads"].EnumerateArray().ToArray();
        var values = c["values"].EnumerateArray().ToArray();
        Assert.That(grads, Has.Length.EqualTo(values.Length).And.Length.GreaterThanOrEqualTo(3));
        for (int step = 0; step < grads.Length; step++)
        {
            opt.ZeroGrad();
            var g = grads[step].EnumerateArray().ToArray();
            for (int i = 0; i < parameters.Count; i++) parameters[i].Grad.CopyFrom(PyTorchFixtures.Data(g[i]));
            opt.Step();
            var v = values[step].EnumerateArray().ToArray();
            for (int i = 0; i < parameters.Count; i++)
                PyTorchFixtures.AssertClose(parameters[i].Value, v[i], $"{c.Name}: parameter {i} after step {step + 1}");
        }
    }
}
