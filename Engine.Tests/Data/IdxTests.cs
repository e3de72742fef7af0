using System.Buffers.Binary;
using System.IO.Compression;
using ConvEngine.Data;
using NUnit.Framework;

namespace ConvEngine.Tests.Data;

/// <summary>Builds IDX files in memory and on disk for the tests.</summary>
internal static class IdxFiles
{
    public static byte[] Build(int magic, int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static byte[] Images(int count, int rows, int cols, int seed)
    {
        var data = new byte[count * rows * cols];
        new Random(seed).NextBytes(data);
        return Build(Idx.ImagesMagic, [count, rows, cols], data);
    }

    public static byte[] Labels(int count, int classes, int seed)
    {
        var rng = new Random(seed);
        var data = new byte[count];
        for (int i = 0; i < count; i++) data[i] = (byte)rng.Next(classes);
        return Build(Idx.LabelsMagic, [count], data);
    }

    public static byte[] Gzip(byte[] plain)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(plain);
        return ms.ToArray();
    }
}

public class IdxTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "idx-tests-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string WriteFile(string name, byte[] bytes)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    [Test]
    public void ReadsPlainAndGzipImagesIdentically([Values] bool gzip)
    {
        var plain = IdxFiles.Images(7, 5, 3, seed: 1);
        // The name says nothing about compression: detection is by content.
        var path = WriteFile("images.bin", gzip ? IdxFiles.Gzip(plain) : plain);
        var a = Idx.ReadImages(path);
        Assert.That(a.Dimensions, Is.EqualTo(new[] { 7, 5, 3 }));
        Assert.That(a.Data, Is.EqualTo(plain.AsSpan(16).ToArray()));
    }

    [Test]
    public void ReadsLabels()
    {
        var plain = IdxFiles.Labels(11, 10, seed: 2);
        var a = Idx.ReadLabels(WriteFile("labels", plain));
        Assert.That(a.Dimensions, Is.EqualTo(new[] { 11 }));
        Assert.That(a.Data, Is.EqualTo(plain.AsSpan(8).ToArray()));
    }

    private InvalidDataException Fails(byte[] bytes, Func<string, IdxArray> read, string expectedFragment, bool gzip = false)
    {
        var path = WriteFile("bad.idx", gzip ? IdxFiles.Gzip(bytes) : bytes);
        var ex = Assert.Throws<InvalidDataException>(() => read(path))!;
        Assert.That(ex.Message, Does.Contain(path), "message names the file");
        Assert.That(ex.Message, Does.Contain(expectedFragment));
        return ex;
    }

    [Test]
    public void RejectsTruncatedData([Values] bool gzip)
    {
        var good = IdxFiles.Images(4, 3, 3, 5);
        var ex = Fails(good[..^5], Idx.ReadImages, "truncated", gzip);
        Assert.That(ex.Message, Does.Contain("36"), "names the promised data size");
    }

    [Test]
    public void RejectsTrailingBytes([Values] bool gzip)
    {
        var good = IdxFiles.Images(4, 3, 3, 5);
        Fails([.. good, 0, 1], Idx.ReadImages, "trailing", gzip);
    }

    [Test]
    public void PlainFileLengthMismatchGivesExpectedAndActual()
    {
        var good = IdxFiles.Images(4, 3, 3, 5);
        var ex = Fails(good[..^1], Idx.ReadImages, "file length 51");
        Assert.That(ex.Message, Does.Contain("52"));
    }

    [Test]
    public void RejectsWrongMagicDtypeAndRank()
    {
        var good = IdxFiles.Images(2, 2, 2, 1);
        var badDtype = (byte[])good.Clone(); badDtype[2] = 0x0D;
        Fails(badDtype, Idx.ReadImages, "0x0D");
        var badLead = (byte[])good.Clone(); badLead[0] = 0x12;
        Fails(badLead, Idx.ReadImages, "magic");
        // A label file where images are expected, and vice versa.
        Fails(IdxFiles.Labels(3, 10, 1), Idx.ReadImages, "0x00000803");
        Fails(good, Idx.ReadLabels, "0x00000801");
        Fails([0, 0, 8], Idx.ReadImages, "too short");
        Fails([0, 0, 8, 3, 0, 0, 0, 2], Idx.ReadImages, "truncated header");
    }

    [Test]
    public void RejectsZeroAndNegativeDimensions([Values(0, -1, int.MinValue)] int bad)
    {
        var bytes = IdxFiles.Build(Idx.ImagesMagic, [2, bad, 2], new byte[0]);
        Fails(bytes, Idx.ReadImages, $"dimension 1 is {bad}");
    }

    [Test]
    public void LyingHugeHeaderIsRefusedWithoutAllocating([Values] bool gzip)
    {
        // 2^31−1 × 2^31−1 × 2^31−1 bytes promised, a handful present.
        var bytes = IdxFiles.Build(Idx.ImagesMagic, [int.MaxValue, int.MaxValue, int.MaxValue], new byte[10]);
        Fails(bytes, Idx.ReadImages, "more than 100000000 elements", gzip);
        // Plausible size (9·10^7) but the file holds only 10 bytes: refused before any large allocation.
        var plausible = IdxFiles.Build(Idx.ImagesMagic, [90000, 1000, 1], new byte[10]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Fails(plausible, Idx.ReadImages, gzip ? "truncated" : "file length", gzip);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.LessThan(8_000_000), "no allocation of the promised 90 MB");
    }

    [Test]
    public void CorruptGzipStreamIsInvalidData()
    {
        var gz = IdxFiles.Gzip(IdxFiles.Images(20, 8, 8, 3));
        for (int i = 12; i < gz.Length - 8; i += 7) gz[i] ^= 0x5A;
        var path = WriteFile("broken.gz", gz);
        var ex = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path))!;
        Assert.That(ex.Message, Does.Contain(path));
    }

    [Test]
    public void GzipChecksumAndLengthTrailerAreVerified([Values(8, 7, 4, 1)] int fromEnd)
    {
        // The last 8 bytes of a gzip member are CRC-32 (4) and ISIZE (4); corrupting either must be detected.
        var gz = IdxFiles.Gzip(IdxFiles.Images(6, 4, 4, 2));
        gz[^fromEnd] ^= 0x01;
        var path = WriteFile("crc.gz", gz);
        var ex = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path))!;
        Assert.That(ex.Message, Does.Contain(path));
    }

    [Test]
    public void PairWithDifferentCountsIsRefused()
    {
        var img = WriteFile("i", IdxFiles.Images(5, 2, 2, 1));
        var lab = WriteFile("l", IdxFiles.Labels(4, 10, 1));
        var ex = Assert.Throws<InvalidDataException>(() => IdxDatasetLoader.FromFiles(img, lab, Mnist.ClassNames, "x"))!;
        Assert.That(ex.Message, Does.Contain("5 images").And.Contain("4 labels"));
    }

    [Test]
    public void LabelAboveClassCountIsRefused()
    {
        var img = WriteFile("i", IdxFiles.Images(3, 2, 2, 1));
        var lab = WriteFile("l", IdxFiles.Build(Idx.LabelsMagic, [3], [1, 10, 2]));
        var ex = Assert.Throws<InvalidDataException>(() => IdxDatasetLoader.FromFiles(img, lab, Mnist.ClassNames, "x"))!;
        Assert.That(ex.Message, Does.Contain("label 10 at index 1"));
    }

    [Test]
    public void DirectoryLoaderFindsPlainAndGzipNamesAndScalesToUnitRange([Values] bool gzip, [Values] bool train)
    {
        string p = train ? "train" : "t10k", ext = gzip ? ".gz" : "";
        var images = IdxFiles.Images(6, 4, 5, 9);
        var labels = IdxFiles.Labels(6, 10, 9);
        WriteFile($"{p}-images-idx3-ubyte{ext}", gzip ? IdxFiles.Gzip(images) : images);
        WriteFile($"{p}-labels-idx1-ubyte{ext}", gzip ? IdxFiles.Gzip(labels) : labels);
        var ds = FashionMnist.Load(_dir, train);
        Assert.That((ds.Count, ds.Channels, ds.Height, ds.Width, ds.NumClasses), Is.EqualTo((6, 1, 4, 5, 10)));
        Assert.That(ds.Images.ToArray(), Is.EqualTo(images.Skip(16).Select(b => b / 255f).ToArray()));
        Assert.That(ds.Labels.ToArray(), Is.EqualTo(labels.Skip(8).Select(b => (int)b).ToArray()));
        Assert.That(ds.ClassNames[0], Is.EqualTo("T-shirt/top"));
        Assert.That(ds.ClassNames[9], Is.EqualTo("Ankle boot"));
    }

    [Test]
    public void DirectoryLoaderReportsMissingFiles()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => Mnist.Load(_dir, train: true))!;
        Assert.That(ex.Message, Does.Contain("train-images-idx3-ubyte.gz"));
    }

    /// <summary>Reference decoding of a plain IDX image file: what a correct reader must return, or null if invalid.</summary>
    private static (int[] Dims, byte[] Data)? Reference(byte[] b)
    {
        if (b.Length < 16 || b[0] != 0 || b[1] != 0 || b[2] != 8 || b[3] != 3) return null;
        var dims = new int[3];
        long total = 1;
        for (int i = 0; i < 3; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4 + 4 * i));
            if (dims[i] <= 0) return null;
            total *= dims[i];
        }
        if (total > Idx.MaxElements || b.Length != 16 + total) return null;
        return (dims, b[16..]);
    }

    [Test]
    public void FuzzedFilesEitherLoadCorrectlyOrThrowInvalidData([Values] bool gzip)
    {
        var original = IdxFiles.Images(3, 4, 5, seed: 11);
        var source = gzip ? IdxFiles.Gzip(original) : original;
        var rng = new Random(gzip ? 1234 : 4321);
        int failures = 0, successes = 0;
        for (int iter = 0; iter < 400; iter++)
        {
            var m = Mutate(source, rng);
            IdxArray? result = null;
            try
            {
                using var ms = new MemoryStream(m);
                result = Idx.Read(ms, "fuzz", 3);
            }
            catch (InvalidDataException) { failures++; continue; }
            catch (Exception e) { Assert.Fail($"iteration {iter}: unexpected {e.GetType().Name}: {e.Message}"); }
            successes++;
            if (gzip)
            {
                // gzip has a CRC-32 and length trailer: a successful read must give the original content.
                Assert.That(result!.Dimensions, Is.EqualTo(new[] { 3, 4, 5 }), $"iteration {iter}");
                Assert.That(result.Data, Is.EqualTo(original[16..]), $"iteration {iter}");
            }
            else
            {
                var expected = Reference(m);
                Assert.That(expected, Is.Not.Null, $"iteration {iter}: accepted a file the reference rejects");
                Assert.That(result!.Dimensions, Is.EqualTo(expected!.Value.Dims), $"iteration {iter}");
                Assert.That(result.Data, Is.EqualTo(expected.Value.Data), $"iteration {iter}");
            }
        }
        Assert.That(failures, Is.GreaterThan(50), "most corruptions are detected");
        Assert.That(successes, Is.GreaterThan(0), "some mutations (data bytes) are harmless");
    }

    /// <summary>A random corruption: bit flips, truncation, extension, or an overwritten header int.</summary>
    internal static byte[] Mutate(byte[] source, Random rng)
    {
        var m = (byte[])source.Clone();
        switch (rng.Next(5))
        {
            case 0:
                for (int k = rng.Next(1, 4); k > 0; k--) { int i = rng.Next(m.Length); m[i] ^= (byte)(1 << rng.Next(8)); }
                return m;
            case 1:
                return m[..rng.Next(m.Length)];
            case 2:
                var extra = new byte[rng.Next(1, 20)];
                rng.NextBytes(extra);
                return [.. m, .. extra];
            case 3:
                int at = rng.Next(Math.Min(4, m.Length / 4)) * 4;
                BinaryPrimitives.WriteInt32BigEndian(m.AsSpan(at), rng.Next(5) switch { 0 => 0, 1 => -1, 2 => int.MaxValue, 3 => rng.Next(100), _ => rng.Next() });
                return m;
            default:
                { int i = rng.Next(Math.Min(16, m.Length)); m[i] = (byte)rng.Next(256); return m; }
        }
    }
}

