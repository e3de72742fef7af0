// safetensors (https://github.com/huggingface/safetensors) reader and writer.
//
// File layout:
//   u64 little-endian N | N bytes of UTF-8 JSON header | data section (the rest of the file)
//   header = { "__metadata__": {string: string} (optional),
//              "<name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ... }
//   offsets are relative to the data section; data is raw little-endian, row-major.
// Writer: F32 only, tensors contiguous in the given order, header padded with spaces to a multiple of 8 bytes, written to a
//   temporary file in the target directory and then renamed over the target (File.Move overwrite), so an interrupted save
//   leaves the previous file untouched.
// Reader: accepts F32, and converts F64, F16, BF16, I64, I32, I16, I8, U8 and BOOL to float32 (F64/I64/I32 may round).
//   Refuses with InvalidDataException naming the file (and tensor): a header length beyond the file or above 100 MB,
//   non-UTF-8 / invalid JSON / a header that is not an object, duplicate names, unknown dtypes, negative or non-integer shape
//   entries, element counts above int.MaxValue, offsets that are not [begin ≤ end], an (end − begin) that differs from
//   product(shape)·sizeof(dtype), and offsets that, sorted, do not tile the data section exactly (gaps, overlaps, out of
//   range, or bytes left over). Nothing is allocated for tensor data before the whole header has been validated against the
//   file length.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace ConvEngine.Serialization;

/// <summary>The description of one tensor in a safetensors header.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="DType">The stored element type (<c>F32</c>, <c>F16</c>, ...).</param>
/// <param name="Shape">The dimensions.</param>
/// <param name="Begin">Start of the data, in bytes from the start of the data section.</param>
/// <param name="End">End (exclusive) of the data, in bytes from the start of the data section.</param>
public sealed record SafeTensorInfo(string Name, string DType, int[] Shape, long Begin, long End);

/// <summary>A validated safetensors header: the tensors in header order and the string metadata.</summary>
/// <param name="Tensors">The tensor descriptions in header order.</param>
/// <param name="Metadata">The <c>__metadata__</c> entries (empty when absent).</param>
/// <param name="DataStart">The file offset of the data section (8 + header length).</param>
public sealed record SafeTensorsHeader(IReadOnlyList<SafeTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart);

/// <summary>Reads and writes the safetensors format with strict validation; see the file header for the rules.</summary>
public static class SafeTensors
{
    /// <summary>The largest accepted JSON header, in bytes (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    private static readonly Dictionary<string, int> DTypeSizes = new(StringComparer.Ordinal)
    {
        ["F32"] = 4, ["F64"] = 8, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1, ["U8"] = 1, ["BOOL"] = 1,
    };

    // ---------------------------------------------------------------- writing

