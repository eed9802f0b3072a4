using System.Security.Cryptography;
using WaveMesh.Safetensors;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Checkpoints;

/// <summary>Named float tensors to and from safetensors files; writes are atomic.</summary>
public static class TensorFile
{
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var entries = tensors.Select(kv =>
        {
            using var cpu = kv.Value.detach().to(ScalarType.Float32, CPU).contiguous();
            return new SafetensorsWriter.Entry(kv.Key, kv.Value.shape, cpu.data<float>().ToArray());
        }).ToList();
        SafetensorsWriter.WriteFile(path, entries, metadata);
    }

    /// <summary>Every tensor of an open file as a float32 CPU tensor, in file order.</summary>
    public static Dictionary<string, Tensor> ReadAll(SafetensorsFile file)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var info in file.Tensors)
            result[info.Name] = tensor(file.ReadFloat32(info.Name), info.Shape);
        return result;
    }

    /// <summary>Lower-case hex SHA-256 of a file's bytes: the content address of an artifact.</summary>
    public static string Digest(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>Shapes of named tensors, for <see cref="TensorLayout.Check"/>.</summary>
public static class TensorShapes
{
    public static Dictionary<string, long[]> Of(IReadOnlyDictionary<string, Tensor> tensors) =>
        tensors.ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
}
