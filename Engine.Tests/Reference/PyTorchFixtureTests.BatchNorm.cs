using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> BatchNormCases() => PyTorchFixtures.Source("batchnorm", "BatchNorm2d", "BatchNorm1d");

    /// <summary>
    /// BatchNorm2d and BatchNorm1d ([N, C] and [N, C, L]) in train mode (batch statistics; running mean/var updated with the
    /// unbiased variance, num_batches_tracked incremented) and eval mode (random running statistics used, buffers unchanged).
    /// </summary>
    [TestCaseSource(nameof(BatchNormCases))]
    public void BatchNorm(FixtureCase c, string device) => PyTorchFixtures.RunLayerCase(c, device);
}
