using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

public partial class PyTorchFixtureTests
{
    private static IEnumerable<TestCaseData> Conv2dCases() => PyTorchFixtures.Source("conv2d", "Conv2d");

    /// <summary>Conv2d: plain, strided, dilated, grouped, depthwise, rectangular, no bias, reflect/replicate padding, 1x1, odd sizes.</summary>
    [TestCaseSource(nameof(Conv2dCases))]
    public void Conv2d(FixtureCase c, string device)
    {
        var dev = PyTorchFixtures.Device(device);
        var k = c.PairArg("kernel_size");
        var s = c.PairArg("stride");
        var p = c.PairArg("padding");
        var d = c.PairArg("dilation");
        var mode = c.StringArg("padding_mode") switch
        {
            "zeros" => PaddingMode.Zeros,
            "reflect" => PaddingMode.Reflect,
            "replicate" => PaddingMode.Replicate,
            var other => throw new InvalidDataException($"Unknown padding_mode '{other}' in fixture {c.Name}."),
        };
        int cin = c.IntArg("in_channels"), cout = c.IntArg("out_channels"), groups = c.IntArg("groups");
        bool bias = c.BoolArg("bias");
        // Square, symmetric cases use the int overload; the others the (H, W) overload, so both are exercised.
        bool square = k.H == k.W && s.H == s.W && p.H == p.W && d.H == d.W;
        var m = square
            ? new Conv2d(cin, cout, k.H, s.H, p.H, d.H, groups, bias, mode, dev, seed: 1)
            : new Conv2d(cin, cout, k, s, p, d, groups, bias, mode, dev, seed: 1);
        PyTorchFixtures.RunLayerCase(c, m, dev);
    }
}
