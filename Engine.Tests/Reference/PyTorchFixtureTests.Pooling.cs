using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> PoolingCases() => PyTorchFixtures.Source("pooling", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d");

    /// <summary>MaxPool2d, AvgPool2d (count_include_pad true and false) and AdaptiveAvgPool2d.</summary>
    [TestCaseSource(nameof(PoolingCases))]
    public void Pooling(FixtureCase c, string device) => PyTorchFixtures.RunLayerCase(c, device);
}
