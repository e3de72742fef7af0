using ConvEngine.Kernels.Conv;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The direct kernel called as one batch, as Conv2d's chunks rarely do: strided layers with whole images per thread run
/// each image in bands of q blocks (one band with many images per thread, several with few), each band padding only the
/// phase-plane rows it reads. Checked against Conv2d on the reference device, bias included, at 1 and 2 threads.
/// </summary>
public class DirectConvTests
{
    // (images, C, H, W, Cout, kernel, stride, pad): a 7x7/2 stem with rows under and over 48 padded columns, a 3x3/2.
    private static readonly (int N, int C, int H, int W, int Co, int K, int S, int P)[] Shapes =
    [
        (40, 3, 9, 20, 12, 7, 2, 3), (9, 3, 9, 20, 12, 7, 2, 3), (40, 2, 7, 101, 9, 7, 2, 3), (5, 4, 11, 13, 17, 3, 2, 1),
    ];

    [Test]
    public void BandsOfWholeImagesMatchTheReference([Values(1, 2)] int threads)
    {
        if (!DirectConv.IsSupported) Assert.Ignore("The direct kernel needs AVX-512; this processor (or DOTNET_EnableAVX512=0) has none.");
        var dev = new CpuDevice(threads);
        var rng = new Random(17);
        foreach (var (n, c, h, w, co, k, s, p) in Shapes)
        {
            var reference = new Conv2d(c, co, k, s, p, device: ReferenceDevice.Instance, seed: 5);
            var xData = TestUtil.RandomArray(rng, n * c * h * w);
            var expected = reference.Forward(Tensor.FromArray(ReferenceDevice.Instance, xData, n, c, h, w)).ToArray();
            var g = new ConvGeometry(c, h, w, k, k, s, s, p, p, 1, 1);
            var y = new Tensor(dev, n * co * g.OutH * g.OutW);
            dev.ConvDirect(Tensor.FromArray(dev, reference.Weight.Value.ToArray(), co * c * k * k), co, Tensor.FromArray(dev, xData, xData.Length),
                           0, n, g, y, Tensor.FromArray(dev, reference.Bias!.Value.ToArray(), co));
            TestUtil.AssertClose(y.ToArray(), expected, 1e-4, 1e-5, $"N{n} {c}x{h}x{w} -> {co} k{k} s{s} p{p}, {threads} threads");
        }
    }
}
