using System.Buffers.Binary;
using System.Formats.Tar;

namespace WaveMesh.Testing;

/// <summary>Data sets small enough to write by hand: Fashion-MNIST's four IDX files with a few 28x28 images.</summary>
public static class TinyDatasets
{
    /// <summary>
    /// The four files (name -> bytes) with <paramref name="train"/> and <paramref name="test"/> images; every pixel and
    /// label follows from its index (labels i % 10 for training, 9 - i % 10 for test).
    /// </summary>
    public static Dictionary<string, byte[]> FashionMnistFiles(int train = 30, int test = 10) => new()
    {
        ["train-images-idx3-ubyte"] = Idx([train, 28, 28], i => (byte)(i % 253)),
        ["train-labels-idx1-ubyte"] = Idx([train], i => (byte)(i % 10)),
        ["t10k-images-idx3-ubyte"] = Idx([test, 28, 28], i => (byte)(i % 7 * 30)),
        ["t10k-labels-idx1-ubyte"] = Idx([test], i => (byte)(9 - i % 10)),
    };

    /// <summary>The files written into <paramref name="folder"/> (created).</summary>
    public static string WriteFashionMnist(string folder, int train = 30, int test = 10)
    {
        Directory.CreateDirectory(folder);
        foreach (var (name, bytes) in FashionMnistFiles(train, test)) File.WriteAllBytes(Path.Combine(folder, name), bytes);
        return folder;
    }

    /// <summary>The files as a tar, under <paramref name="prefix"/>, as a user would upload them.</summary>
    public static byte[] FashionMnistTar(int train = 30, int test = 10, string prefix = "fashion-mnist/")
    {
        using var output = new MemoryStream();
        using (var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
            foreach (var (name, bytes) in FashionMnistFiles(train, test))
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, prefix + name) { DataStream = new MemoryStream(bytes) });
        return output.ToArray();
    }

    /// <summary>An IDX file of unsigned bytes: 00 00 08, the number of dimensions, big-endian sizes, the values.</summary>
    static byte[] Idx(int[] dims, Func<int, byte> value)
    {
        int count = dims.Aggregate(1, (a, b) => a * b), header = 4 + 4 * dims.Length;
        var bytes = new byte[header + count];
        bytes[2] = 0x08;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        for (int i = 0; i < count; i++) bytes[header + i] = value(i);
        return bytes;
    }
}
