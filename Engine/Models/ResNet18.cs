using ConvEngine.NN;

namespace ConvEngine.Models;

/// <summary>
/// ResNet-18 exactly as the seeds' <c>MyResNet18</c>, conv biases included, for (N, 3, 224, 224):
/// <c>conv1</c> 64@7x7 s2 p3 → <c>bn1</c> → ReLU → <c>pool1</c> 3x3 max-pool s2 p1 → <c>layer1</c>..<c>layer4</c> (two <see cref="Residual"/> blocks each,
/// 64, 128, 256, 512 channels, the first block of layers 2–4 with stride 2 and a 1x1 projection) → <c>adv_pool</c> AdaptiveAvgPool2d(1) → flatten → <c>fc</c>.
/// </summary>
public sealed class ResNet18 : Sequential
{
    /// <summary>Creates the network.</summary>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="device">Where the parameters live.</param>
    /// <param name="seed">Seed for the initial weights.</param>
    public ResNet18(int numClasses = 1000, int inChannels = 3, IDevice? device = null, int seed = 0)
    {
        var rng = new Random(seed);
        Add("conv1", new Conv2d(inChannels, 64, 7, 2, 3, device: device, seed: rng.Next()));
        Add("bn1", new BatchNorm2d(64, device: device));
        Add("relu", new ReLU());
        Add("pool1", new MaxPool2d(3, 2, 1));
        int c = 64;
        int[] widths = [64, 128, 256, 512];
        for (int s = 0; s < 4; s++)
        {
            int w = widths[s], stride = s == 0 ? 1 : 2;
            Add($"layer{s + 1}", new Sequential(
                new Residual(c, w, useProjection: c != w, stride, device, rng.Next()),
                new Residual(w, w, useProjection: false, 1, device, rng.Next())));
            c = w;
        }
        Add("adv_pool", new AdaptiveAvgPool2d(1, 1));
        Add("flatten", new Flatten());
        Add("fc", new Linear(512, numClasses, device: device, seed: rng.Next()));
    }
}
