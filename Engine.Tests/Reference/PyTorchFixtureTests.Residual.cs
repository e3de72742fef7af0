using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> ResidualCases() => PyTorchFixtures.Source("residual", "Residual");

    /// <summary>The residual basic block (identity and 1x1-projection shortcuts, stride 1 and 2; train and eval mode).</summary>
    [TestCaseSource(nameof(ResidualCases))]
    public void Residual(FixtureCase c, string device) => PyTorchFixtures.RunLayerCase(c, device);
}
