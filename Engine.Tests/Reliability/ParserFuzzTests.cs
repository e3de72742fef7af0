using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using ConvEngine.Data;
using ConvEngine.Serialization;
using ConvEngine.Tests.Data;
using NUnit.Framework;

namespace ConvEngine.Tests.Reliability;

/// <summary>
/// Thousands of corrupted, truncated, extended, spliced and lying inputs for the IDX and safetensors readers. Every input
/// must either be refused with <see cref="InvalidDataException"/> or be read exactly (what a reference decoder says the
/// bytes contain, never a half-read result); any other exception fails, and so does a hang (each fuzz loop runs under a
/// watchdog). Lying headers (sizes of gigabytes in a file of bytes) must be refused without allocating what they promise.
/// The counts here are the ones quoted in docs/reliability.md.
/// </summary>
[Category("Fuzz")]
public class ParserFuzzTests
{
    public const int IdxPlainInputs = 20_000, IdxLabelInputs = 5_000, IdxGzipInputs = 10_000, SafeTensorsInputs = 30_000, GarbageInputs = 5_000;

    private static readonly TimeSpan Watchdog = TimeSpan.FromMinutes(2);

    /// <summary>Runs <paramref name="body"/> on a worker and fails if it has not finished within the watchdog time.</summary>
    private static void WithWatchdog(string what, Action body)
    {
        var sw = Stopwatch.StartNew();
        var task = Task.Run(body);
        if (!task.Wait(Watchdog)) Assert.Fail($"{what}: no result after {Watchdog} (a parser hangs)");
        task.GetAwaiter().GetResult();
        TestContext.Out.WriteLine($"{what}: {sw.Elapsed.TotalSeconds:F2} s");
    }

    // ------------------------------------------------------------------------------------------------ mutations

    /// <summary>A random corruption of <paramref name="source"/>; <paramref name="headerEnd"/> bounds the region that lies are written into.</summary>
    internal static byte[] Mutate(byte[] source, int headerEnd, Random rng, Func<Random, byte[], byte[]?> lie)
    {
        if (source.Length == 0) return source;
        var m = (byte[])source.Clone();
        switch (rng.Next(10))
        {
            case 0: // bit flips anywhere
                for (int k = rng.Next(1, 6); k > 0; k--) { int i = rng.Next(m.Length); m[i] ^= (byte)(1 << rng.Next(8)); }
                return m;
            case 1: // bit flips in the header
                for (int k = rng.Next(1, 3); k > 0; k--) { int i = rng.Next(Math.Min(headerEnd, m.Length)); m[i] ^= (byte)(1 << rng.Next(8)); }
                return m;
            case 2: // truncation
                return m[..rng.Next(m.Length)];
            case 3: // trailing garbage
            {
                var extra = new byte[rng.Next(1, 64)];
                rng.NextBytes(extra);
                return [.. m, .. extra];
            }
            case 4: // a run of bytes zeroed or set to 0xFF
            {
                int at = rng.Next(m.Length), len = Math.Min(rng.Next(1, 16), m.Length - at);
                m.AsSpan(at, len).Fill(rng.Next(2) == 0 ? (byte)0 : (byte)0xFF);
                return m;
            }
            case 5: // a chunk removed from the middle
            {
                int at = rng.Next(m.Length), len = Math.Min(rng.Next(1, 32), m.Length - at);
                return [.. m.AsSpan(0, at), .. m.AsSpan(at + len)];
            }
            case 6: // a chunk duplicated
            {
                int at = rng.Next(m.Length), len = Math.Min(rng.Next(1, 32), m.Length - at);
                return [.. m.AsSpan(0, at + len), .. m.AsSpan(at, len), .. m.AsSpan(at + len)];
            }
            case 7: // two mutations
                return Mutate(Mutate(source, headerEnd, rng, lie), headerEnd, rng, lie);
            default: // a structured lie about sizes
                return lie(rng, m) ?? m;
        }
    }

    // ------------------------------------------------------------------------------------------------ IDX

