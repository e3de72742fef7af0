using ConvEngine.Losses;
using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> CrossEntropyCases() => PyTorchFixtures.Source("losses", "CrossEntropyLoss");

    /// <summary>Softmax cross-entropy (mean over the batch): the loss and dLogits, on ordinary logits and logits of magnitude ~100.</summary>
    [TestCaseSource(nameof(CrossEntropyCases))]
    public void CrossEntropy(FixtureCase c, string device)
    {
        var dev = PyTorchFixtures.Device(device);
        var loss = new SoftmaxCrossEntropy();
        var logits = c.Tensor("logits", dev);
        int[] labels = c["labels"].EnumerateArray().Select(e => e.GetInt32()).ToArray();
        double value = loss.Forward(logits, labels);
        Assert.That(double.IsFinite(value), $"{c.Name}: loss is {value}");
        PyTorchFixtures.AssertClose(value, c["loss"].GetDouble(), $"{c.Name}: loss");
        PyTorchFixtures.AssertClose(loss.Backward(), c["dlogits"], $"{c.Name}: dLogits");
    }

    private static IEnumerable<TestCaseData> MseCases() => PyTorchFixtures.Source("losses", "MSELoss");

    /// <summary>Mean squared error with mean and sum reduction, and the seeds' ½Σ(target − output)² (HalfSum).</summary>
    [TestCaseSource(nameof(MseCases))]
    public void Mse(FixtureCase c, string device)
    {
        var dev = PyTorchFixtures.Device(device);
        var reduction = FixtureModules.LossReduction(c.Args);
        var loss = new MseLoss(reduction);
        double value = loss.Forward(c.Tensor("output", dev), c.Tensor("target", dev));
        PyTorchFixtures.AssertClose(value, c["loss"].GetDouble(), $"{c.Name}: loss");
        PyTorchFixtures.AssertClose(loss.Backward(), c["doutput"], $"{c.Name}: dOutput");
    }
}
