using System.Security.Cryptography;
using WaveMesh.Safetensors;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Checkpoints;

/// <summary>Metadata keys WaveMesh writes into the <c>__metadata__</c> of its safetensors files.</summary>
public static class MetadataKeys
{
    public const string Kind = "wavemesh.kind";                       // vit | templates | scalers
    public const string FormatVersion = "wavemesh.format_version";
    public const string Spec = "wavemesh.spec";                       // VitSpec JSON: the model, the target, or the templates' family
    public const string TemplateConfig = "wavemesh.template_config";   // TemplateConfig JSON
    public const string TeacherDigest = "wavemesh.teacher_digest";     // sha256 of the teacher file the templates were distilled from
    public const string TemplatesDigest = "wavemesh.templates_digest"; // sha256 of the templates file the scalers belong to
    public const string Carry = "wavemesh.carry";                     // how non-matrix parameters reach a new size (templates files)
    public const string CurrentFormat = "1";
}

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

    /// <summary>The metadata value, or a clear error naming the file and the key.</summary>
    public static string Require(SafetensorsFile file, string key, string expectedKind) =>
        file.Metadata.TryGetValue(key, out var v) ? v
            : throw new CheckpointMismatchException($"{file.Path}: not a WaveMesh {expectedKind} file (metadata '{key}' missing)");
}