    /// <summary>What a correct reader must return for a plain IDX file of the given rank, or null when it must refuse it.</summary>
    private static (int[] Dims, byte[] Data)? IdxReference(byte[] b, int rank)
    {
        int headerBytes = 4 + 4 * rank;
        if (b.Length < headerBytes || b[0] != 0 || b[1] != 0 || b[2] != 8 || b[3] != rank) return null;
        var dims = new int[rank];
        long total = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4 + 4 * i));
            if (dims[i] <= 0) return null;
            total *= dims[i];
            if (total > Idx.MaxElements) return null;
        }
        if (b.Length != headerBytes + total) return null;
        return (dims, b[headerBytes..]);
    }

    private static byte[]? IdxLie(Random rng, byte[] m)
    {
        if (m.Length < 8) return null;
        int rank = m[3] is >= 1 and <= 4 ? m[3] : 1;
        int at = 4 + 4 * rng.Next(rank);
        if (at + 4 > m.Length) return null;
        int value = rng.Next(6) switch { 0 => int.MaxValue, 1 => int.MinValue, 2 => -1, 3 => 0, 4 => 1 << rng.Next(31), _ => rng.Next() };
        BinaryPrimitives.WriteInt32BigEndian(m.AsSpan(at), value);
        if (rng.Next(4) == 0) m[3] = (byte)rng.Next(256);   // and the dimension count
        return m;
    }

    [Test]
    public void IdxReaderRefusesOrReadsExactlyThousandsOfMutatedFiles()
    {
        int refused = 0, accepted = 0;
        WithWatchdog("IDX plain + labels", () =>
        {
            var rng = new Random(20261122);
            foreach (var (source, rank, count) in new[] { (IdxFiles.Images(5, 6, 7, seed: 3), 3, IdxPlainInputs), (IdxFiles.Labels(40, 10, seed: 4), 1, IdxLabelInputs) })
                for (int iter = 0; iter < count; iter++)
                {
                    var m = Mutate(source, 4 + 4 * rank, rng, IdxLie);
                    var expected = IdxReference(m, rank);
                    IdxArray result;
                    try
                    {
                        using var ms = new MemoryStream(m, writable: false);
                        result = Idx.Read(ms, "fuzz", rank);
                    }
                    catch (InvalidDataException)
                    {
                        Assert.That(expected, Is.Null, $"rank {rank} iteration {iter}: refused a valid file");
                        refused++;
                        continue;
                    }
                    Assert.That(expected, Is.Not.Null, $"rank {rank} iteration {iter}: accepted a file the reference refuses");
                    Assert.That(result.Dimensions, Is.EqualTo(expected!.Value.Dims));
                    Assert.That(result.Data, Is.EqualTo(expected.Value.Data));
                    accepted++;
                }
        });
        TestContext.Out.WriteLine($"IDX plain: {refused} refused, {accepted} read exactly");
        Assert.That(refused + accepted, Is.EqualTo(IdxPlainInputs + IdxLabelInputs));
        Assert.That(refused, Is.GreaterThan((IdxPlainInputs + IdxLabelInputs) / 2), "most mutations break the file");
        Assert.That(accepted, Is.GreaterThan(0), "data-only mutations are valid files");
    }

    [Test]
    public void GzipIdxReaderRefusesOrReadsTheOriginalForThousandsOfMutatedStreams()
    {
        int refused = 0, accepted = 0;
        var original = IdxFiles.Images(4, 5, 6, seed: 9);
        var gz = IdxFiles.Gzip(original);
        WithWatchdog("IDX gzip", () =>
        {
            var rng = new Random(777);
            for (int iter = 0; iter < IdxGzipInputs; iter++)
            {
                var m = Mutate(gz, 10, rng, (_, _) => null);
                try
                {
                    using var ms = new MemoryStream(m, writable: false);
                    var result = Idx.Read(ms, "fuzz.gz", 3);
                    // gzip carries a CRC-32 and the length: whatever is accepted must be the original content.
                    Assert.That(result.Dimensions, Is.EqualTo(new[] { 4, 5, 6 }), $"iteration {iter}");
                    Assert.That(result.Data, Is.EqualTo(original[16..]), $"iteration {iter}");
                    accepted++;
                }
                catch (InvalidDataException) { refused++; }
            }
        });
        TestContext.Out.WriteLine($"IDX gzip: {refused} refused, {accepted} read (all equal to the original)");
        Assert.That(refused + accepted, Is.EqualTo(IdxGzipInputs));
        Assert.That(refused, Is.GreaterThan(IdxGzipInputs / 2));
    }

    [Test]
    public void GzipIdxWithoutItsTrailerIsRefused()
    {
        // GZipStream returns the data of a stream cut before its CRC-32/length trailer without complaint; the reader must not
        // (fuzzing found damaged deflate data that ended early, ate the trailer and decompressed to different bytes).
        var original = IdxFiles.Images(4, 5, 6, seed: 9);
        var gz = IdxFiles.Gzip(original);
        foreach (int cut in new[] { 8, 4, 1 })
        {
            var ex = Assert.Throws<InvalidDataException>(() => Idx.Read(new MemoryStream(gz[..^cut]), "cut.gz", 3), $"{cut} trailer bytes cut")!;
            Assert.That(ex.Message, Does.Contain("cut.gz"));
        }
        var wrongCrc = (byte[])gz.Clone();
        wrongCrc[^8] ^= 1;
        Assert.Throws<InvalidDataException>(() => Idx.Read(new MemoryStream(wrongCrc), "crc.gz", 3));
        Assert.That(Idx.Read(new MemoryStream(gz), "intact.gz", 3).Data, Is.EqualTo(original[16..]));
    }

    [Test]
    public void IdxHeadersPromisingHugeDataAreRefusedWithoutAllocatingIt()
    {
        // A 16-byte header claiming 10⁸ elements (the largest allowed) with no data, plain and gzip: refused, and the
        // reader allocates nothing close to 100 MB (plain files are checked against their length; gzip grows as bytes arrive).
        var lie = IdxFiles.Build(Idx.ImagesMagic, [10_000, 100, 100], []);
        foreach (var (bytes, what) in new[] { (lie, "plain"), (IdxFiles.Gzip(lie), "gzip") })
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            Assert.Throws<InvalidDataException>(() => Idx.Read(new MemoryStream(bytes), what, 3), what);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(allocated, Is.LessThan(4L << 20), $"{what}: allocated {allocated} bytes for a lying header");
        }
        // Over the limit: refused from the header alone.
        var tooBig = IdxFiles.Build(Idx.ImagesMagic, [int.MaxValue, int.MaxValue, 2], []);
        var ex = Assert.Throws<InvalidDataException>(() => Idx.Read(new MemoryStream(tooBig), "huge", 3))!;
        Assert.That(ex.Message, Does.Contain("huge"));
    }

    // ------------------------------------------------------------------------------------------------ safetensors

    private static byte[] SafeTensorsSample(out int headerEnd)
    {
        var rng = new Random(5);
        var tensors = new Dictionary<string, Tensor>
        {
            ["conv.weight"] = TestUtil.RandomTensor(rng, 2, 1, 3, 3),
            ["conv.bias"] = TestUtil.RandomTensor(rng, 2),
            ["fc.weight"] = TestUtil.RandomTensor(rng, 3, 4),
            ["s"] = Tensor.FromArray([5f], []),
        };
        using var ms = new MemoryStream();
        SafeTensors.Write(ms, tensors, new Dictionary<string, string> { ["epoch"] = "3" });
        var bytes = ms.ToArray();
        headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return bytes;
    }

    private static byte[]? SafeTensorsLie(Random rng, byte[] m)
    {
        if (m.Length < 8) return null;
        switch (rng.Next(4))
        {
            case 0: // the header length prefix
                BinaryPrimitives.WriteUInt64LittleEndian(m, rng.Next(4) switch
                {
                    0 => ulong.MaxValue - (ulong)rng.Next(16), 1 => 1UL << rng.Next(20, 63), 2 => (ulong)rng.Next(1 << 12), _ => (ulong)rng.NextInt64(),
                });
                return m;
            default: // a number in the JSON replaced by a huge, negative or fractional one
            {
                int headerEnd = (int)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(m) + 8, (ulong)m.Length);
                var json = Encoding.UTF8.GetString(m, 8, Math.Max(0, headerEnd - 8));
                var numbers = System.Text.RegularExpressions.Regex.Matches(json, "[0-9]+");
                if (numbers.Count == 0) return null;
                var pick = numbers[rng.Next(numbers.Count)];
                string replacement = rng.Next(6) switch
                {
                    0 => "40000000000", 1 => "18446744073709551615", 2 => "-1", 3 => "1.5", 4 => "1e30", _ => rng.Next(100000).ToString(System.Globalization.CultureInfo.InvariantCulture),
                };
                var lied = json[..pick.Index] + replacement + json[(pick.Index + pick.Length)..];
                var head = Encoding.UTF8.GetBytes(lied);
                var result = new byte[8 + head.Length + (m.Length - headerEnd)];
                BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)head.Length);
                head.CopyTo(result, 8);
                m.AsSpan(headerEnd).CopyTo(result.AsSpan(8 + head.Length));
                return result;
            }
        }
    }

    [Test]
    public void SafeTensorsReaderRefusesOrReadsConsistentlyThousandsOfMutatedFiles()
    {
        var source = SafeTensorsSample(out int headerEnd);
        int refused = 0, accepted = 0;
        WithWatchdog("safetensors", () =>
        {
            var rng = new Random(4711);
            for (int iter = 0; iter < SafeTensorsInputs; iter++)
            {
                var m = Mutate(source, headerEnd, rng, SafeTensorsLie);
                IReadOnlyDictionary<string, Tensor> result;
                try
                {
                    using var s = new MemoryStream(m, writable: false);
                    result = SafeTensors.Load(s, "fuzz", CpuDevice.Default).Tensors;
                }
                catch (InvalidDataException) { refused++; continue; }
                accepted++;
                // Accepted: every tensor is exactly the decode of its byte range in the (mutated) file.
                using var again = new MemoryStream(m, writable: false);
                var header = SafeTensors.ReadHeader(again, "fuzz");
                Assert.That(result.Keys, Is.EqualTo(header.Tensors.Select(t => t.Name)), $"iteration {iter}");
                foreach (var info in header.Tensors)
                {
                    var t = result[info.Name];
                    Assert.That(t.Shape, Is.EqualTo(info.Shape), $"iteration {iter}");
                    Assert.That((long)t.Length, Is.EqualTo(info.Shape.Aggregate(1L, (a, b) => a * b)), $"iteration {iter}");
                    if (info.DType != "F32") continue;
                    var bytes = m.AsSpan((int)(header.DataStart + info.Begin), (int)(info.End - info.Begin));
                    var values = t.ToArray();
                    for (int i = 0; i < values.Length; i++)
                        if (BitConverter.SingleToInt32Bits(values[i]) != BinaryPrimitives.ReadInt32LittleEndian(bytes.Slice(4 * i)))
                            Assert.Fail($"iteration {iter}: {info.Name}[{i}] is not the stored value");
                }
            }
        });
        TestContext.Out.WriteLine($"safetensors: {refused} refused, {accepted} read consistently");
        Assert.That(refused + accepted, Is.EqualTo(SafeTensorsInputs));
        Assert.That(refused, Is.GreaterThan(SafeTensorsInputs / 2));
        Assert.That(accepted, Is.GreaterThan(0), "data-only mutations are valid files");
    }

    [Test]
    public void SafeTensorsHeadersPromisingHugeTensorsAreRefusedWithoutAllocatingThem()
    {
        string[] lies =
        [
            """{"w":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,40000000000]}}""",
            """{"w":{"dtype":"F32","shape":[2147483647,2],"data_offsets":[0,17179869176]}}""",
            """{"w":{"dtype":"F64","shape":[1000000000],"data_offsets":[0,8000000000]}}""",
            """{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"v":{"dtype":"F32","shape":[268435456],"data_offsets":[16,1073741840]}}""",
        ];
        foreach (var json in lies)
        {
            var head = Encoding.UTF8.GetBytes(json);
            var file = new byte[8 + head.Length + 16];
            BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)head.Length);
            head.CopyTo(file, 8);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Assert.Throws<InvalidDataException>(() => SafeTensors.Load(new MemoryStream(file), "lie", CpuDevice.Default), json);
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(4L << 20), json);
        }
        // A length prefix claiming an 8 EB header in a 24-byte file.
        var prefix = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, ulong.MaxValue);
        long b0 = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<InvalidDataException>(() => SafeTensors.Load(new MemoryStream(prefix), "prefix", CpuDevice.Default));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - b0, Is.LessThan(1L << 20));
    }

    [Test]
    public void RandomGarbageIsRefusedByBothReaders()
    {
        int refused = 0;
        WithWatchdog("garbage", () =>
        {
            var rng = new Random(99);
            for (int iter = 0; iter < GarbageInputs; iter++)
            {
                var bytes = new byte[rng.Next(0, 2048)];
                rng.NextBytes(bytes);
                if (iter % 3 == 0 && bytes.Length >= 8) BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)rng.Next(bytes.Length));
                if (iter % 5 == 0 && bytes.Length >= 4) { bytes[0] = 0; bytes[1] = 0; bytes[2] = 8; bytes[3] = (byte)rng.Next(1, 5); }
                try { Idx.Read(new MemoryStream(bytes, writable: false), "garbage", null); } catch (InvalidDataException) { refused++; }
                try { SafeTensors.Load(new MemoryStream(bytes, writable: false), "garbage", CpuDevice.Default); } catch (InvalidDataException) { refused++; }
            }
        });
        Assert.That(refused, Is.EqualTo(2 * GarbageInputs), "random bytes are never a valid IDX or safetensors file");
    }
}
