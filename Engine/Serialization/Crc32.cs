namespace ConvEngine.Serialization;

/// <summary>
/// The CRC-32 of gzip, zlib and PNG: the IEEE 802.3 polynomial, reflected (0xEDB88320), initial value and final XOR
/// 0xFFFFFFFF. One table for every reader and writer that checksums bytes.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    /// <summary>The initial register value of a running CRC.</summary>
    public const uint Start = 0xFFFFFFFFu;

    /// <summary>Feeds <paramref name="data"/> into the running register <paramref name="crc"/> (start with <see cref="Start"/>).</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    /// <summary>The final CRC-32 of a running register.</summary>
    public static uint Finish(uint crc) => ~crc;

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Update(Start, data));
}
