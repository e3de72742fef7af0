// IDX reader (the MNIST / Fashion-MNIST container format), plain or gzip-compressed.
//
// Layout (all integers big-endian):
//   bytes 0-1  : 0x00 0x00
//   byte  2    : dtype, only 0x08 (unsigned byte) is accepted
//   byte  3    : number of dimensions d (1 for labels, 3 for images [count, rows, cols])
//   d × int32  : the dimensions, each > 0
//   data       : product(dims) bytes, row-major; the file ends exactly there.
// Magic numbers as one int32: 0x00000801 = labels, 0x00000803 = images.
// Compression is detected by the gzip magic 1f 8b, not by the file name. Gzip input must be one gzip member whose trailer
// (CRC-32, length) matches the decompressed bytes (checked here: GZipStream ignores a missing trailer; see GzipTrailer.cs).
// Every problem is an InvalidDataException naming the file, the field, and expected vs actual; nothing is returned
// half-read, and nothing is allocated for the data before the header has been checked against the file (plain files)
// or before the bytes have actually arrived (gzip streams are read in bounded chunks).
using System.Buffers.Binary;
using System.IO.Compression;

namespace ConvEngine.Data;

/// <summary>The contents of an IDX file: its dimensions and its unsigned-byte elements in row-major order.</summary>
/// <param name="Dimensions">The dimensions from the header, outermost first (e.g. <c>[60000, 28, 28]</c>).</param>
/// <param name="Data">The elements, exactly the product of <paramref name="Dimensions"/> bytes.</param>
public sealed record IdxArray(int[] Dimensions, byte[] Data);

/// <summary>
/// Reads IDX files (the MNIST format), plain or gzip-compressed (detected by content), with strict validation:
/// a corrupt, truncated, over-long or lying file throws <see cref="InvalidDataException"/> whose message names the file.
/// </summary>
public static class Idx
{
    /// <summary>Magic number of an IDX file of unsigned-byte images <c>[count, rows, cols]</c>.</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Magic number of an IDX file of unsigned-byte labels <c>[count]</c>.</summary>
    public const int LabelsMagic = 0x00000801;

    /// <summary>The largest number of data bytes a header may promise (10⁸; MNIST training images are 4.7·10⁷).</summary>
    public const long MaxElements = 100_000_000;

    private const int ChunkSize = 1 << 20;

    /// <summary>Reads an IDX file of unsigned bytes with any dimension count from 1 to 4.</summary>
    /// <param name="path">The file, plain or gzip-compressed.</param>
    public static IdxArray Read(string path) => ReadCore(path, expectedRank: null);

    /// <summary>Reads an image file (magic 0x00000803): dimensions <c>[count, rows, cols]</c>.</summary>
    /// <param name="path">The file, plain or gzip-compressed.</param>
    public static IdxArray ReadImages(string path) => ReadCore(path, expectedRank: 3);

    /// <summary>Reads a label file (magic 0x00000801): dimensions <c>[count]</c>.</summary>
    /// <param name="path">The file, plain or gzip-compressed.</param>
    public static IdxArray ReadLabels(string path) => ReadCore(path, expectedRank: 1);

