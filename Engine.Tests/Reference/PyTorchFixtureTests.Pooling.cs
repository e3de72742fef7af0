using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> PoolingCases() => PyTorchFixtures.Source("pooling");

    /// <summary>MaxPool2d, AvgPool2d (count_include_pad true and false) and AdaptiveAvgPool2d.</summary>
    [TestCaseSource(nameof(PoolingCases))]
    public void Pooling(FixtureCase c, string device)
    {
        var dev = PyTorchFixtures.Device(device);
        Module m = c.Kind switch
        {
            "MaxPool2d" => new MaxPool2d(c.IntArg("kernel_size"), c.IntArg("stride"), c.IntArg("padding")),
            "AvgPool2d" => new AvgPool2d(c.IntArg("kernel_size"), c.IntArg("stride"), c.IntArg("padding"), c.BoolArg("count_include_pad")),
            "AdaptiveAvgPool2d" => new AdaptiveAvgPool2d(c.PairArg("output_size").H, c.PairArg("output_size").W),
            _ => throw new InvalidDataException($"Unknown pooling kind '{c.Kind}' in fixture {c.Name}."),
        };
        PyTorchFixtures.RunLayerCase(c, m, dev);
    }
}
