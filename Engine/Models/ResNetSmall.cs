using ConvEngine.NN;

namespace ConvEngine.Models;

/// <summary>
/// A small ResNet for 28x28 inputs: <c>conv1</c> 3x3 (width channels, padding 1) → <c>bn1</c> → ReLU → <c>layer1</c> (two identity blocks, width)
/// → <c>layer2</c> (a stride-2 projected block to 2·width, then an identity block) → <c>layer3</c> (the same to 4·width)
/// → <c>pool</c> global average → flatten → <c>fc</c>. With the default width 32 the stages have 32, 64 and 128 channels.
/// </summary>
public sealed class ResNetSmall : Sequential
{
    /// <summary>Creates the network.</summary>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="width">Channels of the first stage (doubled at each following stage).</param>
    /// <param name="device">Where the parameters live.</param>
    /// <param name="seed">Seed for the initial weights.</param>
    public ResNetSmall(int numClasses = 10, int inChannels = 1, int width = 32, IDevice? device = null, int seed = 0)
    {
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, "width must be positive.");
        var rng = new Random(seed);
        Add("conv1", new Conv2d(inChannels, width, 3, 1, 1, device: device, seed: rng.Next()));
        Add("bn1", new BatchNorm2d(width, device: device));
        Add("relu", new ReLU());
        Add("layer1", new Sequential(
            new Residual(width, width, false, 1, device, rng.Next()),
            new Residual(width, width, false, 1, device, rng.Next())));
        Add("layer2", new Sequential(
            new Residual(width, 2 * width, true, 2, device, rng.Next()),
            new Residual(2 * width, 2 * width, false, 1, device, rng.Next())));
        Add("layer3", new Sequential(
            new Residual(2 * width, 4 * width, true, 2, device, rng.Next()),
            new Residual(4 * width, 4 * width, false, 1, device, rng.Next())));
        Add("pool", new AdaptiveAvgPool2d(1, 1));
        Add("flatten", new Flatten());
        Add("fc", new Linear(4 * width, numClasses, device: device, seed: rng.Next()));
    }
}
