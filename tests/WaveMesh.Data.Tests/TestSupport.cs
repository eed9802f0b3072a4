using System.Buffers.Binary;
using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace WaveMesh.Data.Tests;

/// <summary>A fresh folder under the temp directory, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wavemesh-data-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Writes IDX files by hand, independently of the reader under test.</summary>
internal static class IdxFile
{
    public static byte[] Bytes(int[] dims, byte[] data, byte type = 0x08)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = type;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i, 4), dims[i]);
        }
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static byte[] Gzip(byte[] raw)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(raw);
        }
        return output.ToArray();
    }

    /// <summary>Decompresses a gzip file with nothing but the BCL.</summary>
    public static byte[] Gunzip(string path)
    {
        using var file = System.IO.File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }
}

internal static class Datasets
{
    /// <summary>
    /// A dataset whose image n encodes n in its first two pixels (n % 256, n / 256) and whose label
    /// is n % classes, so every batch can be traced back to the samples it holds.
    /// </summary>
    public static ImageDataset Indexed(int count, int classes = 10, int side = 2)
    {
        int plane = side * side;
        var pixels = new byte[count * plane];
        var labels = new long[count];
        for (int n = 0; n < count; n++)
        {
            pixels[n * plane] = (byte)(n % 256);
            pixels[n * plane + 1] = (byte)(n / 256);
            labels[n] = n % classes;
        }
        return new ImageDataset("indexed", torch.tensor(pixels, [count, 1, side, side], ScalarType.Byte), torch.tensor(labels, [count], ScalarType.Int64), classes);
    }

    /// <summary>The sample indices encoded in inputs produced with <see cref="Normalization.None"/>.</summary>
    public static long[] DecodeIndices(Tensor inputs)
    {
        long batch = inputs.shape[0];
        long plane = inputs.shape[1] * inputs.shape[2] * inputs.shape[3];
        float[] values = inputs.cpu().data<float>().ToArray();
        var indices = new long[batch];
        for (int b = 0; b < batch; b++)
        {
            long low = (long)Math.Round(values[b * plane] * 255.0);
            long high = (long)Math.Round(values[b * plane + 1] * 255.0);
            indices[b] = low + 256 * high;
        }
        return indices;
    }

    /// <summary>A dataset of seeded random pixels; channel c is drawn from a range that differs per channel.</summary>
    public static ImageDataset Random(int count, int channels, int side, int seed)
    {
        var random = new Random(seed);
        int plane = side * side;
        var pixels = new byte[count * channels * plane];
        for (int n = 0; n < count; n++)
        {
            for (int c = 0; c < channels; c++)
            {
                int low = 60 * c, high = 256 - 20 * c;
                for (int k = 0; k < plane; k++)
                {
                    pixels[(n * channels + c) * plane + k] = (byte)random.Next(low, high);
                }
            }
        }
        var labels = new long[count];
        for (int n = 0; n < count; n++) labels[n] = n % 10;
        return new ImageDataset("random", torch.tensor(pixels, [count, channels, side, side], ScalarType.Byte), torch.tensor(labels, [count], ScalarType.Int64), 10);
    }
}

internal static class TensorAssertions
{
    /// <summary>Same shape, dtype and every element equal.</summary>
    public static bool SameAs(this Tensor a, Tensor b)
    {
        if (a.dtype != b.dtype || !a.shape.SequenceEqual(b.shape)) return false;
        using var scope = torch.NewDisposeScope();
        return a.eq(b).all().item<bool>();
    }
}
