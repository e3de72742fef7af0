using System.Globalization;
using System.Text;
using ConvEngine.Data;
using ConvEngine.NN;

namespace ConvEngine.Inspect;

/// <summary>The input, kernel and output of a hand-set convolution demo (see <see cref="Demos"/>).</summary>
public sealed class DemoResult
{
    internal DemoResult(string name, string title, string explanation, Tensor input, Conv2d layer, Tensor output)
    {
        Name = name; Title = title; Explanation = explanation; Input = input; Layer = layer; Kernel = layer.Weight.Value.Clone(); Output = output;
    }

    /// <summary>The demo's short name (<c>edges</c>, <c>rgb-edges</c>, <c>blur</c>).</summary>
    public string Name { get; }
    /// <summary>A one-line title.</summary>
    public string Title { get; }
    /// <summary>What the kernel computes, in a few sentences.</summary>
    public string Explanation { get; }
    /// <summary>The input image (1, C, H, W).</summary>
    public Tensor Input { get; }
    /// <summary>The convolution with the fixed weights.</summary>
    public Conv2d Layer { get; }
    /// <summary>A copy of the kernel (1, C, KH, KW).</summary>
    public Tensor Kernel { get; }
    /// <summary>The output (1, 1, OH, OW).</summary>
    public Tensor Output { get; }

    /// <summary>A text rendering: title, explanation, kernel values, and the input and output (values when small, shades otherwise).</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.AppendLine(Title).AppendLine(Explanation).AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"kernel {Kernel.ShapeString} ({Layer}):");
        AppendPlanes(sb, Kernel, forceNumbers: true);
        sb.AppendLine(CultureInfo.InvariantCulture, $"input {Input.ShapeString}:");
        AppendPlanes(sb, Input, false);
        sb.AppendLine(CultureInfo.InvariantCulture, $"output {Output.ShapeString}:");
        AppendPlanes(sb, Output, false);
        return sb.ToString();
    }

    /// <summary>
    /// Writes <c>&lt;name&gt;_input.png</c> (gray, or RGB for 3 channels, values 0..1 → 0..255) and <c>&lt;name&gt;_output.png</c>
    /// (diverging colours for a signed output, gray otherwise) into <paramref name="directory"/>; returns the paths.
    /// </summary>
    /// <param name="directory">The destination folder (created when missing).</param>
    /// <param name="scale">Pixels per value along each axis.</param>
    public IReadOnlyList<string> SavePictures(string directory, int scale = 8)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var inPath = Path.Combine(directory, Name + "_input.png");
        var outPath = Path.Combine(directory, Name + "_output.png");
        ImagePicture(Input).Upscale(scale).Save(inPath);
        var o = Output.ToArray();
        int oh = Output.Dim(2), ow = Output.Dim(3);
        var pic = o.Any(v => v < 0) ? new Picture(ow, oh, 3, ColorMap.Diverging(o)) : new Picture(ow, oh, 1, ColorMap.Gray(o, 0f, Math.Max(1f, ColorMap.Max(o))));
        pic.Upscale(scale).Save(outPath);
        return [inPath, outPath];
    }

    /// <summary>An image tensor (1, C, H, W) with values in [0, 1] as a picture: gray for C = 1, RGB for C = 3 (v·255, clamped).</summary>
    internal static Picture ImagePicture(Tensor image)
    {
        int c = image.Dim(1), h = image.Dim(2), w = image.Dim(3);
        var d = image.ToArray();
        var g = d.Select(v => ColorMap.ToByte(v * 255.0)).ToArray();
        if (c == 1) return new Picture(w, h, 1, g);
        if (c != 3) throw new ArgumentException($"Only 1- or 3-channel images can be shown, not {c}.", nameof(image));
        var rgb = new byte[h * w * 3];
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < h * w; i++) rgb[3 * i + ch] = g[ch * h * w + i];
        return new Picture(w, h, 3, rgb);
    }

    private static void AppendPlanes(StringBuilder sb, Tensor t, bool forceNumbers)
    {
        var s = t.Shape;
        int planes = s[0] * s[1], h = s[2], w = s[3];
        var d = t.ToArray();
        const string shades = " .:-=+*#%@";
        float lo = ColorMap.Min(d), hi = ColorMap.Max(d);
        for (int p = 0; p < planes; p++)
        {
            if (planes > 1) sb.AppendLine(CultureInfo.InvariantCulture, $"  channel {p}:");
            for (int y = 0; y < h; y++)
            {
                sb.Append("  ");
                for (int x = 0; x < w; x++)
                {
                    float v = d[(p * h + y) * w + x];
                    if (forceNumbers || w <= 12) sb.Append(v.ToString("0.###", CultureInfo.InvariantCulture).PadLeft(7));
                    else sb.Append(hi > lo ? shades[(int)Math.Round((v - lo) / (hi - lo) * (shades.Length - 1))] : ' ');
                }
                sb.AppendLine();
            }
        }
    }
}

