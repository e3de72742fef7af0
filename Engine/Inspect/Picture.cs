namespace ConvEngine.Inspect;

// Mapping values to pixels (documented here once, used by every renderer):
//   Gray (unsigned data such as images, feature maps, saliency):
//       byte = round(255·(v − lo)/(hi − lo)), clamped to 0..255, with lo/hi the minimum/maximum of the values shown
//       (or given). When hi = lo every pixel is 0 (an all-constant map shows black).
//   Diverging (signed data such as weights and gradients), with m = max|v| (or given):
//       t = v/m ∈ [−1, 1];  t ≥ 0: (255, 255·(1 − t), 255·(1 − t))  white → red
//                           t < 0: (255·(1 + t), 255·(1 + t), 255)  white → blue
//       so 0 is white, +m is pure red (255, 0, 0) and −m pure blue (0, 0, 255). When m = 0 everything is white.

/// <summary>An 8-bit image in memory (grayscale or RGB) that renderers produce and <see cref="Save"/> writes as PNG.</summary>
public sealed class Picture
{
    private readonly byte[] _pixels;

    /// <summary>Wraps <paramref name="pixels"/> (taken, not copied).</summary>
    /// <param name="width">Width (≥ 1).</param>
    /// <param name="height">Height (≥ 1).</param>
    /// <param name="channels">1 (gray) or 3 (RGB).</param>
    /// <param name="pixels">width·height·channels bytes, row-major, channels interleaved.</param>
    public Picture(int width, int height, int channels, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, "Width must be positive.");
        if (height <= 0) throw new ArgumentOutOfRangeException(nameof(height), height, "Height must be positive.");
        if (channels != 1 && channels != 3) throw new ArgumentOutOfRangeException(nameof(channels), channels, "Channels must be 1 or 3.");
        if (pixels.Length != width * height * channels)
            throw new ArgumentException($"A {width}x{height}x{channels} picture needs {width * height * channels} bytes but got {pixels.Length}.", nameof(pixels));
        Width = width; Height = height; Channels = channels; _pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>1 (gray) or 3 (RGB).</summary>
    public int Channels { get; }
    /// <summary>The pixels, row-major, channels interleaved.</summary>
    public ReadOnlySpan<byte> Pixels => _pixels;

    /// <summary>The value of channel <paramref name="channel"/> at column <paramref name="x"/>, row <paramref name="y"/>.</summary>
    /// <param name="x">Column.</param>
    /// <param name="y">Row.</param>
    /// <param name="channel">Channel (0 for gray).</param>
    public byte this[int x, int y, int channel = 0] => _pixels[(y * Width + x) * Channels + channel];

    /// <summary>The picture encoded as PNG.</summary>
    public byte[] ToPng() => Png.Encode(Width, Height, Channels, _pixels);

    /// <summary>Writes the picture as a PNG file (atomically: temporary file, then rename).</summary>
    /// <param name="path">The destination.</param>
    public void Save(string path) => AtomicFile.Write(path, ToPng());

    /// <summary>A copy as RGB (gray values repeated), for combining with coloured tiles.</summary>
    public Picture ToRgb()
    {
        if (Channels == 3) return new Picture(Width, Height, 3, (byte[])_pixels.Clone());
        var rgb = new byte[_pixels.Length * 3];
        for (int i = 0; i < _pixels.Length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = _pixels[i];
        return new Picture(Width, Height, 3, rgb);
    }

    /// <summary>Each pixel repeated <paramref name="factor"/> times in both directions (nearest neighbour).</summary>
    /// <param name="factor">The scale (≥ 1).</param>
    public Picture Upscale(int factor)
    {
        if (factor < 1) throw new ArgumentOutOfRangeException(nameof(factor), factor, "The factor must be at least 1.");
        if (factor == 1) return this;
        int w = Width * factor, h = Height * factor;
        var p = new byte[w * h * Channels];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < Channels; c++)
                    p[(y * w + x) * Channels + c] = _pixels[((y / factor) * Width + x / factor) * Channels + c];
        return new Picture(w, h, Channels, p);
    }

