using System.Buffers.Binary;
using System.Text;
using ConvEngine.Cli.Imaging;
using NUnit.Framework;

namespace ConvEngine.Tests.Cli;

public class ImageReaderTests
{
    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    [Test]
    public void PgmP2WithCommentsIsRead()
    {
        var img = GrayImage.Decode(Ascii("P2\n# a comment\n3 2 # trailing comment\n10\n0 5 10\n10 5 0\n"));
        Assert.That((img.Width, img.Height), Is.EqualTo((3, 2)));
        Assert.That(img.Pixels, Is.EqualTo(new[] { 0f, 0.5f, 1f, 1f, 0.5f, 0f }));
    }

    [Test]
    public void PgmP5EightAndSixteenBitAreRead()
    {
        var p5 = Ascii("P5 2 2 255\n").Concat(new byte[] { 0, 51, 204, 255 }).ToArray();
        Assert.That(GrayImage.Decode(p5).Pixels, Is.EqualTo(new[] { 0f, 0.2f, 0.8f, 1f }));
        var p16 = Ascii("P5\n2 1\n1000\n").Concat(new byte[] { 0x01, 0xF4, 0x03, 0xE8 }).ToArray(); // 500, 1000 big-endian
        Assert.That(GrayImage.Decode(p16).Pixels, Is.EqualTo(new[] { 0.5f, 1f }));
    }

    [Test]
    public void PgmRoundTripsThroughTheP5Encoder()
    {
        var rng = new Random(3);
        var px = Enumerable.Range(0, 35).Select(_ => rng.Next(256) / 255f).ToArray();
        var back = GrayImage.Decode(Pgm.EncodeP5(new GrayImage(7, 5, px)));
        Assert.That((back.Width, back.Height), Is.EqualTo((7, 5)));
        Assert.That(back.Pixels, Is.EqualTo(px).Within(1e-6));
    }

    [TestCase("P5 4 4 255\n\x01\x02", "truncated")]
    [TestCase("P2 2 1 10\n3 11\n", "exceeds maxval")]
    [TestCase("P2 2 1 10\n3\n", "ends before")]
    [TestCase("P2 0 1 10\n", "size")]
    [TestCase("P2 2 x 10\n", "not a decimal")]
    [TestCase("P5 2 1 0\n\x00\x00", "maxval")]
    [TestCase("P2 99999999 99999999 255\n", "size")]
    [TestCase("P6 1 1 255\n\x00\x00\x00", "neither a PGM")]
    [TestCase("", "neither a PGM")]
    public void CorruptPgmIsRefusedWithAClearMessage(string content, string expected)
    {
        var bytes = content.Select(c => (byte)c).ToArray();
        var ex = Assert.Throws<InvalidDataException>(() => GrayImage.Decode(bytes, "x.pgm"));
        Assert.That(ex!.Message, Does.Contain(expected));
    }

    [Test]
    public void PngEveryFilterAndColourTypeDecodes([Values(0, 1, 2, 3, 4)] int filter, [Values(1, 2, 3, 4)] int channels)
    {
        var rng = new Random(filter * 10 + channels);
        int w = 7, h = 5;
        var samples = new byte[w * h * channels];
        rng.NextBytes(samples);
        var img = GrayImage.Decode(Png.Encode(w, h, samples, channels, (byte)filter), "t.png");
        Assert.That((img.Width, img.Height), Is.EqualTo((w, h)));
        for (int i = 0; i < w * h; i++)
        {
            int p = i * channels;
            float expected = channels >= 3 ? (0.299f * samples[p] + 0.587f * samples[p + 1] + 0.114f * samples[p + 2]) / 255f : samples[p] / 255f;
            Assert.That(img.Pixels[i], Is.EqualTo(expected).Within(1e-6), $"pixel {i}");
        }
    }

    private static byte[] ValidPng() => Png.Encode(4, 3, Enumerable.Range(0, 12).Select(i => (byte)(i * 20)).ToArray(), 1, 4);

    /// <summary>Rewrites the CRC of the chunk starting at <paramref name="chunkStart"/> so that only the intended corruption remains.</summary>
    private static void FixCrc(byte[] png, int chunkStart)
    {
        int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(chunkStart));
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(chunkStart + 8 + len), Png.Crc32(png.AsSpan(chunkStart + 4, 4 + len)));
    }

    [Test]
    public void CorruptPngIsRefusedWithAClearMessage()
    {
        void Refused(byte[] bytes, string expected)
        {
            var ex = Assert.Throws<InvalidDataException>(() => GrayImage.Decode(bytes, "x.png"));
            Assert.That(ex!.Message, Does.Contain(expected));
        }
        var good = ValidPng();
        Assert.That(GrayImage.Decode(good).Width, Is.EqualTo(4));

        var flipped = (byte[])good.Clone(); flipped[^20] ^= 0x40;                 // a byte inside IDAT
        Refused(flipped, "CRC");
        Refused(good[..(good.Length - 30)], "truncated");                          // cut inside IDAT
        var sig = (byte[])good.Clone(); sig[1] = (byte)'Q';
        Refused(sig, "neither a PGM");
        const int ihdr = 8;                                                        // IHDR data starts at 16
        var interlaced = (byte[])good.Clone(); interlaced[16 + 12] = 1; FixCrc(interlaced, ihdr);
        Refused(interlaced, "interlaced");
        var deep = (byte[])good.Clone(); deep[16 + 8] = 16; FixCrc(deep, ihdr);
        Refused(deep, "bit depth 16");
        var palette = (byte[])good.Clone(); palette[16 + 9] = 3; FixCrc(palette, ihdr);
        Refused(palette, "palette");
        var huge = (byte[])good.Clone(); BinaryPrimitives.WriteUInt32BigEndian(huge.AsSpan(16), 1u << 30); FixCrc(huge, ihdr);
        Refused(huge, "size");
        var noData = good[..33].Concat(good[^12..]).ToArray();                    // signature + IHDR + IEND
        Refused(noData, "no image data");
        var badZlib = (byte[])good.Clone(); badZlib[41] ^= 0xFF; badZlib[42] ^= 0xFF; FixCrc(badZlib, 33);
        Refused(badZlib, "PNG");
    }

    [Test]
    public void LoadReportsMissingFiles()
    {
        var ex = Assert.Throws<InvalidDataException>(() => GrayImage.Load(Path.Combine(Path.GetTempPath(), "no-such-image-" + Guid.NewGuid() + ".png")));
        Assert.That(ex!.Message, Does.Contain("does not exist"));
    }

    [Test]
    public void BilinearResizeKeepsConstantsAndAveragesOnHalving()
    {
        var constant = new GrayImage(5, 3, Enumerable.Repeat(0.25f, 15).ToArray()).Resize(28, 28);
        Assert.That(constant.Pixels, Is.All.EqualTo(0.25f).Within(1e-6));
        // Halving with centres aligned samples at source coordinate 2x + 0.5: the mean of pixels 2x and 2x + 1.
        var rng = new Random(1);
        var px = Enumerable.Range(0, 8 * 6).Select(_ => (float)rng.NextDouble()).ToArray();
        var half = new GrayImage(8, 6, px).Resize(4, 3);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
            {
                float e = (px[(2 * y) * 8 + 2 * x] + px[(2 * y) * 8 + 2 * x + 1] + px[(2 * y + 1) * 8 + 2 * x] + px[(2 * y + 1) * 8 + 2 * x + 1]) / 4;
                Assert.That(half.Pixels[y * 4 + x], Is.EqualTo(e).Within(1e-6));
            }
    }
}
