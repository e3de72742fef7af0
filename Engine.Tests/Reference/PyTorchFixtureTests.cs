using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

/// <summary>
/// Compares every layer, loss and optimizer to PyTorch 1.13 (fixtures from tools/make_fixtures.py): forward values, dX and
/// every parameter gradient to 1e-4 relative (tolerance rule in tools/README.md). One NUnit test case per fixture case and
/// device (the fast CpuDevice and the naive ReferenceDevice).
/// The families live in partial files next to this one.
/// </summary>
[TestFixture]
public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> LinearCases() => PyTorchFixtures.Source("linear", "Linear");

    [TestCaseSource(nameof(LinearCases))]
    public void Linear(FixtureCase c, string device) => PyTorchFixtures.RunLayerCase(c, device);

    private static IEnumerable<TestCaseData> ActivationCases() =>
        PyTorchFixtures.Source("activations", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Flatten");

    /// <summary>ReLU, LeakyReLU(0.1), ELU(0.7), Sigmoid, Tanh and Flatten.</summary>
    [TestCaseSource(nameof(ActivationCases))]
    public void Activation(FixtureCase c, string device) => PyTorchFixtures.RunLayerCase(c, device);

    /// <summary>
    /// Guards against a fixture file silently losing cases, and against a case whose kind no test method selects (each
    /// test method's source selects its kinds; these are their union per family).
    /// </summary>
    [TestCase("conv2d", 15, "Conv2d")]
    [TestCase("pooling", 9, "MaxPool2d AvgPool2d AdaptiveAvgPool2d")]
    [TestCase("activations", 7, "ReLU LeakyReLU ELU Sigmoid Tanh Flatten")]
    [TestCase("linear", 3, "Linear")]
    [TestCase("batchnorm", 8, "BatchNorm2d BatchNorm1d")]
    [TestCase("losses", 7, "CrossEntropyLoss MSELoss")]
    [TestCase("optimizers", 12, "SGD Adam AdamW")]
    [TestCase("networks", 3, "Sequential")]
    [TestCase("residual", 3, "Residual")]
    public void FixtureFamilyIsComplete(string family, int minCases, string kinds)
    {
        var cases = PyTorchFixtures.Load(family);
        Assert.That(cases, Has.Length.GreaterThanOrEqualTo(minCases));
        Assert.That(cases.Select(c => c.Name).Distinct().Count(), Is.EqualTo(cases.Length), "case names are unique");
        Assert.That(cases.Select(c => c.Kind).Distinct(), Is.SubsetOf(kinds.Split(' ')), "every kind has a test");
    }

    [Test]
    public void EveryFixtureFileHasATest()
    {
        var files = System.IO.Directory.GetFiles(PyTorchFixtures.Directory, "*.json").Select(Path.GetFileNameWithoutExtension);
        Assert.That(files, Is.EquivalentTo(new[] { "conv2d", "pooling", "activations", "linear", "batchnorm", "losses", "optimizers", "networks", "residual" }));
    }
}