    /// <summary>Lays <paramref name="tiles"/> (all the same size and channels) out in a grid with <paramref name="gap"/> pixels between them.</summary>
    /// <param name="tiles">The tiles, row by row.</param>
    /// <param name="columns">Tiles per row.</param>
    /// <param name="gap">Pixels between tiles (and around the grid).</param>
    /// <param name="background">The value of gap pixels.</param>
    public static Picture Grid(IReadOnlyList<Picture> tiles, int columns, int gap = 1, byte background = 128)
    {
        ArgumentNullException.ThrowIfNull(tiles);
        if (tiles.Count == 0) throw new ArgumentException("At least one tile is needed.", nameof(tiles));
        if (columns < 1) throw new ArgumentOutOfRangeException(nameof(columns), columns, "At least one column is needed.");
        int tw = tiles[0].Width, th = tiles[0].Height, ch = tiles[0].Channels;
        if (tiles.Any(t => t.Width != tw || t.Height != th || t.Channels != ch))
            throw new ArgumentException("All tiles must have the same size and channels.", nameof(tiles));
        int cols = Math.Min(columns, tiles.Count), rows = (tiles.Count + cols - 1) / cols;
        int w = gap + cols * (tw + gap), h = gap + rows * (th + gap);
        var p = new byte[w * h * ch];
        Array.Fill(p, background);
        for (int i = 0; i < tiles.Count; i++)
        {
            int ox = gap + (i % cols) * (tw + gap), oy = gap + (i / cols) * (th + gap);
            var src = tiles[i]._pixels;
            for (int y = 0; y < th; y++)
                Array.Copy(src, y * tw * ch, p, ((oy + y) * w + ox) * ch, tw * ch);
        }
        return new Picture(w, h, ch, p);
    }
}

/// <summary>The value-to-colour mappings used by the renderers (see the formulas in the remarks).</summary>
/// <remarks>
/// Gray: <c>byte = round(255·(v − lo)/(hi − lo))</c> clamped to 0..255 (all 0 when hi = lo).
/// Diverging, with m = max|v|: 0 → white (255, 255, 255); v = +m → red (255, 0, 0); v = −m → blue (0, 0, 255); linear in between.
/// </remarks>
public static class ColorMap
{
    /// <summary>Maps values linearly to gray bytes: lo → 0, hi → 255 (defaults: the minimum and maximum of the values).</summary>
    /// <param name="values">The values.</param>
    /// <param name="lo">The value shown black; null for the minimum.</param>
    /// <param name="hi">The value shown white; null for the maximum.</param>
    public static byte[] Gray(ReadOnlySpan<float> values, float? lo = null, float? hi = null)
    {
        float mn = lo ?? Min(values), mx = hi ?? Max(values);
        var b = new byte[values.Length];
        if (!(mx > mn)) return b;
        double scale = 255.0 / ((double)mx - mn);
        for (int i = 0; i < values.Length; i++) b[i] = ToByte((values[i] - (double)mn) * scale);
        return b;
    }

    /// <summary>Maps signed values to RGB bytes (3 per value): −m blue, 0 white, +m red, with m = max|v| unless given.</summary>
    /// <param name="values">The values.</param>
    /// <param name="maxAbs">The magnitude shown fully saturated; null for max|v|.</param>
    public static byte[] Diverging(ReadOnlySpan<float> values, float? maxAbs = null)
    {
        float m = maxAbs ?? MaxAbs(values);
        var b = new byte[values.Length * 3];
        for (int i = 0; i < values.Length; i++)
        {
            double t = m > 0 ? Math.Clamp(values[i] / (double)m, -1, 1) : 0;
            byte fade = ToByte(255 * (1 - Math.Abs(t)));
            if (t >= 0) { b[3 * i] = 255; b[3 * i + 1] = fade; b[3 * i + 2] = fade; }
            else { b[3 * i] = fade; b[3 * i + 1] = fade; b[3 * i + 2] = 255; }
        }
        return b;
    }

    internal static byte ToByte(double v) => (byte)Math.Clamp(Math.Round(v, MidpointRounding.AwayFromZero), 0, 255);

    internal static float Min(ReadOnlySpan<float> v) { float m = float.PositiveInfinity; foreach (var x in v) if (x < m) m = x; return v.Length == 0 ? 0 : m; }
    internal static float Max(ReadOnlySpan<float> v) { float m = float.NegativeInfinity; foreach (var x in v) if (x > m) m = x; return v.Length == 0 ? 0 : m; }
    internal static float MaxAbs(ReadOnlySpan<float> v) { float m = 0; foreach (var x in v) if (MathF.Abs(x) > m) m = MathF.Abs(x); return m; }
}
