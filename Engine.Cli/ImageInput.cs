using System.Globalization;
using ConvEngine.Cli.Imaging;
using ConvEngine.NN;

namespace ConvEngine.Cli;

/// <summary>
/// One image prepared for a checkpoint's model, as <c>predict</c> and <c>visualize</c> need it: the model rebuilt from the
/// checkpoint, the image read (PGM or PNG), optionally inverted, resized to the model's input and normalised with the
/// checkpoint's mean and standard deviation, replicated over the model's input channels.
/// </summary>
internal sealed record ImageInput(CheckpointInfo Info, ModelSpec Spec, Module Net, int Classes, GrayImage Original, GrayImage Resized, Tensor Input)
{
    /// <summary>The model's input size (height = width).</summary>
    public int Size => Resized.Width;

    /// <summary>The class names recorded in the checkpoint, or the class indices when it has none.</summary>
    public IReadOnlyList<string> ClassNames => Info.ClassNames is { } n && n.Count == Classes
        ? n : Enumerable.Range(0, Classes).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();

    /// <summary>Reads the checkpoint and the image; a corrupt image is a usage error (one line, exit 2).</summary>
    public static ImageInput Load(string? model, string checkpoint, string imagePath, bool invert)
    {
        GrayImage img;
        try { img = GrayImage.Load(imagePath); }
        catch (InvalidDataException e) { throw new UsageException(e.Message); }
        var info = CheckpointInfo.Read(checkpoint);
        var (spec, net, channels, size, classes) = info.LoadModel(checkpoint, model, null, CpuDevice.Default);
        if (invert) img = img.Invert();
        var resized = img.Resize(size, size);
        float mean = info.Mean ?? 0f, std = info.Std ?? 1f;
        int plane = size * size;
        var x = new float[channels * plane];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < plane; i++) x[c * plane + i] = (resized.Pixels[i] - mean) / std;
        return new ImageInput(info, spec, net, classes, img, resized, Tensor.FromArray(CpuDevice.Default, x, 1, channels, size, size));
    }
}
