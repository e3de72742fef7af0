using System.Buffers.Binary;
using System.Text;
using ConvEngine.Serialization;
using NUnit.Framework;

namespace ConvEngine.Tests.Serialization;

public class SafeTensorsTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "st-tests-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static string FixturePath => Path.Combine(TestContext.CurrentContext.TestDirectory, "Fixtures", "safetensors", "sample.safetensors");

    [Test]
    public void ReadsTheFixtureWrittenByThePythonTool()
    {
        // Written by: /usr/bin/python3 tools/safetensors_io.py make-fixture Engine.Tests/Fixtures/safetensors/sample.safetensors
        var (t, meta) = SafeTensors.LoadWithMetadata(FixturePath);
        Assert.That(t.Keys, Is.EqualTo(new[] { "conv.weight", "conv.bias", "scalar", "double", "half", "bf16", "steps", "empty" }), "header order");
        Assert.That(t["conv.weight"].Shape, Is.EqualTo(new[] { 2, 3, 4 }));
        Assert.That(t["conv.weight"].ToArray(), Is.EqualTo(Enumerable.Range(0, 24).Select(i => 0.25f * i - 1.5f).ToArray()));
        Assert.That(t["conv.weight"].Name, Is.EqualTo("conv.weight"));
        Assert.That(t["conv.bias"].ToArray(), Is.EqualTo(new[] { 1f, -2f, 3.5f }));
        Assert.That(t["scalar"].Shape, Is.Empty);
        Assert.That(t["scalar"].ToArray(), Is.EqualTo(new[] { 42.5f }));
        Assert.That(t["double"].ToArray(), Is.EqualTo(Enumerable.Range(0, 6).Select(i => i / 8f).ToArray()));
        Assert.That(t["half"].ToArray(), Is.EqualTo(new[] { 0.5f, -1.25f, 2048f, 0.0009765625f }));
        Assert.That(t["bf16"].ToArray(), Is.EqualTo(new[] { 1f, -3f, 0.15625f, 256f }));
        Assert.That(t["steps"].Shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(t["steps"].ToArray(), Is.EqualTo(new[] { -2f, 7f, 1000000f, 0f }));
        Assert.That(t["empty"].Shape, Is.EqualTo(new[] { 0, 3 }));
        Assert.That(meta["epoch"], Is.EqualTo("7"));
        Assert.That(meta["generator"], Is.EqualTo("tools/safetensors_io.py"));
        var header = SafeTensors.ReadHeader(FixturePath);
        Assert.That(header.Tensors.Select(i => i.DType), Is.EqualTo(new[] { "F32", "F32", "F32", "F64", "F16", "BF16", "I64", "F32" }));
        Assert.That(header.DataStart % 8, Is.Zero, "header padded to 8 bytes");
    }

    [Test]
    public void RoundTripPreservesNamesOrderShapesValuesAndMetadata([Values] bool reference)
    {
        var rng = new Random(3);
        IDevice device = reference ? ReferenceDevice.Instance : CpuDevice.Default;
        var tensors = new Dictionary<string, Tensor>
        {
            ["z.last.first"] = TestUtil.RandomTensor(rng, device, 3, 1, 5, 5),
            ["a"] = TestUtil.RandomTensor(rng, device, 7),
            ["scalar"] = Tensor.FromArray(device, [float.NaN], []),
            ["special"] = Tensor.FromArray(device, [float.PositiveInfinity, -0f, float.Epsilon, float.MaxValue], 2, 2),
            ["empty"] = Tensor.Zeros(device, 0, 4),
            ["ünïcödé/名前"] = TestUtil.RandomTensor(rng, device, 2, 3),
        };
        var meta = new Dictionary<string, string> { ["epoch"] = "12", ["note"] = "quotes \" and \\ and \n newline" };
        var path = Path.Combine(_dir, "rt.safetensors");
        SafeTensors.Save(path, tensors, meta);
        var (back, backMeta) = SafeTensors.LoadWithMetadata(path, device);
        Assert.That(back.Keys, Is.EqualTo(tensors.Keys));
        foreach (var (name, t) in tensors)
        {
            Assert.That(back[name].Shape, Is.EqualTo(t.Shape), name);
            Assert.That(back[name].Device, Is.SameAs(device));
            var expectedBits = t.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
            Assert.That(back[name].ToArray().Select(BitConverter.SingleToInt32Bits).ToArray(), Is.EqualTo(expectedBits), name);
        }
        Assert.That(backMeta, Is.EquivalentTo(meta));
        Assert.That(Directory.GetFiles(_dir), Is.EqualTo(new[] { path }), "no temporary file left behind");
    }

    [Test]
    public void FileLayoutFollowsTheSpec()
    {
        var path = Path.Combine(_dir, "layout.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray([1f, 2f], 2), ["b"] = Tensor.FromArray([3f], 1) });
        var bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var json = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.That(json.TrimEnd(), Is.EqualTo("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}"));
        Assert.That(bytes.Length, Is.EqualTo(8 + n + 12));
        Assert.That(BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + n + 8))), Is.EqualTo(3f));
    }

    // ------------------------------------------------------------------ malformed files

    private static byte[] Build(string json, int dataBytes, int? declaredLength = null)
    {
        var h = Encoding.UTF8.GetBytes(json);
        var b = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)(declaredLength ?? h.Length));
        h.CopyTo(b, 8);
        return b;
    }

    private void Refused(byte[] bytes, params string[] fragments)
    {
        var path = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path))!;
        Assert.That(ex.Message, Does.Contain(path), "names the file");
        foreach (var f in fragments) Assert.That(ex.Message, Does.Contain(f));
        Assert.Throws<InvalidDataException>(() => SafeTensors.ReadHeader(path));
    }

    private const string Ok = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    [Test]
    public void ValidMinimalFileLoads()
    {
        var path = Path.Combine(_dir, "ok.safetensors");
        File.WriteAllBytes(path, Build(Ok, 8));
        Assert.That(SafeTensors.Load(path)["t"].ToArray(), Is.EqualTo(new[] { 0f, 0f }));
    }

    [Test]
    public void RefusesHeaderLengthBeyondTheFile()
    {
        Refused(Build(Ok, 8, declaredLength: 1000), "header length 1000", "exceeds");
        var huge = Build(Ok, 8);
        BinaryPrimitives.WriteUInt64LittleEndian(huge, ulong.MaxValue);
        Refused(huge, "exceeds");
        Refused([1, 2, 3], "too short");
    }

    [Test]
    public void RefusesInvalidJsonAndNonObjects()
    {
        Refused(Build("{\"t\":{\"dtype\":\"F32\",", 0), "not valid JSON");
        Refused(Build("[1, 2, 3]", 0), "must be a JSON object");
        Refused(Build("{\"t\": 5}", 0), "tensor 't'", "must be an object");
        Refused(Build("{\"__metadata__\":{\"a\":1}}", 0), "metadata 'a'");
        var bad = Build(Ok, 8); bad[10] = 0xFF; // invalid UTF-8 inside the header
        Refused(bad);
    }

    [Test]
    public void RefusesUnknownDtypeNamingTheTensor()
    {
        Refused(Build("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2), "tensor 'w'", "unsupported dtype 'F8_E4M3'");
        Refused(Build("{\"w\":{\"dtype\":3,\"shape\":[2],\"data_offsets\":[0,2]}}", 2), "tensor 'w'", "'dtype' must be a string");
    }

    [Test]
    public void RefusesShapeThatDisagreesWithOffsets()
    {
        Refused(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "tensor 'w'", "needs 12 bytes", "span 8");
        Refused(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8), "tensor 'w'", "'shape' entry 0");
        Refused(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8), "tensor 'w'");
        Refused(Build("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "tensor 'w'", "missing 'shape'");
        Refused(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8), "tensor 'w'", "2 entries");
        Refused(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8), "tensor 'w'", "end before");
    }

    [Test]
    public void RefusesHugeClaimsWithoutAllocating()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Refused(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[100000,100000,100000],\"data_offsets\":[0,4000000000000000]}}", 8), "tensor 'w'", "more than");
        Refused(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[500000000],\"data_offsets\":[0,2000000000]}}", 8), "tensor 'w'", "run past the end");
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(10_000_000), "nothing big allocated");
    }

    [Test]
    public void RefusesOverlapsGapsAndUncoveredBytes()
    {
        const string two = "{{\"a\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[{0},{1}]}},\"b\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[{2},{3}]}}}}";
        Refused(Build(string.Format(two, 0, 8, 4, 8), 8), "tensor 'b'", "overlap");
        Refused(Build(string.Format(two, 0, 8, 12, 16), 16), "tensor 'b'", "gap");
        Refused(Build(string.Format(two, 0, 8, 8, 12), 16), "cover 12 bytes", "data section has 16");
        Refused(Build(string.Format(two, 0, 8, 8, 12), 10), "tensor 'b'", "past the end");
        // Reversed data order is fine (the reader sorts by offset).
        var path = Path.Combine(_dir, "rev.safetensors");
        File.WriteAllBytes(path, Build(string.Format(two, 4, 12, 0, 4), 12));
        Assert.That(SafeTensors.Load(path).Keys, Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public void RefusesDuplicateNames()
    {
        Refused(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "duplicate entry 'a'");
    }

    // ------------------------------------------------------------------ atomic save

    /// <summary>A host device whose device-to-host copies fail, simulating a device error in the middle of a save.</summary>
    private sealed class FailingDevice : HostDevice
    {
        public override string Name => "failing";
        public override void CopyToHost(DeviceBuffer source, int offset, Span<float> destination) => throw new IOException("simulated device failure");
    }

    [Test]
    public void FailedSaveLeavesThePreviousFileIntactAndNoTemporaryFile()
    {
        var path = Path.Combine(_dir, "model.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray([1f, 2f, 3f], 3) });
        var before = File.ReadAllBytes(path);
        var big = TestUtil.RandomTensor(new Random(1), 1000);
        var failing = new Tensor(new FailingDevice(), 4);
        // The header and the first tensor are written before the second tensor fails.
        var ex = Assert.Throws<IOException>(() => SafeTensors.Save(path, new Dictionary<string, Tensor> { ["big"] = big, ["bad"] = failing }));
        Assert.That(ex!.Message, Does.Contain("simulated"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before), "previous file untouched");
        Assert.That(Directory.GetFiles(_dir), Is.EqualTo(new[] { path }), "temporary file removed");
        Assert.That(SafeTensors.Load(path)["w"].ToArray(), Is.EqualTo(new[] { 1f, 2f, 3f }));
    }

    [Test]
    public void SaveIntoAMissingDirectoryFailsWithoutSideEffects()
    {
        var path = Path.Combine(_dir, "no", "such", "dir", "x.safetensors");
        Assert.Throws<DirectoryNotFoundException>(() => SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(1) }));
        Assert.That(Directory.GetFileSystemEntries(_dir), Is.Empty);
    }

    // ------------------------------------------------------------------ fuzzing

    [Test]
    public void FuzzedFilesEitherLoadConsistentlyOrThrowInvalidData()
    {
        var rng = new Random(77);
        var tensors = new Dictionary<string, Tensor>
        {
            ["layer.weight"] = TestUtil.RandomTensor(rng, 3, 4),
            ["layer.bias"] = TestUtil.RandomTensor(rng, 4),
            ["s"] = Tensor.FromArray([5f], []),
        };
        using var ms = new MemoryStream();
        SafeTensors.Write(ms, tensors, new Dictionary<string, string> { ["k"] = "v" });
        var original = ms.ToArray();
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(original);
        int failures = 0, successes = 0;
        for (int iter = 0; iter < 500; iter++)
        {
            var m = Mutate(original, headerEnd, rng);
            IReadOnlyDictionary<string, Tensor> result;
            try
            {
                using var s = new MemoryStream(m);
                result = SafeTensors.Load(s, "fuzz", CpuDevice.Default).Tensors;
            }
            catch (InvalidDataException) { failures++; continue; }
            catch (Exception e) { Assert.Fail($"iteration {iter}: unexpected {e.GetType().Name}: {e.Message}"); return; }
            successes++;
            // Whatever was accepted must be self-consistent: each tensor equals the float32/other decode of its byte range.
            using var again = new MemoryStream(m);
            var header = SafeTensors.ReadHeader(again, "fuzz");
            Assert.That(result.Keys, Is.EqualTo(header.Tensors.Select(t => t.Name)), $"iteration {iter}");
            foreach (var info in header.Tensors)
            {
                Assert.That(result[info.Name].Shape, Is.EqualTo(info.Shape), $"iteration {iter}");
                if (info.DType == "F32")
                {
                    var expected = new float[(info.End - info.Begin) / 4];
                    for (int i = 0; i < expected.Length; i++)
                        expected[i] = BinaryPrimitives.ReadSingleLittleEndian(m.AsSpan((int)(header.DataStart + info.Begin) + 4 * i));
                    Assert.That(result[info.Name].ToArray().Select(BitConverter.SingleToInt32Bits), Is.EqualTo(expected.Select(BitConverter.SingleToInt32Bits)), $"iteration {iter}");
                }
            }
            if (m.Length == original.Length && m.AsSpan(0, headerEnd).SequenceEqual(original.AsSpan(0, headerEnd)))
                Assert.That(result.Keys, Is.EqualTo(tensors.Keys), $"iteration {iter}: a data-only change keeps the structure");
        }
        Assert.That(failures, Is.GreaterThan(100));
        Assert.That(successes, Is.GreaterThan(10));
    }

    private static byte[] Mutate(byte[] source, int headerEnd, Random rng)
    {
        var m = (byte[])source.Clone();
        switch (rng.Next(6))
        {
            case 0: // bit flips anywhere
                for (int k = rng.Next(1, 4); k > 0; k--) { int i = rng.Next(m.Length); m[i] ^= (byte)(1 << rng.Next(8)); }
                return m;
            case 1: // a bit flip in the header
                { int i = rng.Next(8, headerEnd); m[i] ^= (byte)(1 << rng.Next(8)); return m; }
            case 2: // a digit in the header replaced by another digit
                {
                    var digits = Enumerable.Range(8, headerEnd - 8).Where(i => m[i] >= '0' && m[i] <= '9').ToArray();
                    m[digits[rng.Next(digits.Length)]] = (byte)('0' + rng.Next(10));
                    return m;
                }
            case 3:
                return m[..rng.Next(m.Length)];
            case 4:
                var extra = new byte[rng.Next(1, 16)];
                rng.NextBytes(extra);
                return [.. m, .. extra];
            default: // the length prefix
                BinaryPrimitives.WriteUInt64LittleEndian(m, rng.Next(3) switch { 0 => (ulong)rng.NextInt64(), 1 => (ulong)rng.Next(headerEnd + 40), _ => ulong.MaxValue - (ulong)rng.Next(10) });
                return m;
        }
    }
}
