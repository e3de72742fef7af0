using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ConvEngine.Inspect;
using NUnit.Framework;

namespace ConvEngine.Tests.InspectTests;

/// <summary>A tiny independent PNG decoder: checks the signature, every chunk's CRC, IHDR, and undoes all five filters.</summary>
internal static class TinyPng
{
    public sealed record Image(int Width, int Height, int Channels, byte[] Pixels, List<string> Chunks, List<int> Filters);

    private static uint Crc(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    public static Image Decode(byte[] png)
    {
        Assert.That(png.Take(8).ToArray(), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "signature");
        int pos = 8, width = 0, height = 0, channels = 0;
        var chunks = new List<string>();
        var idat = new MemoryStream();
        while (pos < png.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            string type = Encoding.ASCII.GetString(png, pos + 4, 4);
            var typeAndData = png.AsSpan(pos + 4, 4 + len).ToArray();
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + len));
            Assert.That(crc, Is.EqualTo(Crc(typeAndData)), $"CRC of {type}");
            var data = typeAndData.AsSpan(4);
            chunks.Add(type);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                Assert.That(data[8], Is.EqualTo(8), "bit depth");
                channels = data[9] switch { 0 => 1, 2 => 3, _ => throw new AssertionException($"colour type {data[9]}") };
                Assert.That(data[10] + data[11] + data[12], Is.EqualTo(0), "compression, filter, interlace");
            }
            else if (type == "IDAT") idat.Write(data);
            pos += 12 + len;
        }
        Assert.That(chunks[0], Is.EqualTo("IHDR"));
        Assert.That(chunks[^1], Is.EqualTo("IEND"));
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        var r = raw.ToArray();
        int stride = width * channels;
        Assert.That(r.Length, Is.EqualTo(height * (stride + 1)), "inflated length");
        var px = new byte[height * stride];
        var filters = new List<int>();
        for (int y = 0; y < height; y++)
        {
            int f = r[y * (stride + 1)];
            filters.Add(f);
            for (int i = 0; i < stride; i++)
            {
                int a = i >= channels ? px[y * stride + i - channels] : 0;
                int b = y > 0 ? px[(y - 1) * stride + i] : 0;
                int c = i >= channels && y > 0 ? px[(y - 1) * stride + i - channels] : 0;
                int p = a + b - c;
                int pred = f switch
                {
                    0 => 0, 1 => a, 2 => b, 3 => (a + b) / 2,
                    4 => Math.Abs(p - a) <= Math.Abs(p - b) && Math.Abs(p - a) <= Math.Abs(p - c) ? a : Math.Abs(p - b) <= Math.Abs(p - c) ? b : c,
                    _ => throw new AssertionException($"filter {f}"),
                };
                px[y * stride + i] = (byte)(r[y * (stride + 1) + 1 + i] + pred);
            }
        }
        return new Image(width, height, channels, px, chunks, filters);
    }
}

public class PngTests
{
    [TestCase(1, 1, 1)]
    [TestCase(7, 5, 1)]
    [TestCase(13, 9, 3)]
    [TestCase(64, 33, 3)]
    public void RandomImagesRoundTrip(int w, int h, int channels)
    {
        var rng = new Random(w * 100 + h);
        var px = new byte[w * h * channels];
        rng.NextBytes(px);
        var img = TinyPng.Decode(Png.Encode(w, h, channels, px));
        Assert.That((img.Width, img.Height, img.Channels), Is.EqualTo((w, h, channels)));
        Assert.That(img.Pixels, Is.EqualTo(px));
    }

    [Test]
    public void SmoothImagesUseThePredictingFiltersAndStillRoundTrip()
    {
        int w = 40, h = 30;
        var px = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                px[(y * w + x) * 3] = (byte)(x * 6);
                px[(y * w + x) * 3 + 1] = (byte)(y * 8);
                px[(y * w + x) * 3 + 2] = (byte)((x + y) * 3);
            }
        var bytes = Png.Encode(w, h, 3, px);
        var img = TinyPng.Decode(bytes);
        Assert.That(img.Pixels, Is.EqualTo(px));
        Assert.That(img.Filters.Distinct().Count(), Is.GreaterThan(1), "not only filter 0");
        Assert.That(bytes.Length, Is.LessThan(px.Length / 4), "gradients compress well once filtered");
    }

    [Test]
    public void Crc32MatchesTheKnownCheckValue()
    {
        // The CRC-32 check value of "123456789" is 0xCBF43926.
        Assert.That(Png.Crc32(Encoding.ASCII.GetBytes("123456789")), Is.EqualTo(0xCBF43926u));
    }

    [Test]
    public void WritesAtomicallyAndRejectsBadSizes()
    {
        var dir = Path.Combine(Path.GetTempPath(), "convengine-png-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = Path.Combine(dir, "sub", "a.png");
            Png.WriteGray(path, 3, 2, [0, 50, 100, 150, 200, 250]);
            Png.WriteGray(path, 2, 1, [9, 8]);
            var img = TinyPng.Decode(File.ReadAllBytes(path));
            Assert.That(img.Pixels, Is.EqualTo(new byte[] { 9, 8 }));
            Assert.That(Directory.GetFiles(Path.Combine(dir, "sub")), Has.Length.EqualTo(1), "no temporary files left");
            Png.WriteRgb(Path.Combine(dir, "c.png"), 1, 1, [1, 2, 3]);
            Assert.That(TinyPng.Decode(File.ReadAllBytes(Path.Combine(dir, "c.png"))).Pixels, Is.EqualTo(new byte[] { 1, 2, 3 }));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
        var ex = Assert.Throws<ArgumentException>(() => Png.Encode(2, 2, 1, new byte[3]));
        Assert.That(ex!.ParamName, Is.EqualTo("pixels"));
        Assert.That(ex.Message, Does.Contain("4").And.Contain("3"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Png.Encode(2, 2, 2, new byte[8]));
    }
}
