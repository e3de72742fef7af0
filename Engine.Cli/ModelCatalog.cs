using ConvEngine.Models;
using ConvEngine.NN;

namespace ConvEngine.Cli;

/// <summary>
/// One selectable architecture: how to build it for a data set with <c>channels</c> input channels and <c>size</c>x<c>size</c>
/// images, and the input it expects. Images smaller than <see cref="MinSize"/> are upsampled (bilinear) before training;
/// <see cref="FixedSize"/> models are resized to exactly that size, and <see cref="FixedChannels"/> models get gray images
/// replicated into that many channels.
/// </summary>
internal sealed record ModelSpec(string Name, string Display, Func<int, int, int, IDevice, int, Module> Create,
                                 int DefaultChannels, int DefaultSize, int MinSize, int? FixedSize = null, int? FixedChannels = null)
{
    /// <summary>The (channels, size) to feed this model for data of the given channels and size.</summary>
    public (int Channels, int Size) InputFor(int channels, int size) =>
        (FixedChannels ?? channels, FixedSize ?? Math.Max(size, MinSize));
}

/// <summary>The architectures the command line knows, by name.</summary>
internal static class ModelCatalog
{
    // Create(numClasses, channels, size, device, seed)
    public static IReadOnlyList<ModelSpec> All { get; } =
    [
        new("lenet5", "LeNet-5", (k, c, s, d, seed) => new LeNet5(numClasses: k, inChannels: c, device: d, seed: seed), 1, 28, 28, FixedSize: 28),
        new("keras-cnn", "Keras-style CNN", (k, c, s, d, seed) => new KerasStyleCnn(numClasses: k, inChannels: c, imageSize: s, device: d, seed: seed), 1, 28, 8),
        new("resnet-small", "ResNet-small", (k, c, s, d, seed) => new ResNetSmall(numClasses: k, inChannels: c, device: d, seed: seed), 1, 28, 8),
        new("alexnet", "AlexNet", (k, c, s, d, seed) => new AlexNet(numClasses: k, device: d, seed: seed), 3, 224, 64, FixedChannels: 3),
        new("vgg11", "VGG-11", (k, c, s, d, seed) => new Vgg(depth: 11, numClasses: k, inChannels: c, device: d, seed: seed), 3, 224, 32),
        new("vgg13", "VGG-13", (k, c, s, d, seed) => new Vgg(depth: 13, numClasses: k, inChannels: c, device: d, seed: seed), 3, 224, 32),
        new("vgg16", "VGG-16", (k, c, s, d, seed) => new Vgg(depth: 16, numClasses: k, inChannels: c, device: d, seed: seed), 3, 224, 32),
        new("vgg19", "VGG-19", (k, c, s, d, seed) => new Vgg(depth: 19, numClasses: k, inChannels: c, device: d, seed: seed), 3, 224, 32),
        new("resnet18", "ResNet-18", (k, c, s, d, seed) => new ResNet18(numClasses: k, inChannels: c, device: d, seed: seed), 3, 224, 32),
    ];

    public static IEnumerable<string> Names => All.Select(m => m.Name);

    public static ModelSpec Get(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new UsageException($"unknown model '{name}' (choose one of {string.Join(", ", Names)})");
}
