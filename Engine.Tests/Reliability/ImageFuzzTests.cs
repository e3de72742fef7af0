using System.Text;
using ConvEngine.Cli.Imaging;
using NUnit.Framework;

namespace ConvEngine.Tests.Reliability;

/// <summary>
/// The CLI's PNG and PGM readers (convengine predict) fed thousands of mutated files: each is refused with
/// <see cref="InvalidDataException"/> or decoded consistently. PNG protects every chunk with a CRC-32 (and the image data
/// with zlib's Adler-32), so an accepted mutation must decode to exactly the original pixels; PGM has no checksum, so an
/// accepted mutation must be a well-formed image (sizes in range, one value in [0, 1] per pixel).
/// </summary>
[Category("Fuzz")]
public class ImageFuzzTests
{
    public const int PngInputs = 10_000, PgmInputs = 10_000;

    private static byte[] Samples(Random rng, int n) { var s = new byte[n]; rng.NextBytes(s); return s; }

    [Test]
    public void PngReaderRefusesOrDecodesTheOriginalPixels()
    {
        var rng = new Random(31337);
        var sources = new List<(byte[] File, GrayImage Image)>();
        for (int channels = 1; channels <= 4; channels++)
            for (byte filter = 0; filter <= 4; filter++)
            {
                var file = Png.Encode(7, 5, Samples(rng, 7 * 5 * channels), channels, filter);
                sources.Add((file, Png.Decode(file, "original")));
            }
        int refused = 0, accepted = 0;
        var task = Task.Run(() =>
        {
            for (int iter = 0; iter < PngInputs; iter++)
            {
                var (file, original) = sources[iter % sources.Count];
                var m = ParserFuzzTests.Mutate(file, 33, rng, (_, _) => null);   // 8-byte signature + the 25-byte IHDR chunk
                GrayImage image;
                try { image = Png.Decode(m, "fuzz.png"); }
                catch (InvalidDataException) { refused++; continue; }
                accepted++;
                Assert.That((image.Width, image.Height), Is.EqualTo((original.Width, original.Height)), $"iteration {iter}");
                Assert.That(image.Pixels, Is.EqualTo(original.Pixels), $"iteration {iter}: an accepted PNG must decode to the original pixels");
            }
        });
        Assert.That(task.Wait(TimeSpan.FromMinutes(2)), Is.True, "the PNG reader hangs");
        task.GetAwaiter().GetResult();
        TestContext.Out.WriteLine($"PNG: {refused} refused, {accepted} decoded to the original pixels");
        Assert.That(refused, Is.GreaterThan(PngInputs / 2));
    }

    [Test]
    public void PgmReaderRefusesOrDecodesAWellFormedImage()
    {
        var rng = new Random(4242);
        var p5 = Encoding.ASCII.GetBytes("P5\n# a comment\n6 4\n255\n").Concat(Samples(rng, 24)).ToArray();
        var p5wide = Encoding.ASCII.GetBytes("P5 3 2 65535\n").Concat(Samples(rng, 12)).ToArray();
        var p2 = Encoding.ASCII.GetBytes("P2\n4 3\n15\n" + string.Join(" ", Enumerable.Range(0, 12).Select(i => (i * 7 % 16).ToString(System.Globalization.CultureInfo.InvariantCulture))) + "\n");
        byte[][] sources = [p5, p5wide, p2];
        int refused = 0, accepted = 0;
        var task = Task.Run(() =>
        {
            for (int iter = 0; iter < PgmInputs; iter++)
            {
                var src = sources[iter % sources.Length];
                var m = ParserFuzzTests.Mutate(src, 12, rng, (_, _) => null);
                GrayImage image;
                try { image = Pgm.Decode(m, "fuzz.pgm"); }
                catch (InvalidDataException) { refused++; continue; }
                accepted++;
                Assert.That(image.Width, Is.InRange(1, GrayImage.MaxSide), $"iteration {iter}");
                Assert.That(image.Height, Is.InRange(1, GrayImage.MaxSide), $"iteration {iter}");
                Assert.That(image.Pixels, Has.Length.EqualTo(image.Width * image.Height), $"iteration {iter}");
                Assert.That(image.Pixels.All(p => p >= 0 && p <= 1), Is.True, $"iteration {iter}: values in [0, 1]");
            }
        });
        Assert.That(task.Wait(TimeSpan.FromMinutes(2)), Is.True, "the PGM reader hangs");
        task.GetAwaiter().GetResult();
        TestContext.Out.WriteLine($"PGM: {refused} refused, {accepted} decoded to well-formed images");
        Assert.That(refused, Is.GreaterThan(PgmInputs / 10));
        Assert.That(accepted, Is.GreaterThan(0));
    }

    [Test]
    public void LyingImageHeadersAreRefusedWithoutAllocatingForThem()
    {
        // A 24-byte PGM and a tiny PNG that both claim 16384x16384: refused before the ~1 GB buffer is allocated.
        var pgm = Encoding.ASCII.GetBytes("P5 16384 16384 255\n\0\0\0\0");
        var pgmPlain = Encoding.ASCII.GetBytes("P2 16384 16384 255\n1 2 3");
        var png = Png.Encode(1, 1, [7, 7, 7, 255], 4);
        // Patch IHDR (chunk data starts at byte 16: width, height) and recompute its CRC over type + data.
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), 16384);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), 16384);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), Png.Crc32(png.AsSpan(12, 17)));
        foreach (var (bytes, decode) in new (byte[], Func<byte[], object>)[]
                 { (pgm, b => Pgm.Decode(b, "lying.pgm")), (pgmPlain, b => Pgm.Decode(b, "lying.pgm")), (png, b => Png.Decode(b, "lying.png")) })
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var ex = Assert.Throws<InvalidDataException>(() => decode(bytes));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(ex!.Message, Does.Contain("16384"));
            Assert.That(allocated, Is.LessThan(4L << 20), ex.Message);
        }
    }
}
