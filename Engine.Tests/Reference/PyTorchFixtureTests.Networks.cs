using ConvEngine.Losses;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> NetworkCases() => PyTorchFixtures.Source("networks", "Sequential");

    /// <summary>
    /// Small nn.Sequential networks end to end: state loaded by PyTorch's prefixed names ("0.weight", "1.running_mean"),
    /// logits, cross-entropy loss, dLogits, dX through every layer, every parameter gradient, the buffers after the forward,
    /// and the parameters after one optimizer step.
    /// </summary>
    [TestCaseSource(nameof(NetworkCases))]
    public void Network(FixtureCase c, string device)
    {
        var dev = PyTorchFixtures.Device(device);
        var layers = c["layers"].EnumerateArray()
            .Select(l => FixtureModules.Layer(l.GetProperty("kind").GetString()!, new FixtureArgs(l.GetProperty("args"), c.Name), dev))
            .ToArray();
        var model = new Sequential(layers);
        if (c["mode"].GetString() == "eval") model.Eval(); else model.Train();
        PyTorchFixtures.LoadState(model, c);

        var logits = model.Forward(c.Tensor("input", dev));
        PyTorchFixtures.AssertClose(logits, c["y"], $"{c.Name}: logits");
        var ce = new SoftmaxCrossEntropy();
        double loss = ce.Forward(logits, c["labels"].EnumerateArray().Select(e => e.GetInt32()).ToArray());
        PyTorchFixtures.AssertClose(loss, c["loss"].GetDouble(), $"{c.Name}: loss");
        var dLogits = ce.Backward();
        PyTorchFixtures.AssertClose(dLogits, c["dlogits"], $"{c.Name}: dLogits");
        var dX = model.Backward(dLogits);
        PyTorchFixtures.AssertClose(dX, c["dx"], $"{c.Name}: dX");

        var parameters = model.Parameters().ToList();
        var grads = c["grads"].EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        Assert.That(parameters.Select(p => p.Name), Is.EquivalentTo(grads.Keys), $"{c.Name}: parameter names");
        foreach (var p in parameters)
            PyTorchFixtures.AssertGradClose(p.Grad, grads[p.Name], PyTorchFixtures.GradScale(c), $"{c.Name}: d{p.Name}");
        PyTorchFixtures.AssertBuffers(model, c);

        var opt = c["optimizer"];
        FixtureModules.Optimizer(opt.GetProperty("kind").GetString()!, new FixtureArgs(opt.GetProperty("args"), c.Name), parameters).Step();
        var after = c["params_after_step"].EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        foreach (var p in parameters)
            PyTorchFixtures.AssertClose(p.Value, after[p.Name], $"{c.Name}: {p.Name} after one {opt.GetProperty("kind").GetString()} step");
    }
}
