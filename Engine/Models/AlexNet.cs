using ConvEngine.NN;

namespace ConvEngine.Models;

/// <summary>
/// AlexNet as in the seeds, with the ReLUs and dropout of the standard model and torchvision's names, for (N, 3, 224, 224):
/// <c>features</c> = conv 64@11 s4 p2, ReLU, max-pool 3/2, conv 192@5 p2, ReLU, max-pool 3/2, conv 384@3 p1, ReLU, conv 256@3 p1, ReLU,
/// conv 256@3 p1, ReLU, max-pool 3/2; <c>avgpool</c> = AdaptiveAvgPool2d(6); <c>classifier</c> = Dropout, FC 9216→4096, ReLU, Dropout, FC 4096→4096, ReLU, FC 4096→classes.
/// 61,100,840 parameters for 1000 classes, as torchvision's <c>alexnet()</c>, whose weights load as they are.
/// </summary>
public sealed class AlexNet : Sequential
{
    /// <summary>Creates the network.</summary>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="device">Where the parameters live.</param>
    /// <param name="seed">Seed for the initial weights and dropout masks.</param>
    public AlexNet(int numClasses = 1000, IDevice? device = null, int seed = 0)
    {
        var rng = new Random(seed);
        Add("features", new Sequential(
            new Conv2d(3, 64, 11, 4, 2, device: device, seed: rng.Next()), new ReLU(), new MaxPool2d(3, 2),
            new Conv2d(64, 192, 5, 1, 2, device: device, seed: rng.Next()), new ReLU(), new MaxPool2d(3, 2),
            new Conv2d(192, 384, 3, 1, 1, device: device, seed: rng.Next()), new ReLU(),
            new Conv2d(384, 256, 3, 1, 1, device: device, seed: rng.Next()), new ReLU(),
            new Conv2d(256, 256, 3, 1, 1, device: device, seed: rng.Next()), new ReLU(), new MaxPool2d(3, 2)));
        Add("avgpool", new AdaptiveAvgPool2d(6, 6));
        Add("flatten", new Flatten());
        Add("classifier", new Sequential(
            new Dropout(0.5f, DropoutMode.UpscaleInTrain, (ulong)rng.Next()), new Linear(256 * 6 * 6, 4096, device: device, seed: rng.Next()), new ReLU(),
            new Dropout(0.5f, DropoutMode.UpscaleInTrain, (ulong)rng.Next()), new Linear(4096, 4096, device: device, seed: rng.Next()), new ReLU(),
            new Linear(4096, numClasses, device: device, seed: rng.Next())));
    }
}
