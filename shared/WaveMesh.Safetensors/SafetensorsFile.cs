using System.Buffers;
using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace WaveMesh.Safetensors;

/// <summary>
/// An open safetensors file: the header is read and fully validated by <see cref="Open"/>,
/// tensor data is read on demand with positional reads (the file is never loaded as a whole).
/// Reads do not share a file position, so several threads may read tensors at the same time.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private const int ConversionChunkBytes = 64 * 1024;

    private readonly FileStream _stream;
    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    private bool _disposed;

    private SafetensorsFile(
        FileStream stream,
        string path,
        long dataOffset,
        IReadOnlyDictionary<string, string> metadata,
        SafetensorsTensorInfo[] tensorsByBegin,
        Dictionary<string, SafetensorsTensorInfo> byName)
    {
        _stream = stream;
        _handle = stream.SafeFileHandle;
        Path = path;
        DataOffset = dataOffset;
        Metadata = metadata;
        Tensors = new ReadOnlyCollection<SafetensorsTensorInfo>(tensorsByBegin);
        _byName = byName;
    }

    /// <summary>Full path of the file.</summary>
    public string? Path { get; }

    /// <summary>Offset of the data buffer in the file: 8 + header length.</summary>
    public long DataOffset { get; }

    /// <summary>The "__metadata__" entries; empty when the header has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>All tensors, ordered by their position in the data buffer.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public SafetensorsTensorInfo this[string name]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(name);
            if (_byName.TryGetValue(name, out var info))
            {
                return info;
            }

            throw new KeyNotFoundException(
                $"Tensor {SafetensorsFormatException.Quote(name)} is not in safetensors file '{Path}'.");
        }
    }

    /// <summary>Opens <paramref name="path"/>, reads and validates its header, and keeps it open for tensor reads.</summary>
    /// <exception cref="SafetensorsFormatException">The file is not a valid safetensors file.</exception>
    public static SafetensorsFile Open(string path, SafetensorsLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        limits ??= SafetensorsLimits.Default;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limits.MaxHeaderBytes, nameof(limits));
        ArgumentOutOfRangeException.ThrowIfNegative(limits.MaxTensors, nameof(limits));

        var fullPath = System.IO.Path.GetFullPath(path);
        var stream = new FileStream(
            fullPath,
            new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                // Delete sharing lets a writer atomically replace the file while it is being read.
                Share = FileShare.Read | FileShare.Delete,
                Options = FileOptions.RandomAccess,
                BufferSize = 0,
            });
        try
        {
            var file = ReadHeader(stream, fullPath, limits);
            stream = null!;
            return file;
        }
        finally
        {
            stream?.Dispose();
        }
    }

    /// <summary>Whether a tensor called <paramref name="name"/> exists.</summary>
    public bool Contains(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _byName.ContainsKey(name);
    }

    /// <summary>Looks a tensor up without throwing.</summary>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out SafetensorsTensorInfo info)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _byName.TryGetValue(name, out info);
    }

    /// <summary>Reads an F32, F16 or BF16 tensor as a new float array.</summary>
    public float[] ReadFloat32(string name)
    {
        var info = this[name];
        EnsureFloat(info);
        var count = info.ElementCount;
        if (count > Array.MaxLength)
        {
            throw Error($"tensor {SafetensorsFormatException.Quote(info.Name)} has {count} elements, too many for one array", info.Name);
        }

        var result = count == 0 ? [] : GC.AllocateUninitializedArray<float>((int)count);
        ReadFloat32(info, result);
        return result;
    }

    /// <summary>Reads an F32, F16 or BF16 tensor into <paramref name="destination"/>, whose length must equal the element count.</summary>
    public void ReadFloat32(string name, Span<float> destination)
    {
        var info = this[name];
        EnsureFloat(info);
        if (destination.Length != info.ElementCount)
        {
            throw new ArgumentException(
                $"Tensor {SafetensorsFormatException.Quote(info.Name)} has {info.ElementCount} elements but the destination holds {destination.Length}.",
                nameof(destination));
        }

        ReadFloat32(info, destination);
    }

    /// <summary>Copies the tensor's bytes, exactly as stored (little-endian), into <paramref name="destination"/>, whose length must equal <see cref="SafetensorsTensorInfo.ByteLength"/>.</summary>
    public void ReadRaw(string name, Span<byte> destination)
    {
        var info = this[name];
        if (destination.Length != info.ByteLength)
        {
            throw new ArgumentException(
                $"Tensor {SafetensorsFormatException.Quote(info.Name)} has {info.ByteLength} bytes but the destination holds {destination.Length}.",
                nameof(destination));
        }

        ReadExactly(info, 0, destination);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _stream.Dispose();
    }

    private void EnsureFloat(SafetensorsTensorInfo info)
    {
        if (info.Dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16))
        {
            throw Error(
                $"tensor {SafetensorsFormatException.Quote(info.Name)} has dtype {info.Dtype.ToHeaderName()}; only F32, F16 and BF16 can be read as float",
                info.Name);
        }
    }

    private void ReadFloat32(SafetensorsTensorInfo info, Span<float> destination)
    {
        if (info.Dtype == SafetensorsDtype.F32)
        {
            ReadExactly(info, 0, MemoryMarshal.AsBytes(destination));
            if (!BitConverter.IsLittleEndian)
            {
                var bits = MemoryMarshal.Cast<float, int>(destination);
                BinaryPrimitives.ReverseEndianness(bits, bits);
            }

            return;
        }

        // F16 and BF16: 2 bytes per element, converted chunk by chunk.
        var buffer = ArrayPool<byte>.Shared.Rent(ConversionChunkBytes);
        try
        {
            long byteOffset = 0;
            var done = 0;
            while (done < destination.Length)
            {
                var elements = Math.Min(destination.Length - done, ConversionChunkBytes / 2);
                var chunk = buffer.AsSpan(0, elements * 2);
                ReadExactly(info, byteOffset, chunk);
                var target = destination.Slice(done, elements);
                if (info.Dtype == SafetensorsDtype.F16)
                {
                    for (var i = 0; i < target.Length; i++)
                    {
                        target[i] = HalfBitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(chunk.Slice(i * 2, 2)));
                    }
                }
                else
                {
                    for (var i = 0; i < target.Length; i++)
                    {
                        target[i] = BFloat16BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(chunk.Slice(i * 2, 2)));
                    }
                }

                done += elements;
                byteOffset += chunk.Length;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>IEEE 754 binary16 to binary32, exact for every value (subnormals, infinities, NaN).</summary>
    internal static float HalfBitsToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>bfloat16 is the upper half of a binary32.</summary>
    internal static float BFloat16BitsToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    private void ReadExactly(SafetensorsTensorInfo info, long offsetInTensor, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var position = DataOffset + info.Begin + offsetInTensor;
        while (!destination.IsEmpty)
        {
            var read = RandomAccess.Read(_handle, destination, position);
            if (read <= 0)
            {
                throw Error(
                    $"unexpected end of file at byte {position} while reading tensor {SafetensorsFormatException.Quote(info.Name)} (bytes {DataOffset + info.Begin} to {DataOffset + info.End}); the file was truncated",
                    info.Name);
            }

            destination = destination[read..];
            position += read;
        }
    }

    private SafetensorsFormatException Error(string problem, string? tensor) => new(problem, Path, tensor);

    private static SafetensorsFile ReadHeader(FileStream stream, string path, SafetensorsLimits limits)
    {
        var handle = stream.SafeFileHandle;
        var fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8)
        {
            throw Fail($"file is {fileLength} bytes, shorter than the 8-byte header length prefix");
        }

        Span<byte> prefix = stackalloc byte[8];
        ReadHeaderBytes(prefix, 0);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength == 0)
        {
            throw Fail("header length is 0");
        }

        if (headerLength > (ulong)limits.MaxHeaderBytes)
        {
            throw Fail($"header of {headerLength} bytes exceeds the limit of {limits.MaxHeaderBytes}");
        }

        if (headerLength > (ulong)(fileLength - 8))
        {
            throw Fail($"header of {headerLength} bytes extends beyond the end of the file ({fileLength} bytes)");
        }

        if (headerLength > (ulong)Array.MaxLength)
        {
            throw Fail($"header of {headerLength} bytes is too large to read");
        }

        var header = GC.AllocateUninitializedArray<byte>((int)headerLength);
        ReadHeaderBytes(header, 8);
        var dataOffset = 8 + (long)headerLength;
        var bufferLength = fileLength - dataOffset;

        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            throw Fail("header is not valid UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Fail($"header is not valid JSON: {e.Message}", inner: e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Fail($"header is a JSON {Describe(root.ValueKind)}, not a JSON object");
            }

            IReadOnlyDictionary<string, string>? metadata = null;
            var tensors = new List<SafetensorsTensorInfo>();
            var byName = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
            try
            {
                foreach (var property in root.EnumerateObject())
                {
                    var name = property.Name;
                    if (name == "__metadata__")
                    {
                        if (metadata is not null)
                        {
                            throw Fail("header has more than one \"__metadata__\" entry");
                        }

                        metadata = ParseMetadata(property.Value);
                        continue;
                    }

                    if (tensors.Count >= limits.MaxTensors)
                    {
                        throw Fail($"header has more than the limit of {limits.MaxTensors} tensors");
                    }

                    var info = ParseTensor(name, property.Value);
                    if (!byName.TryAdd(name, info))
                    {
                        throw Fail($"tensor {SafetensorsFormatException.Quote(name)} appears more than once in the header", name);
                    }

                    tensors.Add(info);
                }
            }
            catch (InvalidOperationException e)
            {
                // JsonElement string accessors throw this for \u escapes that are not valid UTF-16 (lone surrogates).
                throw Fail($"header contains a string that is not valid Unicode: {e.Message}", inner: e);
            }

            var sorted = tensors.ToArray();
            Array.Sort(sorted, static (a, b) =>
            {
                var c = a.Begin.CompareTo(b.Begin);
                if (c == 0)
                {
                    c = a.End.CompareTo(b.End);
                }

                return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
            });

            CheckTiling(sorted, bufferLength);
            return new SafetensorsFile(
                stream,
                path,
                dataOffset,
                metadata ?? ReadOnlyDictionary<string, string>.Empty,
                sorted,
                byName);
        }

        void ReadHeaderBytes(Span<byte> destination, long position)
        {
            while (!destination.IsEmpty)
            {
                var read = RandomAccess.Read(handle, destination, position);
                if (read <= 0)
                {
                    throw Fail($"unexpected end of file at byte {position} while reading the header");
                }

                destination = destination[read..];
                position += read;
            }
        }

        IReadOnlyDictionary<string, string> ParseMetadata(JsonElement element)
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                throw Fail($"\"__metadata__\" is a JSON {Describe(element.ValueKind)}, not an object of strings");
            }

            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in element.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                {
                    throw Fail(
                        $"\"__metadata__\" value for key {SafetensorsFormatException.Quote(entry.Name)} is a JSON {Describe(entry.Value.ValueKind)}, not a string");
                }

                if (!result.TryAdd(entry.Name, entry.Value.GetString()!))
                {
                    throw Fail($"\"__metadata__\" key {SafetensorsFormatException.Quote(entry.Name)} appears more than once");
                }
            }

            return new ReadOnlyDictionary<string, string>(result);
        }

        SafetensorsTensorInfo ParseTensor(string name, JsonElement element)
        {
            var quoted = SafetensorsFormatException.Quote(name);
            if (element.ValueKind != JsonValueKind.Object)
            {
                throw Fail($"entry for tensor {quoted} is a JSON {Describe(element.ValueKind)}, not an object", name);
            }

            if (!element.TryGetProperty("dtype", out var dtypeElement))
            {
                throw Fail($"tensor {quoted} has no \"dtype\"", name);
            }

            if (!element.TryGetProperty("shape", out var shapeElement))
            {
                throw Fail($"tensor {quoted} has no \"shape\"", name);
            }

            if (!element.TryGetProperty("data_offsets", out var offsetsElement))
            {
                throw Fail($"tensor {quoted} has no \"data_offsets\"", name);
            }

            if (dtypeElement.ValueKind != JsonValueKind.String)
            {
                throw Fail($"tensor {quoted} has a \"dtype\" that is a JSON {Describe(dtypeElement.ValueKind)}, not a string", name);
            }

            var dtypeName = dtypeElement.GetString()!;
            if (!SafetensorsDtypeExtensions.TryParseHeaderName(dtypeName, out var dtype))
            {
                throw Fail($"tensor {quoted} has unknown dtype {SafetensorsFormatException.Quote(dtypeName)}", name);
            }

            if (shapeElement.ValueKind != JsonValueKind.Array)
            {
                throw Fail($"tensor {quoted} has a \"shape\" that is a JSON {Describe(shapeElement.ValueKind)}, not an array", name);
            }

            var shape = new long[shapeElement.GetArrayLength()];
            long elementCount = 1;
            var overflow = false;
            var index = 0;
            foreach (var dimElement in shapeElement.EnumerateArray())
            {
                if (dimElement.ValueKind != JsonValueKind.Number || !dimElement.TryGetInt64(out var dim))
                {
                    throw Fail(
                        $"tensor {quoted} has shape dimension {index} = {Shorten(dimElement.GetRawText())}, not an integer",
                        name);
                }

                if (dim < 0)
                {
                    throw Fail($"tensor {quoted} has negative shape dimension {index} = {dim}", name);
                }

                shape[index++] = dim;
                if (!overflow)
                {
                    var product = (Int128)elementCount * dim;
                    if (product > long.MaxValue)
                    {
                        overflow = true;
                    }
                    else
                    {
                        elementCount = (long)product;
                    }
                }
            }

            // A zero dimension anywhere makes the count 0 even after an intermediate overflow.
            if (overflow && !shape.Contains(0L))
            {
                throw Fail($"tensor {quoted} has shape [{string.Join(", ", shape)}] whose element count overflows", name);
            }

            if (overflow)
            {
                elementCount = 0;
            }

            var expectedBytes = (Int128)elementCount * dtype.ElementSize();
            if (expectedBytes > long.MaxValue)
            {
                throw Fail($"tensor {quoted} has shape [{string.Join(", ", shape)}] whose byte size overflows", name);
            }

            if (offsetsElement.ValueKind != JsonValueKind.Array
                || offsetsElement.GetArrayLength() != 2
                || !TryGetOffset(offsetsElement[0], out var begin)
                || !TryGetOffset(offsetsElement[1], out var end))
            {
                throw Fail(
                    $"tensor {quoted} has data_offsets {Shorten(offsetsElement.GetRawText())}, not two non-negative integers",
                    name);
            }

            if (begin > end)
            {
                throw Fail($"tensor {quoted} has data_offsets [{begin}, {end}] with begin after end", name);
            }

            if (end - begin != expectedBytes)
            {
                throw Fail(
                    $"tensor {quoted} has data_offsets [{begin}, {end}] spanning {end - begin} bytes but its shape [{string.Join(", ", shape)}] of {dtype.ToHeaderName()} needs {expectedBytes} bytes",
                    name);
            }

            return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
        }

        void CheckTiling(SafetensorsTensorInfo[] sorted, long bufferLength)
        {
            long previousEnd = 0;
            SafetensorsTensorInfo? previous = null;
            foreach (var info in sorted)
            {
                var quoted = SafetensorsFormatException.Quote(info.Name);
                if (info.End > bufferLength)
                {
                    throw Fail(
                        $"tensor {quoted} has data_offsets [{info.Begin}, {info.End}] outside the data buffer of {bufferLength} bytes",
                        info.Name);
                }

                if (info.Begin < previousEnd)
                {
                    throw Fail(
                        $"tensors {SafetensorsFormatException.Quote(previous!.Name)} (data_offsets [{previous.Begin}, {previous.End}]) and {quoted} (data_offsets [{info.Begin}, {info.End}]) overlap",
                        info.Name);
                }

                if (info.Begin > previousEnd)
                {
                    var after = previous is null ? "the start of the data buffer" : $"tensor {SafetensorsFormatException.Quote(previous.Name)}";
                    throw Fail(
                        $"hole of {info.Begin - previousEnd} unused bytes at [{previousEnd}, {info.Begin}) between {after} and tensor {quoted}",
                        info.Name);
                }

                previousEnd = info.End;
                previous = info;
            }

            if (previousEnd != bufferLength)
            {
                var after = previous is null ? "(no tensors)" : $"after the last tensor {SafetensorsFormatException.Quote(previous.Name)}";
                throw Fail(
                    $"hole of {bufferLength - previousEnd} unused bytes at the end of the data buffer {after}; tensors must cover the {bufferLength}-byte data buffer exactly");
            }
        }

        SafetensorsFormatException Fail(string problem, string? tensor = null, Exception? inner = null) =>
            new(problem, path, tensor, inner);
    }

    private static bool TryGetOffset(JsonElement element, out long value)
    {
        value = 0;
        return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out value) && value >= 0;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    private static string Shorten(string rawJson)
    {
        const int MaxShown = 80;
        var text = SafetensorsFormatException.OneLine(rawJson);
        return text.Length <= MaxShown ? text : string.Concat(text.AsSpan(0, MaxShown), "...");
    }
}
