using System.Buffers.Binary;
using System.IO.Compression;

namespace WaveMesh.Data;

/// <summary>
/// Reads IDX files (the MNIST container format): two zero bytes, an element-type byte, a
/// dimension-count byte, one big-endian int32 per dimension, then the elements. Gzip-compressed
/// files are recognised by their magic bytes (1f 8b), whatever their name.
/// </summary>
public static class IdxReader
{
    /// <summary>The only element type needed for image datasets: unsigned byte.</summary>
    public const byte UnsignedByteType = 0x08;

    /// <summary>
    /// Reads a whole IDX file of unsigned bytes. Decompresses straight into the returned array
    /// (one allocation of exactly the data size).
    /// </summary>
    /// <exception cref="DatasetNotFoundException">The file does not exist.</exception>
    /// <exception cref="DatasetFormatException">Bad magic, unsupported type, truncated data or a length that does not match the dimensions.</exception>
    public static (byte[] Data, int[] Dims) Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new DatasetNotFoundException($"IDX file not found: {path} does not exist: check the path or pass the folder that holds it")
            {
                MissingPath = path,
            };
        }

        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        Span<byte> signature = stackalloc byte[2];
        int signatureLength = file.ReadAtLeast(signature, 2, throwOnEndOfStream: false);
        file.Position = 0;
        bool gzip = signatureLength == 2 && signature[0] == 0x1f && signature[1] == 0x8b;

        try
        {
            if (gzip)
            {
                using var inflater = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
                return ReadBody(inflater, path, compressed: true, rawLength: -1);
            }
            return ReadBody(file, path, compressed: false, rawLength: file.Length);
        }
        catch (InvalidDataException e)
        {
            throw new DatasetFormatException($"Corrupt gzip data in IDX file {path}: {OneLine(e.Message)}", e);
        }
    }

    private static (byte[] Data, int[] Dims) ReadBody(Stream stream, string path, bool compressed, long rawLength)
    {
        string what = compressed ? "gzipped IDX file" : "IDX file";

        Span<byte> header = stackalloc byte[4];
        int got = stream.ReadAtLeast(header, 4, throwOnEndOfStream: false);
        if (got < 4)
        {
            throw new DatasetFormatException($"Truncated {what} {path}: only {got} byte(s), shorter than the 4-byte IDX header");
        }
        if (header[0] != 0 || header[1] != 0)
        {
            throw new DatasetFormatException(
                $"Bad IDX magic in {path}: starts with 0x{header[0]:X2} 0x{header[1]:X2} 0x{header[2]:X2} 0x{header[3]:X2}, expected 0x00 0x00 <type> <ndims>");
        }

        byte type = header[2];
        if (type != UnsignedByteType)
        {
            throw new DatasetFormatException(
                $"Unsupported IDX element type 0x{type:X2} ({TypeName(type)}) in {path}: only 0x08 (unsigned byte) is supported");
        }

        int ndims = header[3];
        if (ndims == 0)
        {
            throw new DatasetFormatException($"Bad IDX header in {path}: it declares 0 dimensions");
        }

        byte[] dimBytes = new byte[4 * ndims];
        got = stream.ReadAtLeast(dimBytes, dimBytes.Length, throwOnEndOfStream: false);
        if (got < dimBytes.Length)
        {
            throw new DatasetFormatException(
                $"Truncated {what} {path}: the header declares {ndims} dimension(s) but ends after {got} of their {dimBytes.Length} bytes");
        }

        var dims = new int[ndims];
        long expected = 1;
        for (int i = 0; i < ndims; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(dimBytes.AsSpan(4 * i, 4));
            if (dims[i] < 0)
            {
                throw new DatasetFormatException($"Bad IDX header in {path}: dimension {i} is negative ({dims[i]})");
            }
            expected *= dims[i];
            if (expected > Array.MaxLength)
            {
                throw new DatasetFormatException(
                    $"Bad IDX header in {path}: dimensions [{string.Join(", ", dims.Take(i + 1))}, ...] imply more than {Array.MaxLength} bytes");
            }
        }

        long headerLength = 4 + dimBytes.Length;
        if (rawLength >= 0 && rawLength - headerLength != expected)
        {
            // Uncompressed: the exact length is known up front, so report it precisely.
            throw new DatasetFormatException(Mismatch(path, what, dims, expected, rawLength - headerLength));
        }

        byte[] data = GC.AllocateUninitializedArray<byte>((int)expected);
        got = stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (got < data.Length)
        {
            throw new DatasetFormatException(Mismatch(path, what, dims, expected, got));
        }

        // Anything after the declared data means the dimensions do not describe the file.
        long extra = CountRemaining(stream);
        if (extra > 0)
        {
            throw new DatasetFormatException(Mismatch(path, what, dims, expected, expected + extra));
        }

        return (data, dims);
    }

    private static string Mismatch(string path, string what, int[] dims, long expected, long actual)
    {
        string problem = actual < expected ? "truncated" : "longer than its dimensions";
        return $"Bad {what} {path} ({problem}): dimensions [{string.Join(", ", dims)}] need {expected} data bytes but it holds {actual}";
    }

    private static long CountRemaining(Stream stream)
    {
        Span<byte> buffer = stackalloc byte[4096];
        long total = 0;
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            total += n;
        }
        return total;
    }

    private static string TypeName(byte type) => type switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown type",
    };

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
