using ConvEngine.NN;

namespace ConvEngine.Models;

/// <summary>
/// The first seed's Keras network in PyTorch form, for (N, 1, 28, 28) inputs:
/// Conv2D 32@3x3 + ReLU → MaxPool 2 → Flatten (32·13·13 = 5408) → Dense 128 + ReLU → Dropout 0.5 → BatchNorm → Dense classes.
/// Children: <c>conv1</c>, <c>fc1</c>, <c>bn</c>, <c>fc2</c> (694,218 parameters for 10 classes).
/// </summary>
public sealed class KerasStyleCnn : Sequential
{
    /// <summary>Creates the network.</summary>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="imageSize">Input height and width (28 for MNIST).</param>
    /// <param name="device">Where the parameters live.</param>
    /// <param name="seed">Seed for the initial weights and the dropout mask.</param>
    public KerasStyleCnn(int numClasses = 10, int inChannels = 1, int imageSize = 28, IDevice? device = null, int seed = 0)
    {
        var rng = new Random(seed);
        int pooled = (imageSize - 2) / 2;
        Add("conv1", new Conv2d(inChannels, 32, 3, device: device, seed: rng.Next()));
        Add("relu1", new ReLU());
        Add("pool1", new MaxPool2d(2));
        Add("flatten", new Flatten());
        Add("fc1", new Linear(32 * pooled * pooled, 128, device: device, seed: rng.Next()));
        Add("relu2", new ReLU());
        Add("dropout", new Dropout(0.5f, DropoutMode.UpscaleInTrain, (ulong)rng.Next()));
        Add("bn", new BatchNorm1d(128, device: device));
        Add("fc2", new Linear(128, numClasses, device: device, seed: rng.Next()));
    }
}