public class FashionMnistTests
{
    [Test]
    public void LoadsTheInstalledFashionMnistTestSplit()
    {
        string dir = FashionMnist.DefaultDirectory;
        if (!Directory.Exists(dir) || !File.Exists(Path.Combine(dir, "t10k-images-idx3-ubyte.gz")))
            Assert.Ignore($"Fashion-MNIST is not installed at {dir} (install the fashion-mnist dataset package; CI does).");
        var test = FashionMnist.Load(dir, train: false);
        Assert.That((test.Count, test.Channels, test.Height, test.Width, test.NumClasses), Is.EqualTo((10000, 1, 28, 28, 10)));
        Assert.That(test.ClassCounts(), Is.All.EqualTo(1000), "the test split is balanced");
        var stats = TensorStats.Of(test.Images);
        Assert.That(stats.Min, Is.EqualTo(0f));
        Assert.That(stats.Max, Is.EqualTo(1f));
        Assert.That(stats.Mean, Is.InRange(0.27, 0.31), "Fashion-MNIST's mean pixel is about 0.286");
    }

    [Test]
    public void LoadsTheInstalledFashionMnistTrainSplit()
    {
        string dir = FashionMnist.DefaultDirectory;
        if (!Directory.Exists(dir) || !File.Exists(Path.Combine(dir, "train-images-idx3-ubyte.gz")))
            Assert.Ignore($"Fashion-MNIST is not installed at {dir} (install the fashion-mnist dataset package; CI does).");
        var train = FashionMnist.Load(dir, train: true);
        Assert.That(train.Count, Is.EqualTo(60000));
        Assert.That(train.ClassCounts(), Is.All.EqualTo(6000));
    }
}
