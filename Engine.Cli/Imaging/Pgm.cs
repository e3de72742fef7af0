namespace ConvEngine.Cli.Imaging;

// PGM (Netpbm graymap): "P2" (ASCII) or "P5" (binary), then width, height and maxval as ASCII decimals separated by
// whitespace, '#' comments allowed in the header; P5 has exactly one whitespace byte before the raster, then width·height
// samples of 1 byte (maxval < 256) or 2 bytes big-endian (maxval ≥ 256). Pixel value / maxval gives [0, 1].

/// <summary>Reads PGM P2 and P5 images.</summary>
internal static class Pgm
{
    public static GrayImage Decode(ReadOnlySpan<byte> b, string name)
    {
        if (b.Length < 2 || b[0] != (byte)'P' || (b[1] != (byte)'2' && b[1] != (byte)'5'))
            throw new InvalidDataException($"'{name}' is not a PGM file (expected P2 or P5 magic)");
        bool binary = b[1] == (byte)'5';
        int pos = 2;
        int width = ReadHeaderInt(b, ref pos, name, "width");
        int height = ReadHeaderInt(b, ref pos, name, "height");
        int maxval = ReadHeaderInt(b, ref pos, name, "maxval");
        GrayImage.CheckSize(width, height, name);
        if (maxval < 1 || maxval > 65535) throw new InvalidDataException($"'{name}': PGM maxval {maxval} is outside 1..65535");
        // The raster's size is checked against the bytes present before anything is allocated, so a lying header
        // (a few bytes claiming 16384x16384) is refused without allocating for it.
        long count = (long)width * height;
        int bytesPer = maxval < 256 ? 1 : 2;
        if (binary)
        {
            if (pos >= b.Length || !IsSpace(b[pos])) throw new InvalidDataException($"'{name}': PGM header must end with one whitespace byte");
            pos++;
            long need = count * bytesPer;
            if (b.Length - pos < need)
                throw new InvalidDataException($"'{name}': PGM raster is truncated: {width}x{height} needs {need} bytes but {b.Length - pos} remain");
        }
        else if (b.Length - pos < 2 * count - 1)
            throw new InvalidDataException($"'{name}': PGM raster is truncated: {width}x{height} plain samples need at least {2 * count - 1} bytes but {b.Length - pos} remain");
        var pixels = new float[count];
        if (binary)
        {
            for (int i = 0; i < pixels.Length; i++)
            {
                int v = bytesPer == 1 ? b[pos + i] : (b[pos + 2 * i] << 8) | b[pos + 2 * i + 1];
                if (v > maxval) throw new InvalidDataException($"'{name}': PGM sample {v} at pixel {i} exceeds maxval {maxval}");
                pixels[i] = (float)v / maxval;
            }
        }
        else
        {
            for (int i = 0; i < pixels.Length; i++)
            {
                int v = ReadHeaderInt(b, ref pos, name, $"pixel {i}");
                if (v > maxval) throw new InvalidDataException($"'{name}': PGM sample {v} at pixel {i} exceeds maxval {maxval}");
                pixels[i] = (float)v / maxval;
            }
        }
        return new GrayImage(width, height, pixels);
    }

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\v' or (byte)'\f';

    private static int ReadHeaderInt(ReadOnlySpan<byte> b, ref int pos, string name, string what)
    {
        while (pos < b.Length)
        {
            if (IsSpace(b[pos])) pos++;
            else if (b[pos] == (byte)'#') { while (pos < b.Length && b[pos] != (byte)'\n' && b[pos] != (byte)'\r') pos++; }
            else break;
        }
        if (pos >= b.Length) throw new InvalidDataException($"'{name}': PGM file ends before its {what}");
        long v = 0;
        int start = pos;
        while (pos < b.Length && b[pos] >= (byte)'0' && b[pos] <= (byte)'9')
        {
            v = v * 10 + (b[pos] - '0');
            if (v > int.MaxValue) throw new InvalidDataException($"'{name}': PGM {what} is too large");
            pos++;
        }
        if (pos == start || (pos < b.Length && !IsSpace(b[pos]) && b[pos] != (byte)'#'))
            throw new InvalidDataException($"'{name}': PGM {what} is not a decimal number");
        return (int)v;
    }

    /// <summary>Encodes a P5 image with maxval 255 (used by tests and by tools that export samples).</summary>
    public static byte[] EncodeP5(GrayImage img)
    {
        var header = System.Text.Encoding.ASCII.GetBytes($"P5\n{img.Width} {img.Height}\n255\n");
        var result = new byte[header.Length + img.Pixels.Length];
        header.CopyTo(result, 0);
        for (int i = 0; i < img.Pixels.Length; i++) result[header.Length + i] = (byte)Math.Clamp(MathF.Round(img.Pixels[i] * 255f), 0, 255);
        return result;
    }
}