    private static IdxArray ReadCore(string path, int? expectedRank)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(file, path, expectedRank);
    }

    /// <summary>Reads from <paramref name="stream"/> (seekable for plain data); <paramref name="name"/> is used in messages.</summary>
    internal static IdxArray Read(Stream stream, string name, int? expectedRank)
    {
        Span<byte> probe = stackalloc byte[2];
        int got = ReadFully(stream, probe);
        bool gzip = got == 2 && probe[0] == 0x1f && probe[1] == 0x8b;
        stream.Seek(-got, SeekOrigin.Current);
        if (!gzip) return ReadPlain(stream, name, expectedRank, stream.Length - stream.Position);
        try
        {
            using var gz = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            var counted = new Crc32Stream(gz);
            var result = ReadPlain(counted, name + " (gzip)", expectedRank, knownLength: null);
            // GZipStream does not notice a stream that ends before its trailer; check CRC-32 and length ourselves.
            GzipTrailer.Verify(stream, counted, $"IDX file '{name}'");
            return result;
        }
        catch (InvalidDataException e) when (!e.Message.Contains(name, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"IDX file '{name}': the gzip stream is corrupt: {e.Message}", e);
        }
    }

    private static IdxArray ReadPlain(Stream s, string name, int? expectedRank, long? knownLength)
    {
        Span<byte> head = stackalloc byte[4];
        int n = ReadFully(s, head);
        if (n < 4)
            throw Bad(name, $"the file is too short for an IDX header: expected at least 4 bytes, got {n}");
        if (head[0] != 0 || head[1] != 0)
            throw Bad(name, $"bad magic number 0x{BinaryPrimitives.ReadInt32BigEndian(head):X8}: expected the first two bytes to be 00 00, got {head[0]:X2} {head[1]:X2}");
        if (head[2] != 0x08)
            throw Bad(name, $"unsupported element type 0x{head[2]:X2}: expected 0x08 (unsigned byte)");
        int rank = head[3];
        if (expectedRank is int r && rank != r)
            throw Bad(name, $"bad magic number 0x{BinaryPrimitives.ReadInt32BigEndian(head):X8}: expected 0x{0x800 + r:X8} ({(r == 1 ? "labels" : "images")}, {r} dimension{(r == 1 ? "" : "s")}), got {rank} dimensions");
        if (rank < 1 || rank > 4)
            throw Bad(name, $"unsupported dimension count {rank}: expected 1 to 4");

        Span<byte> dimBytes = stackalloc byte[4 * 4];
        n = ReadFully(s, dimBytes[..(4 * rank)]);
        if (n < 4 * rank)
            throw Bad(name, $"truncated header: expected {4 + 4 * rank} bytes for {rank} dimensions, got {4 + n}");
        var dims = new int[rank];
        long total = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(dimBytes.Slice(4 * i, 4));
            if (dims[i] <= 0)
                throw Bad(name, $"dimension {i} is {dims[i]}: expected a positive size");
            total *= dims[i];
            if (total > MaxElements)
                throw Bad(name, $"the header promises more than {MaxElements} elements (dimensions so far [{string.Join(", ", dims.Take(i + 1))}]); refusing as implausible");
        }
        long headerBytes = 4 + 4L * rank;
        if (knownLength is long len && len != headerBytes + total)
            throw Bad(name, $"the file length {len} bytes does not match the header: expected {headerBytes} header bytes + {total} data bytes = {headerBytes + total} " +
                            $"({(len < headerBytes + total ? "truncated" : "trailing bytes after the data")}; dimensions [{string.Join(", ", dims)}])");

        // Plain files: the length was checked above, so allocating `total` is safe. Streams of unknown length grow the
        // buffer only as bytes actually arrive, so a lying header cannot make us allocate more than the input provides (×2).
        byte[] data = knownLength is null ? new byte[Math.Min(total, ChunkSize)] : new byte[total];
        long filled = 0;
        while (filled < total)
        {
            if (filled == data.Length)
                Array.Resize(ref data, (int)Math.Min(total, (long)data.Length * 2));
            int want = (int)Math.Min(data.Length - filled, ChunkSize);
            int read = s.Read(data, (int)filled, want);
            if (read == 0)
                throw Bad(name, $"truncated data: the header (dimensions [{string.Join(", ", dims)}]) promises {total} data bytes but only {filled} are present");
            filled += read;
        }
        if (knownLength is null)
        {
            Span<byte> extra = stackalloc byte[1];
            if (s.Read(extra) != 0)
                throw Bad(name, $"trailing bytes after the {total} data bytes promised by the header (dimensions [{string.Join(", ", dims)}])");
        }
        return new IdxArray(dims, data);
    }

    private static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static InvalidDataException Bad(string name, string what) => new($"IDX file '{name}': {what}.");
}
