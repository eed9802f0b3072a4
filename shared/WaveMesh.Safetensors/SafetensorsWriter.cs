using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace WaveMesh.Safetensors;

/// <summary>Writes F32 tensors in the safetensors format.</summary>
public static class SafetensorsWriter
{
    /// <summary>Bytes handed to the destination stream per write call.</summary>
    private const int ChunkBytes = 1 << 20;

    /// <summary>One F32 tensor to write.</summary>
    /// <param name="Name">Tensor name; must be unique and not "__metadata__".</param>
    /// <param name="Shape">Dimensions (empty for a scalar); their product must equal <paramref name="Data"/>'s length.</param>
    /// <param name="Data">Values in row-major order.</param>
    public sealed record Entry(string Name, long[] Shape, ReadOnlyMemory<float> Data);

    /// <summary>
    /// Writes a safetensors file to <paramref name="destination"/>: tensors in the order given with contiguous offsets,
    /// the header padded with spaces so that the data starts at a multiple of 8. Every entry is validated before the
    /// first byte is written. The stream is neither flushed nor disposed, and need not be seekable.
    /// </summary>
    /// <exception cref="ArgumentException">A name is duplicated or reserved, or a shape does not match its data.</exception>
    public static void Write(Stream destination, IEnumerable<Entry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(tensors);
        if (!destination.CanWrite)
        {
            throw new ArgumentException("The destination stream is not writable.", nameof(destination));
        }

        var entries = Validate(tensors);
        var header = BuildHeader(entries, metadata);

        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        destination.Write(prefix);
        destination.Write(header);

        byte[]? buffer = BitConverter.IsLittleEndian ? null : ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            foreach (var entry in entries)
            {
                WriteData(destination, entry.Data.Span, buffer);
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// Writes a safetensors file atomically: a temporary file in the same folder is written, flushed to disk and then
    /// renamed over <paramref name="path"/>. On any failure the temporary file is deleted and an existing file at
    /// <paramref name="path"/> is left untouched.
    /// </summary>
    public static void WriteFile(string path, IEnumerable<Entry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);

        var fullPath = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(fullPath)
            ?? throw new ArgumentException($"'{path}' does not name a file.", nameof(path));
        var fileName = Path.GetFileName(fullPath);
        if (fileName.Length == 0)
        {
            throw new ArgumentException($"'{path}' does not name a file.", nameof(path));
        }

        // Hidden, unique, and short enough to stay within file name limits.
        var stem = fileName.Length > 100 ? "safetensors" : fileName;
        var tempPath = Path.Combine(folder, $".{stem}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(
                tempPath,
                new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    Share = FileShare.None,
                    BufferSize = 0,
                }))
            {
                Write(stream, tensors, metadata);
                stream.Flush(flushToDisk: true);
            }

            File.Move(tempPath, fullPath, overwrite: true);
        }
        catch
        {
            TryDelete(tempPath);
            throw;
        }
    }

    private static List<Entry> Validate(IEnumerable<Entry> tensors)
    {
        var entries = new List<Entry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        long totalBytes = 0;
        foreach (var entry in tensors)
        {
            if (entry is null)
            {
                throw new ArgumentException($"Tensor entry {entries.Count} is null.", nameof(tensors));
            }

            if (entry.Name is null)
            {
                throw new ArgumentException($"Tensor entry {entries.Count} has no name.", nameof(tensors));
            }

            var quoted = SafetensorsFormatException.Quote(entry.Name);
            if (entry.Name == "__metadata__")
            {
                throw new ArgumentException("A tensor cannot be called '__metadata__'; that key is reserved for metadata.", nameof(tensors));
            }

            if (!names.Add(entry.Name))
            {
                throw new ArgumentException($"Tensor {quoted} appears more than once.", nameof(tensors));
            }

            if (entry.Shape is null)
            {
                throw new ArgumentException($"Tensor {quoted} has no shape.", nameof(tensors));
            }

            // Clamped above any possible Data.Length, so a huge shape cannot overflow yet still mismatches.
            const long Clamp = (long)int.MaxValue + 1;
            long count = 1;
            foreach (var dim in entry.Shape)
            {
                if (dim < 0)
                {
                    throw new ArgumentException(
                        $"Tensor {quoted} has a negative dimension in shape [{string.Join(", ", entry.Shape)}].", nameof(tensors));
                }

                count = (long)Int128.Min((Int128)count * dim, Clamp);
            }

            if (count != entry.Data.Length)
            {
                var described = count == Clamp ? "too many" : count.ToString(System.Globalization.CultureInfo.InvariantCulture);
                throw new ArgumentException(
                    $"Tensor {quoted} has shape [{string.Join(", ", entry.Shape)}] ({described} elements) but {entry.Data.Length} values.",
                    nameof(tensors));
            }

            totalBytes = checked(totalBytes + (long)entry.Data.Length * sizeof(float));
            entries.Add(entry);
        }

        return entries;
    }

    private static byte[] BuildHeader(List<Entry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions
        {
            // Names are written as they are (é, +, <) rather than \u-escaped; the header is never embedded in HTML.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            Indented = false,
        }))
        {
            writer.WriteStartObject();
            if (metadata is not null)
            {
                writer.WritePropertyName("__metadata__");
                writer.WriteStartObject();
                foreach (var (key, value) in metadata.OrderBy(static pair => pair.Key, StringComparer.Ordinal))
                {
                    if (key is null || value is null)
                    {
                        throw new ArgumentException("Metadata keys and values must not be null.", nameof(metadata));
                    }

                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
            }

            long offset = 0;
            foreach (var entry in entries)
            {
                var end = offset + ((long)entry.Data.Length * sizeof(float));
                writer.WritePropertyName(entry.Name);
                writer.WriteStartObject();
                writer.WriteString("dtype", "F32");
                writer.WritePropertyName("shape");
                writer.WriteStartArray();
                foreach (var dim in entry.Shape)
                {
                    writer.WriteNumberValue(dim);
                }

                writer.WriteEndArray();
                writer.WritePropertyName("data_offsets");
                writer.WriteStartArray();
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(end);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset = end;
            }

            writer.WriteEndObject();
        }

        // Pad with spaces so that 8 + N is a multiple of 8 (N itself then is one too).
        var length = json.WrittenCount;
        var padded = (length + 7) & ~7;
        var header = new byte[padded];
        json.WrittenSpan.CopyTo(header);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }

    private static void WriteData(Stream destination, ReadOnlySpan<float> values, byte[]? buffer)
    {
        if (buffer is null)
        {
            // Little-endian machine: the in-memory bytes are already the file's bytes.
            var bytes = MemoryMarshal.AsBytes(values);
            while (!bytes.IsEmpty)
            {
                var chunk = bytes[..Math.Min(bytes.Length, ChunkBytes)];
                destination.Write(chunk);
                bytes = bytes[chunk.Length..];
            }

            return;
        }

        var perChunk = buffer.Length / sizeof(float);
        while (!values.IsEmpty)
        {
            var count = Math.Min(values.Length, perChunk);
            for (var i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * sizeof(float)), values[i]);
            }

            destination.Write(buffer, 0, count * sizeof(float));
            values = values[count..];
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
