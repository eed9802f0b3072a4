using System.Text;

namespace WaveMesh.Safetensors.Tests;

/// <summary>
/// Builds safetensors files byte by byte, independently of <see cref="SafetensorsWriter"/>:
/// an 8-byte little-endian length, the header JSON text as written by the test, then the data bytes.
/// </summary>
internal static class HandMade
{
    /// <summary>A file whose header length is the UTF-8 length of <paramref name="headerJson"/>.</summary>
    public static byte[] File(string headerJson, params byte[][] data)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        return FileWithRawHeader((ulong)header.Length, header, data);
    }

    /// <summary>A file whose length prefix says <paramref name="declaredHeaderLength"/>, whatever follows.</summary>
    public static byte[] FileWithRawHeader(ulong declaredHeaderLength, byte[] header, params byte[][] data)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < 8; i++)
        {
            bytes.Add((byte)(declaredHeaderLength >> (8 * i)));
        }

        bytes.AddRange(header);
        foreach (var part in data)
        {
            bytes.AddRange(part);
        }

        return bytes.ToArray();
    }

    /// <summary>Little-endian IEEE binary32 bytes.</summary>
    public static byte[] F32(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            var bits = BitConverter.SingleToUInt32Bits(values[i]);
            bytes[(i * 4) + 0] = (byte)bits;
            bytes[(i * 4) + 1] = (byte)(bits >> 8);
            bytes[(i * 4) + 2] = (byte)(bits >> 16);
            bytes[(i * 4) + 3] = (byte)(bits >> 24);
        }

        return bytes;
    }

    /// <summary>Little-endian 16-bit patterns (F16, BF16, U16 data).</summary>
    public static byte[] U16(params ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++)
        {
            bytes[(i * 2) + 0] = (byte)values[i];
            bytes[(i * 2) + 1] = (byte)(values[i] >> 8);
        }

        return bytes;
    }

    /// <summary>Little-endian 64-bit integers.</summary>
    public static byte[] I64(params long[] values)
    {
        var bytes = new byte[values.Length * 8];
        for (var i = 0; i < values.Length; i++)
        {
            for (var b = 0; b < 8; b++)
            {
                bytes[(i * 8) + b] = (byte)(values[i] >> (8 * b));
            }
        }

        return bytes;
    }

    /// <summary><paramref name="count"/> bytes 0, 1, 2, ...</summary>
    public static byte[] Counting(int count)
    {
        var bytes = new byte[count];
        for (var i = 0; i < count; i++)
        {
            bytes[i] = (byte)i;
        }

        return bytes;
    }

    /// <summary>The 8-byte little-endian unsigned length at the start of a file.</summary>
    public static ulong HeaderLength(byte[] file)
    {
        ulong length = 0;
        for (var i = 7; i >= 0; i--)
        {
            length = (length << 8) | file[i];
        }

        return length;
    }
}

/// <summary>A fresh folder under the temp directory, deleted afterwards.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        FolderPath = Path.Combine(Path.GetTempPath(), "wavemesh-safetensors-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(FolderPath);
    }

    public string FolderPath { get; }

    public string PathOf(string fileName) => Path.Combine(FolderPath, fileName);

    public string Write(byte[] bytes, string fileName = "model.safetensors")
    {
        var path = PathOf(fileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Names of all files in the folder, hidden ones included, sorted.</summary>
    public string[] FileNames() =>
        Directory.GetFiles(FolderPath).Select(Path.GetFileName).Select(name => name!).Order(StringComparer.Ordinal).ToArray();

    public void Dispose()
    {
        try
        {
            Directory.Delete(FolderPath, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
