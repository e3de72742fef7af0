using ConvEngine.NN;

namespace ConvEngine.Models;

/// <summary>
/// LeNet-5 for 28x28 inputs, (N, C, 28, 28) → (N, classes):
/// conv1 6@5x5 pad 2 → act → 2x2 max-pool → conv2 16@5x5 → act → 2x2 max-pool → flatten (16·5·5 = 400) → fc1 120 → act → fc2 84 → act → fc3 classes.
/// With the defaults it has 61,706 parameters, as the same network in PyTorch.
/// </summary>
public sealed class LeNet5 : Sequential
{
    /// <summary>Creates the network.</summary>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="inChannels">Input channels (1 for grayscale).</param>
    /// <param name="hidden1">Width of fc1 (classic 120).</param>
    /// <param name="hidden2">Width of fc2 (classic 84).</param>
    /// <param name="activation">Makes each activation layer (default ReLU; the 1998 original used tanh-like squashing).</param>
    /// <param name="device">Where the parameters live.</param>
    /// <param name="seed">Seed for the initial weights.</param>
    public LeNet5(int numClasses = 10, int inChannels = 1, int hidden1 = 120, int hidden2 = 84, Func<Module>? activation = null, IDevice? device = null, int seed = 0)
    {
        var act = activation ?? (() => new ReLU());
        var rng = new Random(seed);
        Add("conv1", new Conv2d(inChannels, 6, 5, 1, 2, device: device, seed: rng.Next()));
        Add("act1", act());
        Add("pool1", new MaxPool2d(2));
        Add("conv2", new Conv2d(6, 16, 5, device: device, seed: rng.Next()));
        Add("act2", act());
        Add("pool2", new MaxPool2d(2));
        Add("flatten", new Flatten());
        Add("fc1", new Linear(16 * 5 * 5, hidden1, device: device, seed: rng.Next()));
        Add("act3", act());
        Add("fc2", new Linear(hidden1, hidden2, device: device, seed: rng.Next()));
        Add("act4", act());
        Add("fc3", new Linear(hidden2, numClasses, device: device, seed: rng.Next()));
    }
}
