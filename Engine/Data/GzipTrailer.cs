// .NET's GZipStream stops without an error when its input ends before the gzip trailer (CRC-32 and ISIZE of the
// uncompressed data): a gzip file whose deflate data was damaged so that it ends early, eating the trailer, decompresses to
// wrong bytes with no exception. Readers that must never return a half-read or altered result therefore count and
// checksum what they decompressed (Crc32Stream) and compare it with the last 8 bytes of the file (single-member gzip, as
// every MNIST-style .gz file is). CRC-32: the IEEE 802.3 polynomial, reflected (0xEDB88320), as gzip and zip use.
namespace ConvEngine.Data;

/// <summary>A read-only pass-through stream that computes the CRC-32 and the length of the bytes read through it.</summary>
internal sealed class Crc32Stream(Stream inner) : Stream
{
    private uint _crc = Serialization.Crc32.Start;

    /// <summary>The CRC-32 of the bytes read so far.</summary>
    public uint Crc => Serialization.Crc32.Finish(_crc);

    /// <summary>The number of bytes read so far.</summary>
    public long BytesRead { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        _crc = Serialization.Crc32.Update(_crc, buffer[..n]);
        BytesRead += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Checks a decompressed single-member gzip stream against the trailer in the file's last 8 bytes.</summary>
internal static class GzipTrailer
{
    /// <summary>
    /// Throws <see cref="InvalidDataException"/> unless the last 8 bytes of <paramref name="file"/> (seekable) are the CRC-32
    /// and the length mod 2³² of what <paramref name="decompressed"/> produced. Non-seekable input is not checked.
    /// </summary>
    public static void Verify(Stream file, Crc32Stream decompressed, string name)
    {
        if (!file.CanSeek) return;
        Span<byte> trailer = stackalloc byte[8];
        if (file.Length < 18) throw new InvalidDataException($"'{name}': the gzip file is too short ({file.Length} bytes) to hold a header and trailer.");
        file.Seek(-8, SeekOrigin.End);
        file.ReadExactly(trailer);
        uint crc = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        uint size = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]);
        if (crc != decompressed.Crc || size != (uint)decompressed.BytesRead)
            throw new InvalidDataException(
                $"'{name}': the gzip trailer (CRC-32 0x{crc:X8}, {size} bytes) does not match the decompressed data (CRC-32 0x{decompressed.Crc:X8}, " +
                $"{decompressed.BytesRead} bytes): the compressed data is corrupt or truncated.");
    }
}
