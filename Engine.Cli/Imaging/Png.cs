using System.Buffers.Binary;
using System.IO.Compression;

namespace ConvEngine.Cli.Imaging;

// PNG subset: 8-bit, non-interlaced, colour types 0 (gray), 2 (RGB), 4 (gray + alpha), 6 (RGBA).
//   file   = signature (8 bytes) · chunk*        chunk = length (u32 BE) · type (4 ASCII) · data · CRC-32(type · data)
//   IHDR first: width, height (u32 BE), bit depth, colour type, compression 0, filter 0, interlace 0
//   the IDAT payloads concatenated form one zlib stream; inflated, each row is a filter byte (0 None, 1 Sub, 2 Up,
//   3 Average, 4 Paeth) followed by width·channels bytes, reconstructed against the previous row.
// Colour becomes luma 0.299 R + 0.587 G + 0.114 B (ITU-R 601, as PIL's convert("L")); alpha is ignored. Every CRC is
// checked and every size is validated, so a corrupt file is refused with a message instead of producing garbage.

/// <summary>Reads 8-bit non-interlaced grayscale and RGB(A) PNG images.</summary>
internal static class Png
{
    public static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static GrayImage Decode(ReadOnlySpan<byte> b, string name)
    {
        if (b.Length < 8 || !b[..8].SequenceEqual(Signature)) throw new InvalidDataException($"'{name}' is not a PNG file (bad signature)");
        int pos = 8, width = 0, height = 0, channels = 0;
        bool sawHeader = false, sawEnd = false;
        using var idat = new MemoryStream();
        while (pos < b.Length && !sawEnd)
        {
            if (b.Length - pos < 12) throw new InvalidDataException($"'{name}': PNG chunk header truncated at byte {pos}");
            uint len = BinaryPrimitives.ReadUInt32BigEndian(b[pos..]);
            if (len > int.MaxValue || len > b.Length - pos - 12) throw new InvalidDataException($"'{name}': PNG chunk at byte {pos} claims {len} bytes but the file ends first");
            var type = b.Slice(pos + 4, 4);
            var data = b.Slice(pos + 8, (int)len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(b[(pos + 8 + (int)len)..]);
            string typeName = System.Text.Encoding.ASCII.GetString(type);
            if (Crc32(b.Slice(pos + 4, 4 + (int)len)) != crc) throw new InvalidDataException($"'{name}': PNG chunk {typeName} has a bad CRC (file corrupt)");
            pos += 12 + (int)len;
            if (!sawHeader && typeName != "IHDR") throw new InvalidDataException($"'{name}': PNG must start with IHDR but starts with {typeName}");
            switch (typeName)
            {
                case "IHDR":
                    if (len != 13) throw new InvalidDataException($"'{name}': PNG IHDR must be 13 bytes but is {len}");
                    uint w = BinaryPrimitives.ReadUInt32BigEndian(data), h = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
                    if (w > GrayImage.MaxSide || h > GrayImage.MaxSide) throw new InvalidDataException($"'{name}': image size {w}x{h} is outside 1..{GrayImage.MaxSide}");
                    width = (int)w; height = (int)h;
                    GrayImage.CheckSize(width, height, name);
                    byte depth = data[8], colour = data[9];
                    if (depth != 8) throw new InvalidDataException($"'{name}': PNG bit depth {depth} is not supported (only 8)");
                    channels = colour switch
                    {
                        0 => 1, 2 => 3, 4 => 2, 6 => 4,
                        3 => throw new InvalidDataException($"'{name}': palette PNGs are not supported (use grayscale or RGB)"),
                        _ => throw new InvalidDataException($"'{name}': PNG colour type {colour} is invalid"),
                    };
                    if (data[10] != 0 || data[11] != 0) throw new InvalidDataException($"'{name}': PNG compression/filter method must be 0");
                    if (data[12] != 0) throw new InvalidDataException($"'{name}': interlaced PNGs are not supported");
                    sawHeader = true;
                    break;
                case "IDAT": idat.Write(data); break;
                case "IEND": sawEnd = true; break;
                default:
                    if ((type[0] & 0x20) == 0) throw new InvalidDataException($"'{name}': PNG has a critical chunk {typeName} this reader does not know");
                    break; // ancillary chunks (gAMA, tEXt, ...) are skipped
            }
        }
        if (!sawHeader) throw new InvalidDataException($"'{name}': PNG has no IHDR chunk");
        if (idat.Length == 0) throw new InvalidDataException($"'{name}': PNG has no image data (IDAT)");

        int stride = width * channels;
        long rawLength = (long)(stride + 1) * height;
        // Deflate expands at most 1032:1, so compressed data this small cannot hold the claimed image: refuse before allocating.
        if (rawLength > 1032L * idat.Length + 1024)
            throw new InvalidDataException($"'{name}': PNG claims {width}x{height} ({rawLength} bytes of scanlines) but has only {idat.Length} bytes of compressed data");
        var raw = new byte[rawLength];
        idat.Position = 0;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            int read = 0;
            while (read < raw.Length)
            {
                int n = z.Read(raw, read, raw.Length - read);
                if (n == 0) break;
                read += n;
            }
            if (read < raw.Length) throw new InvalidDataException($"'{name}': PNG image data is truncated ({read} of {raw.Length} bytes)");
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith('\''))
        {
            throw new InvalidDataException($"'{name}': PNG image data is not a valid zlib stream ({e.Message})");
        }

        var prev = new byte[stride];
        var cur = new byte[stride];
        var pixels = new float[width * height];
        for (int y = 0; y < height; y++)
        {
            int rowStart = y * (stride + 1);
            byte filter = raw[rowStart];
            var src = raw.AsSpan(rowStart + 1, stride);
            for (int i = 0; i < stride; i++)
            {
                int a = i >= channels ? cur[i - channels] : 0, up = prev[i], c = i >= channels ? prev[i - channels] : 0;
                cur[i] = filter switch
                {
                    0 => src[i],
                    1 => (byte)(src[i] + a),
                    2 => (byte)(src[i] + up),
                    3 => (byte)(src[i] + ((a + up) >> 1)),
                    4 => (byte)(src[i] + Paeth(a, up, c)),
                    _ => throw new InvalidDataException($"'{name}': PNG row {y} has invalid filter type {filter}"),
                };
            }
            for (int x = 0; x < width; x++)
            {
                int p = x * channels;
                pixels[y * width + x] = channels >= 3
                    ? (0.299f * cur[p] + 0.587f * cur[p + 1] + 0.114f * cur[p + 2]) / 255f
                    : cur[p] / 255f;
            }
            (prev, cur) = (cur, prev);
        }
        return new GrayImage(width, height, pixels);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>The CRC-32 of PNG chunks (ISO 3309), shared with the library's PNG writer.</summary>
    internal static uint Crc32(ReadOnlySpan<byte> data) => ConvEngine.Inspect.Png.Crc32(data);

    /// <summary>Encodes an 8-bit PNG with 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels and one filter type for every row; for tests.</summary>
    internal static byte[] Encode(int width, int height, byte[] samples, int channels, byte filter = 0)
    {
        int stride = width * channels;
        var raw = new byte[(stride + 1) * height];
        for (int y = 0; y < height; y++)
        {
            raw[y * (stride + 1)] = filter;
            for (int i = 0; i < stride; i++)
            {
                int x = samples[y * stride + i];
                int a = i >= channels ? samples[y * stride + i - channels] : 0;
                int up = y > 0 ? samples[(y - 1) * stride + i] : 0;
                int c = i >= channels && y > 0 ? samples[(y - 1) * stride + i - channels] : 0;
                int pred = filter switch { 0 => 0, 1 => a, 2 => up, 3 => (a + up) >> 1, 4 => Paeth(a, up, c), _ => throw new ArgumentOutOfRangeException(nameof(filter)) };
                raw[y * (stride + 1) + 1 + i] = (byte)(x - pred);
            }
        }
        using var zs = new MemoryStream();
        using (var z = new ZLibStream(zs, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);
        using var o = new MemoryStream();
        o.Write(Signature);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = 8;
        ihdr[9] = channels switch { 1 => 0, 2 => 4, 3 => 2, 4 => 6, _ => throw new ArgumentOutOfRangeException(nameof(channels)) };
        WriteChunk(o, "IHDR", ihdr);
        WriteChunk(o, "IDAT", zs.ToArray());
        WriteChunk(o, "IEND", []);
        return o.ToArray();
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> u = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(u, (uint)data.Length);
        s.Write(u);
        var td = new byte[4 + data.Length];
        System.Text.Encoding.ASCII.GetBytes(type, td);
        data.CopyTo(td, 4);
        s.Write(td);
        BinaryPrimitives.WriteUInt32BigEndian(u, Crc32(td));
        s.Write(u);
    }
}