/// <summary>
/// The seeds' hand-set convolution kernels as <see cref="Conv2d"/> layers with fixed weights: an edge detector on a binary
/// image, an edge detector on an RGB image (3 channels summed), and a mean blur. Each returns input, kernel and output.
/// </summary>
public static class Demos
{
    /// <summary>The demo names accepted by <see cref="Run"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["edges", "rgb-edges", "blur"];

    /// <summary>Runs the demo called <paramref name="name"/> (one of <see cref="Names"/>) with its default arguments.</summary>
    /// <param name="name">The demo's name.</param>
    public static DemoResult Run(string name) => name switch
    {
        "edges" => Edges(),
        "rgb-edges" => RgbEdges(),
        "blur" => Blur(),
        _ => throw new ArgumentException($"Unknown demo '{name}'; expected one of: {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>
    /// A binary image, white (1) on the left and black (0) from column <c>width·3/5</c> on, convolved with the 1×2 kernel
    /// [1, −1] (no padding): y[i, j] = x[i, j] − x[i, j + 1], which is 1 exactly where white meets black and 0 elsewhere.
    /// </summary>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width (≥ 3).</param>
    public static DemoResult Edges(int height = 6, int width = 10)
    {
        if (height < 1) throw new ArgumentOutOfRangeException(nameof(height), height, "Height must be positive.");
        if (width < 3) throw new ArgumentOutOfRangeException(nameof(width), width, "Width must be at least 3.");
        int boundary = width * 3 / 5;
        var img = new float[height * width];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < boundary; x++) img[y * width + x] = 1f;
        var input = Tensor.FromArray(img, 1, 1, height, width);
        var conv = Fixed(1, (1, 2), [1f, -1f], 0);
        return new DemoResult("edges", "Edge detection on a binary image with the kernel [1, -1]",
            $"Each output is a pixel minus its right neighbour: 1 where white (column {boundary - 1}) meets black (column {boundary}), 0 in flat regions.",
            input, conv, conv.Forward(input));
    }

    /// <summary>
    /// An RGB image (a blue square on a red-to-yellow background) convolved with the 3×3 kernel
    /// [[−1, −1, −1], [−1, 8, −1], [−1, −1, −1]]/8 on each of the 3 channels, the three results summed into one output channel.
    /// The kernel's weights sum to 0, so flat regions and linear gradients of colour give ~0 and colour edges stand out.
    /// </summary>
    /// <param name="size">Image side (≥ 8).</param>
    public static DemoResult RgbEdges(int size = 16)
    {
        if (size < 8) throw new ArgumentOutOfRangeException(nameof(size), size, "Size must be at least 8.");
        var img = new float[3 * size * size];
        int lo = size / 4, hi = size - size / 4;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                bool square = y >= lo && y < hi && x >= lo && x < hi;
                int i = y * size + x;
                img[i] = square ? 0.1f : 0.9f;                                       // red
                img[size * size + i] = square ? 0.2f : (float)x / (size - 1);          // green: a horizontal ramp in the background
                img[2 * size * size + i] = square ? 0.9f : 0.1f;                       // blue
            }
        var input = Tensor.FromArray(img, 1, 3, size, size);
        float[] k = [-1, -1, -1, -1, 8, -1, -1, -1, -1];
        var w = new float[27];
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < 9; j++) w[c * 9 + j] = k[j] / 8f;
        var conv = Fixed(3, (3, 3), w, 0);
        return new DemoResult("rgb-edges", "Edge detection on an RGB image: one 3x3 kernel per channel, the channels summed",
            "out = sum over c of (8·centre − the 8 neighbours)/8 on channel c. Flat colour and the linear green ramp give 0; the square's border does not.",
            input, conv, conv.Forward(input));
    }

    /// <summary>
    /// A noisy shape (the synthetic Shapes dataset, seed 0, image 0, noise 0.3) blurred with the k×k mean kernel (all weights 1/k²,
    /// no padding): each output is the average of the k×k window under it, which smooths the noise.
    /// </summary>
    /// <param name="kernelSize">The window side k (odd, ≥ 1).</param>
    public static DemoResult Blur(int kernelSize = 3)
    {
        if (kernelSize < 1 || kernelSize % 2 == 0) throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "The kernel size must be odd and positive.");
        var data = Shapes.Generate(1, seed: 0, noise: 0.3f);
        var input = data.ImagesTensor();
        var w = Enumerable.Repeat(1f / (kernelSize * kernelSize), kernelSize * kernelSize).ToArray();
        var conv = Fixed(1, (kernelSize, kernelSize), w, 0);
        return new DemoResult("blur", $"Mean blur with a {kernelSize}x{kernelSize} kernel of 1/{kernelSize * kernelSize}",
            "Each output pixel is the mean of the window under the kernel: noise averages out, edges get softer.",
            input, conv, conv.Forward(input));
    }

    private static Conv2d Fixed(int inChannels, (int H, int W) k, float[] weights, int padding)
    {
        var conv = new Conv2d(inChannels, 1, k, padding: (padding, padding), bias: false, seed: 0);
        conv.Weight.Value.CopyFrom(weights);
        return conv;
    }
}
