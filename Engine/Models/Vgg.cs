using ConvEngine.NN;

namespace ConvEngine.Models;

/// <summary>
/// VGG-11/13/16/19 with torchvision's structure and names, for (N, 3, 224, 224). The network is built from modular stages
/// (the seeds' <c>vggLayer</c>): each stage is a few 3x3 convolutions with padding 1 and ReLU, then a 2x2 max-pool; five stages
/// of 64, 128, 256, 512, 512 channels. The seeds' network, two convolutions in each of the five stages, is VGG-13.
/// Then <c>avgpool</c> = AdaptiveAvgPool2d(7) and <c>classifier</c> = FC 25088→4096, ReLU, Dropout, FC 4096→4096, ReLU, Dropout, FC 4096→classes.
/// Parameters for 1000 classes: VGG-11 132,863,336; VGG-13 133,047,848; VGG-16 138,357,544; VGG-19 143,667,240 (torchvision's).
/// </summary>
public sealed class Vgg : Sequential
{
    /// <summary>Convolutions per stage for each depth.</summary>
    public static IReadOnlyDictionary<int, int[]> ConvsPerStage { get; } = new Dictionary<int, int[]>
    {
        [11] = [1, 1, 2, 2, 2],
        [13] = [2, 2, 2, 2, 2],
        [16] = [2, 2, 3, 3, 3],
        [19] = [2, 2, 4, 4, 4],
    };

    private static readonly int[] StageChannels = [64, 128, 256, 512, 512];

    /// <summary>Creates the network.</summary>
    /// <param name="depth">11, 13, 16 or 19.</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="device">Where the parameters live.</param>
    /// <param name="seed">Seed for the initial weights and dropout masks.</param>
    public Vgg(int depth = 16, int numClasses = 1000, int inChannels = 3, IDevice? device = null, int seed = 0)
    {
        if (!ConvsPerStage.TryGetValue(depth, out var convs))
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "VGG depth must be 11, 13, 16 or 19.");
        Depth = depth;
        var rng = new Random(seed);
        var features = new Sequential();
        int c = inChannels;
        for (int s = 0; s < 5; s++) AddStage(features, ref c, StageChannels[s], convs[s], device, rng);
        Add("features", features);
        Add("avgpool", new AdaptiveAvgPool2d(7, 7));
        Add("flatten", new Flatten());
        Add("classifier", new Sequential(
            new Linear(512 * 7 * 7, 4096, device: device, seed: rng.Next()), new ReLU(), new Dropout(0.5f, DropoutMode.UpscaleInTrain, (ulong)rng.Next()),
            new Linear(4096, 4096, device: device, seed: rng.Next()), new ReLU(), new Dropout(0.5f, DropoutMode.UpscaleInTrain, (ulong)rng.Next()),
            new Linear(4096, numClasses, device: device, seed: rng.Next())));
    }

    /// <summary>The depth (11, 13, 16 or 19).</summary>
    public int Depth { get; }

    /// <summary>One modular stage: <paramref name="convs"/> × (3x3 conv, ReLU), then 2x2 max-pool (appended flat, keeping torchvision's indices).</summary>
    private static void AddStage(Sequential features, ref int channels, int outChannels, int convs, IDevice? device, Random rng)
    {
        for (int i = 0; i < convs; i++)
        {
            features.Add(new Conv2d(channels, outChannels, 3, 1, 1, device: device, seed: rng.Next()));
            features.Add(new ReLU());
            channels = outChannels;
        }
        features.Add(new MaxPool2d(2));
    }
}
