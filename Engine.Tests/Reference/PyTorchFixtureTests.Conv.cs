using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> Conv2dCases() => PyTorchFixtures.Source("conv2d", "Conv2d");

    /// <summary>Conv2d: plain, strided, dilated, grouped, depthwise, rectangular, no bias, reflect/replicate padding, 1x1, odd sizes.</summary>
    [TestCaseSource(nameof(Conv2dCases))]
    public void Conv2d(FixtureCase c, string device) => PyTorchFixtures.RunLayerCase(c, device);
}