    /// <summary>
    /// Writes <paramref name="tensors"/> as float32 in the given order, atomically: the data goes to a temporary file in the
    /// same directory which then replaces <paramref name="path"/>; on failure the temporary file is deleted and any previous
    /// file at <paramref name="path"/> is unchanged.
    /// </summary>
    /// <param name="path">The destination file.</param>
    /// <param name="tensors">Tensors by name (names must be non-empty and not <c>__metadata__</c>), on any device.</param>
    /// <param name="metadata">Optional string metadata stored under <c>__metadata__</c>.</param>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Write(fs, tensors, metadata);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes the safetensors bytes to <paramref name="stream"/> (not atomic; used by <see cref="Save"/> and tests).</summary>
    internal static void Write(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var entries = tensors.ToList();
        foreach (var (name, t) in entries)
        {
            if (string.IsNullOrEmpty(name) || name == MetadataKey)
                throw new ArgumentException($"Invalid tensor name '{name}'.", nameof(tensors));
            ArgumentNullException.ThrowIfNull(t, $"tensors[{name}]");
        }
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v ?? throw new ArgumentNullException(nameof(metadata), $"Metadata '{k}' is null."));
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in entries)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (var d in t.ShapeRef) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += 4L * t.Length;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int pad = (8 - buffer.WrittenCount % 8) % 8;
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(buffer.WrittenCount + pad));
        stream.Write(len);
        stream.Write(buffer.WrittenSpan);
        for (int i = 0; i < pad; i++) stream.WriteByte((byte)' ');
        var bytes = new byte[1 << 16];
        foreach (var (_, t) in entries)
        {
            var values = t.ToArray();
            for (int start = 0; start < values.Length; start += bytes.Length / 4)
            {
                int n = Math.Min(bytes.Length / 4, values.Length - start);
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i, 4), values[start + i]);
                stream.Write(bytes, 0, 4 * n);
            }
        }
    }

    // ---------------------------------------------------------------- reading

    /// <summary>Reads and validates the header of <paramref name="path"/> without reading tensor data.</summary>
    /// <param name="path">The safetensors file.</param>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return ReadHeader(fs, path);
    }

    /// <summary>
    /// Loads every tensor of <paramref name="path"/> as float32 onto <paramref name="device"/> (default CPU), in header order.
    /// Throws <see cref="InvalidDataException"/> naming the file (and tensor) for any malformed content.
    /// </summary>
    /// <param name="path">The safetensors file.</param>
    /// <param name="device">The destination device.</param>
    public static IReadOnlyDictionary<string, Tensor> Load(string path, IDevice? device = null) => LoadWithMetadata(path, device).Tensors;

    /// <summary>Like <see cref="Load(string, IDevice?)"/> but also returns the <c>__metadata__</c> entries.</summary>
    /// <param name="path">The safetensors file.</param>
    /// <param name="device">The destination device.</param>
    public static (IReadOnlyDictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) LoadWithMetadata(string path, IDevice? device = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Load(fs, path, device ?? CpuDevice.Default);
    }

    internal static (IReadOnlyDictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Load(Stream s, string file, IDevice device)
    {
        var header = ReadHeader(s, file);
        var result = new OrderedDictionary<string, Tensor>(StringComparer.Ordinal);
        var raw = new byte[1 << 16];
        foreach (var info in header.Tensors)
        {
            int size = DTypeSizes[info.DType];
            int count = (int)((info.End - info.Begin) / size);
            var values = new float[count];
            s.Seek(header.DataStart + info.Begin, SeekOrigin.Begin);
            int perChunk = raw.Length / size;
            for (int start = 0; start < count; start += perChunk)
            {
                int n = Math.Min(perChunk, count - start);
                var chunk = raw.AsSpan(0, n * size);
                s.ReadExactly(chunk); // lengths were validated against the file, so a short read here is an I/O error
                Convert(info.DType, chunk, values.AsSpan(start, n));
            }
            var tensor = Tensor.FromArray(device, values, info.Shape);
            tensor.Name = info.Name;
            result.Add(info.Name, tensor);
        }
        return (result, header.Metadata);
    }

    private static void Convert(string dtype, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (dtype)
        {
            case "F32": for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src.Slice(4 * i)); break;
            case "F64": for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src.Slice(8 * i)); break;
            case "F16": for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src.Slice(2 * i)); break;
            case "BF16": for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src.Slice(2 * i)) << 16); break;
            case "I64": for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt64LittleEndian(src.Slice(8 * i)); break;
            case "I32": for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt32LittleEndian(src.Slice(4 * i)); break;
            case "I16": for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt16LittleEndian(src.Slice(2 * i)); break;
            case "I8": for (int i = 0; i < dst.Length; i++) dst[i] = (sbyte)src[i]; break;
            case "U8": for (int i = 0; i < dst.Length; i++) dst[i] = src[i]; break;
            case "BOOL": for (int i = 0; i < dst.Length; i++) dst[i] = src[i] != 0 ? 1f : 0f; break;
            default: throw new InvalidOperationException($"unreachable dtype {dtype}");
        }
    }

    internal static SafeTensorsHeader ReadHeader(Stream s, string file)
    {
        long fileLength = s.Length;
        if (fileLength < 8)
            throw Bad(file, $"the file is {fileLength} bytes, too short for the 8-byte header length");
        Span<byte> lenBytes = stackalloc byte[8];
        s.Seek(0, SeekOrigin.Begin);
        s.ReadExactly(lenBytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (n > (ulong)(fileLength - 8))
            throw Bad(file, $"the header length {n} exceeds the {fileLength - 8} bytes that follow it");
        if (n > MaxHeaderBytes)
            throw Bad(file, $"the header length {n} exceeds the limit of {MaxHeaderBytes} bytes");
        if (n < 2)
            throw Bad(file, $"the header length {n} is too small for a JSON object");
        var json = new byte[(int)n];
        s.ReadExactly(json);
        long dataStart = 8 + (long)n, dataLength = fileLength - dataStart;

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw Bad(file, $"the header is not valid JSON: {e.Message}");
        }
        using (doc)
        {
            try
            {
                return ParseHeader(file, doc, dataStart, dataLength);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
            {
                // Strings the JSON parser accepted but .NET cannot represent (e.g. an escaped lone surrogate).
                throw Bad(file, $"the header holds an unreadable value: {e.Message}");
            }
        }
    }

    private static SafeTensorsHeader ParseHeader(string file, JsonDocument doc, long dataStart, long dataLength)
    {
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(file, $"the header must be a JSON object but is {doc.RootElement.ValueKind}");
            var tensors = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                    throw Bad(file, $"duplicate entry '{prop.Name}' in the header");
                if (prop.Name == MetadataKey)
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw Bad(file, $"'{MetadataKey}' must be an object of strings but is {prop.Value.ValueKind}");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw Bad(file, $"metadata '{m.Name}' must be a string but is {m.Value.ValueKind}");
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                            throw Bad(file, $"duplicate metadata key '{m.Name}'");
                    }
                    continue;
                }
                tensors.Add(ParseTensor(file, prop.Name, prop.Value));
            }

            // The data section must be tiled exactly: sorted by begin, each tensor starts where the previous ended.
            long cursor = 0;
            foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
            {
                if (t.Begin != cursor)
                    throw Bad(file, t.Begin < cursor
                        ? $"tensor '{t.Name}': data_offsets [{t.Begin}, {t.End}] overlap the previous tensor, which ends at {cursor}"
                        : $"tensor '{t.Name}': data_offsets [{t.Begin}, {t.End}] leave a gap: expected it to start at {cursor}");
                if (t.End > dataLength)
                    throw Bad(file, $"tensor '{t.Name}': data_offsets [{t.Begin}, {t.End}] run past the end of the {dataLength}-byte data section");
                cursor = t.End;
            }
            if (cursor != dataLength)
                throw Bad(file, $"the tensors cover {cursor} bytes but the data section has {dataLength} (trailing or missing bytes)");
            return new SafeTensorsHeader(tensors, metadata, dataStart);
        }
    }

    private static SafeTensorInfo ParseTensor(string file, string name, JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw Bad(file, $"tensor '{name}': the entry must be an object but is {e.ValueKind}");
        string? dtype = null; int[]? shape = null; long[]? offsets = null;
        foreach (var p in e.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype":
                    if (dtype is not null) throw Bad(file, $"tensor '{name}': duplicate 'dtype'");
                    if (p.Value.ValueKind != JsonValueKind.String) throw Bad(file, $"tensor '{name}': 'dtype' must be a string but is {p.Value.ValueKind}");
                    dtype = p.Value.GetString()!;
                    break;
                case "shape":
                    if (shape is not null) throw Bad(file, $"tensor '{name}': duplicate 'shape'");
                    shape = IntArray(file, name, "shape", p.Value, int.MaxValue).Select(v => (int)v).ToArray();
                    break;
                case "data_offsets":
                    if (offsets is not null) throw Bad(file, $"tensor '{name}': duplicate 'data_offsets'");
                    offsets = IntArray(file, name, "data_offsets", p.Value, long.MaxValue);
                    break;
                default:
                    throw Bad(file, $"tensor '{name}': unexpected field '{p.Name}' (expected dtype, shape, data_offsets)");
            }
        }
        if (dtype is null || shape is null || offsets is null)
            throw Bad(file, $"tensor '{name}': missing {(dtype is null ? "'dtype'" : shape is null ? "'shape'" : "'data_offsets'")}");
        if (!DTypeSizes.TryGetValue(dtype, out int size))
            throw Bad(file, $"tensor '{name}': unsupported dtype '{dtype}' (expected one of {string.Join(", ", DTypeSizes.Keys)})");
        if (offsets.Length != 2)
            throw Bad(file, $"tensor '{name}': 'data_offsets' must have 2 entries but has {offsets.Length}");
        long begin = offsets[0], end = offsets[1];
        if (begin > end)
            throw Bad(file, $"tensor '{name}': data_offsets [{begin}, {end}] end before they begin");
        long count = 1;
        foreach (var d in shape)
        {
            count *= d;
            if (count > int.MaxValue)
                throw Bad(file, $"tensor '{name}': shape [{string.Join(", ", shape)}] has more than {int.MaxValue} elements");
        }
        if (end - begin != count * size)
            throw Bad(file, $"tensor '{name}': shape [{string.Join(", ", shape)}] of {dtype} needs {count * size} bytes but data_offsets [{begin}, {end}] span {end - begin}");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private static long[] IntArray(string file, string name, string field, JsonElement e, long max)
    {
        if (e.ValueKind != JsonValueKind.Array)
            throw Bad(file, $"tensor '{name}': '{field}' must be an array but is {e.ValueKind}");
        var result = new long[e.GetArrayLength()];
        int i = 0;
        foreach (var v in e.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x) || x < 0 || x > max)
                throw Bad(file, $"tensor '{name}': '{field}' entry {i} ({v.GetRawText()}) is not an integer in [0, {max}]");
            result[i++] = x;
        }
        return result;
    }

    private static InvalidDataException Bad(string file, string what) => new($"safetensors file '{file}': {what}.");
}
