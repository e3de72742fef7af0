using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> BatchNormCases() => PyTorchFixtures.Source("batchnorm");

    /// <summary>
    /// BatchNorm2d and BatchNorm1d in train mode (batch statistics; running mean/var updated with the unbiased variance,
    /// num_batches_tracked incremented) and eval mode (random running statistics used, buffers unchanged).
    /// </summary>
    [TestCaseSource(nameof(BatchNormCases))]
    public void BatchNorm(FixtureCase c, string device)
    {
        var dev = PyTorchFixtures.Device(device);
        int features = c.IntArg("num_features");
        float eps = c.FloatArg("eps"), momentum = c.FloatArg("momentum");
        Module m = c.Kind switch
        {
            "BatchNorm2d" => new BatchNorm2d(features, eps, momentum, dev),
            "BatchNorm1d" => new BatchNorm1d(features, eps, momentum, dev),
            _ => throw new InvalidDataException($"Unknown batch-norm kind '{c.Kind}' in fixture {c.Name}."),
        };
        PyTorchFixtures.RunLayerCase(c, m, dev);
    }
}
