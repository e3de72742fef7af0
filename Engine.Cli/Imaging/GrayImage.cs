namespace ConvEngine.Cli.Imaging;

/// <summary>A grayscale image with pixels in [0, 1], row-major.</summary>
internal sealed record GrayImage(int Width, int Height, float[] Pixels)
{
    /// <summary>The largest width or height accepted from a file (keeps a corrupt header from allocating gigabytes).</summary>
    public const int MaxSide = 16384;

    /// <summary>Reads a PGM (P2 or P5) or PNG file, chosen by its first bytes (not its extension).</summary>
    public static GrayImage Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new InvalidDataException($"image file '{path}' does not exist"); }
        catch (DirectoryNotFoundException) { throw new InvalidDataException($"image file '{path}' does not exist"); }
        return Decode(bytes, path);
    }

    /// <summary>Decodes PGM or PNG bytes; <paramref name="name"/> is used in error messages.</summary>
    public static GrayImage Decode(ReadOnlySpan<byte> bytes, string name = "image")
    {
        if (bytes.Length >= 8 && bytes[..8].SequenceEqual(Png.Signature)) return Png.Decode(bytes, name);
        if (bytes.Length >= 2 && bytes[0] == (byte)'P' && (bytes[1] == (byte)'2' || bytes[1] == (byte)'5')) return Pgm.Decode(bytes, name);
        throw new InvalidDataException($"'{name}' is neither a PGM (P2/P5) nor a PNG file");
    }

    internal static void CheckSize(int width, int height, string name)
    {
        if (width < 1 || height < 1 || width > MaxSide || height > MaxSide)
            throw new InvalidDataException($"'{name}': image size {width}x{height} is outside 1..{MaxSide}");
    }

    /// <summary>Bilinear resampling (pixel centres aligned, as PyTorch's align_corners=False) to <paramref name="width"/>x<paramref name="height"/>.</summary>
    public GrayImage Resize(int width, int height)
    {
        if (width == Width && height == Height) return this;
        var dst = new float[width * height];
        float sx = (float)Width / width, sy = (float)Height / height;
        for (int y = 0; y < height; y++)
        {
            float fy = Math.Clamp((y + 0.5f) * sy - 0.5f, 0, Height - 1);
            int y0 = (int)fy, y1 = Math.Min(y0 + 1, Height - 1);
            float wy = fy - y0;
            for (int x = 0; x < width; x++)
            {
                float fx = Math.Clamp((x + 0.5f) * sx - 0.5f, 0, Width - 1);
                int x0 = (int)fx, x1 = Math.Min(x0 + 1, Width - 1);
                float wx = fx - x0;
                float top = Pixels[y0 * Width + x0] * (1 - wx) + Pixels[y0 * Width + x1] * wx;
                float bottom = Pixels[y1 * Width + x0] * (1 - wx) + Pixels[y1 * Width + x1] * wx;
                dst[y * width + x] = top * (1 - wy) + bottom * wy;
            }
        }
        return new GrayImage(width, height, dst);
    }

    /// <summary>1 − p for every pixel (dark-on-light drawings to the light-on-dark look of MNIST-style data).</summary>
    public GrayImage Invert() => new(Width, Height, Pixels.Select(p => 1f - p).ToArray());
}
