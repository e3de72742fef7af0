using System.Buffers.Binary;
using System.IO.Compression;

namespace ConvEngine.Inspect;

// A minimal PNG encoder (no image library needed). File layout:
//   signature 89 50 4E 47 0D 0A 1A 0A
//   chunks: length (4 bytes, big-endian) · type (4 ASCII) · data · CRC-32 of type+data (big-endian)
//   IHDR: width, height, bit depth 8, colour type 0 (gray) or 2 (RGB), compression 0, filter 0, interlace 0
//   IDAT: zlib stream (RFC 1950, System.IO.Compression.ZLibStream) of the filtered scanlines: each row is one filter-type
//         byte followed by the row's bytes. Each row takes the filter (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) whose
//         output has the smallest sum of |signed bytes| (the heuristic the PNG specification suggests).
//   IEND: empty.
// The CRC is the standard CRC-32 (polynomial 0xEDB88320, reflected, initial and final XOR 0xFFFFFFFF).

/// <summary>Writes 8-bit grayscale and RGB PNG images.</summary>
public static class Png
{
    /// <summary>Encodes an 8-bit image as PNG bytes.</summary>
    /// <param name="width">Width in pixels (≥ 1).</param>
    /// <param name="height">Height in pixels (≥ 1).</param>
    /// <param name="channels">1 (grayscale) or 3 (RGB, interleaved r, g, b).</param>
    /// <param name="pixels">Row-major pixels, width·height·channels bytes.</param>
    public static byte[] Encode(int width, int height, int channels, ReadOnlySpan<byte> pixels)
    {
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, "Width must be positive.");
        if (height <= 0) throw new ArgumentOutOfRangeException(nameof(height), height, "Height must be positive.");
        if (channels != 1 && channels != 3) throw new ArgumentOutOfRangeException(nameof(channels), channels, "Channels must be 1 (gray) or 3 (RGB).");
        long expected = (long)width * height * channels;
        if (pixels.Length != expected)
            throw new ArgumentException($"A {width}x{height} image with {channels} channel(s) needs {expected} bytes but got {pixels.Length}.", nameof(pixels));

        using var ms = new MemoryStream();
        ms.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;                                  // bit depth
        ihdr[9] = (byte)(channels == 1 ? 0 : 2);      // colour type
        WriteChunk(ms, "IHDR", ihdr);
        WriteChunk(ms, "IDAT", Compress(Filter(width, height, channels, pixels)));
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    /// <summary>Writes a grayscale image to <paramref name="path"/> atomically (a temporary file, then a rename).</summary>
    /// <param name="path">The destination file.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="pixels">width·height bytes, row-major.</param>
    public static void WriteGray(string path, int width, int height, ReadOnlySpan<byte> pixels) =>
        AtomicFile.Write(path, Encode(width, height, 1, pixels));

    /// <summary>Writes an RGB image to <paramref name="path"/> atomically (a temporary file, then a rename).</summary>
    /// <param name="path">The destination file.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="rgb">width·height·3 bytes, row-major, interleaved r, g, b.</param>
    public static void WriteRgb(string path, int width, int height, ReadOnlySpan<byte> rgb) =>
        AtomicFile.Write(path, Encode(width, height, 3, rgb));

    /// <summary>The CRC-32 of <paramref name="data"/> (as in PNG, zlib's crc32 and gzip).</summary>
    /// <param name="data">The bytes.</param>
    public static uint Crc32(ReadOnlySpan<byte> data) => Serialization.Crc32.Compute(data);

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
        for (int i = 0; i < 4; i++) head[4 + i] = (byte)type[i];
        s.Write(head);
        s.Write(data);
        var typeAndData = new byte[4 + data.Length];
        head[4..].CopyTo(typeAndData);
        data.CopyTo(typeAndData, 4);
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typeAndData));
        s.Write(crc);
    }

    private static byte[] Compress(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);
        return ms.ToArray();
    }

    private static byte[] Filter(int width, int height, int bpp, ReadOnlySpan<byte> pixels)
    {
        int stride = width * bpp;
        var result = new byte[(long)height * (stride + 1)];
        var candidate = new byte[stride];
        var best = new byte[stride];
        for (int y = 0; y < height; y++)
        {
            var row = pixels.Slice(y * stride, stride);
            var prev = y > 0 ? pixels.Slice((y - 1) * stride, stride) : ReadOnlySpan<byte>.Empty;
            long bestScore = long.MaxValue; int bestType = 0;
            for (int type = 0; type <= 4; type++)
            {
                long score = 0;
                for (int i = 0; i < stride; i++)
                {
                    int a = i >= bpp ? row[i - bpp] : 0;
                    int b = prev.IsEmpty ? 0 : prev[i];
                    int c = i >= bpp && !prev.IsEmpty ? prev[i - bpp] : 0;
                    int predictor = type switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) >> 1, _ => Paeth(a, b, c) };
                    byte v = (byte)(row[i] - predictor);
                    candidate[i] = v;
                    score += Math.Abs((int)(sbyte)v);
                }
                if (score < bestScore) { bestScore = score; bestType = type; candidate.CopyTo(best, 0); }
            }
            long o = (long)y * (stride + 1);
            result[o] = (byte)bestType;
            best.CopyTo(result, o + 1);
        }
        return result;
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}

/// <summary>Writes files atomically: to a temporary file in the same folder, then renamed over the destination.</summary>
internal static class AtomicFile
{
    public static void Write(string path, byte[] bytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            File.WriteAllBytes(tmp, bytes);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void WriteText(string path, string text) => Write(path, System.Text.Encoding.UTF8.GetBytes(text));
}
