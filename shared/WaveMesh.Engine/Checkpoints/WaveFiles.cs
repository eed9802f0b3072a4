using System.Text.Json;
using WaveMesh.Engine.Wave;
using WaveMesh.Safetensors;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Checkpoints;

/// <summary>What a templates file says about itself.</summary>
public sealed record TemplatesInfo(VitSpec Family, TemplateConfig Config, string? TeacherDigest);

/// <summary>What a scalers file says about itself.</summary>
public sealed record ScalersInfo(VitSpec Target, TemplateConfig Config, string? TemplatesDigest);

/// <summary>Templates and scalers as safetensors files whose metadata says what they are and where they came from.</summary>
public static class WaveFiles
{
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow };

    public static string ToJson(TemplateConfig c) => JsonSerializer.Serialize(c, Json);

    public static TemplateConfig ConfigFromJson(string json) =>
        JsonSerializer.Deserialize<TemplateConfig>(json, Json) ?? throw new SpecException("empty template configuration");

    public static void SaveTemplates(TemplateSet templates, string path, string? teacherDigest)
    {
        var metadata = new Dictionary<string, string>
        {
            [MetadataKeys.Kind] = "templates",
            [MetadataKeys.FormatVersion] = MetadataKeys.CurrentFormat,
            [MetadataKeys.Spec] = templates.Family.ToJson(),
            [MetadataKeys.TemplateConfig] = ToJson(templates.Config),
            [MetadataKeys.TemplateSize] = templates.Config.TemplateSize.ToString(),
            [MetadataKeys.TemplateCounts] = $"matrix={templates.Config.MatrixTemplates},vector={templates.Config.VectorTemplates},embedding={templates.Config.EmbeddingTemplates}",
            [MetadataKeys.Carry] = Describe(templates.Config.Carry),
        };
        if (teacherDigest is not null) metadata[MetadataKeys.TeacherDigest] = teacherDigest;
        var tensors = templates.Tensors();
        TensorFile.Save(path, TemplateSet.Layout(templates.Family, templates.Config).Select(kv => KeyValuePair.Create(kv.Key, tensors[kv.Key])), metadata);
    }

    /// <summary>How each non-matrix group is carried, e.g. "vectors=scalers,pos_embed=shared,cls_token=shared,patch_embed=shared,head=templated".</summary>
    public static string Describe(CarryConfig c) => string.Join(",",
        new[] { ("vectors", c.Vectors), ("pos_embed", c.PosEmbed), ("cls_token", c.ClsToken), ("patch_embed", c.PatchEmbed), ("head", c.Head) }
            .Select(x => $"{x.Item1}={JsonNamingPolicy.SnakeCaseLower.ConvertName(x.Item2.ToString())}"));

    public static (TemplateSet Templates, TemplatesInfo Info) LoadTemplates(string path, Device? device = null)
    {
        using var file = SafetensorsFile.Open(path);
        var info = ReadTemplatesInfo(file);
        using var scope = NewDisposeScope();
        return (TemplateSet.FromTensors(info.Family, info.Config, TensorFile.ReadAll(file), device), info);
    }

    public static TemplatesInfo ReadTemplatesInfo(SafetensorsFile file)
    {
        ExpectKind(file, "templates");
        return new TemplatesInfo(VitSpec.FromJson(VitCheckpoint.Require(file, MetadataKeys.Spec, "templates")),
            ConfigFromJson(VitCheckpoint.Require(file, MetadataKeys.TemplateConfig, "templates")),
            file.Metadata.GetValueOrDefault(MetadataKeys.TeacherDigest));
    }

    public static void SaveScalers(ScalerSet scalers, string path, string? templatesDigest)
    {
        var metadata = new Dictionary<string, string>
        {
            [MetadataKeys.Kind] = "scalers",
            [MetadataKeys.FormatVersion] = MetadataKeys.CurrentFormat,
            [MetadataKeys.Spec] = scalers.Target.ToJson(),
            [MetadataKeys.TemplateConfig] = ToJson(scalers.Config),
            [MetadataKeys.Target] = scalers.Target.Describe(),
        };
        if (templatesDigest is not null) metadata[MetadataKeys.TemplatesDigest] = templatesDigest;
        var tensors = scalers.Tensors();
        TensorFile.Save(path, ScalerSet.Layout(scalers.Target, scalers.Config).Select(kv => KeyValuePair.Create(kv.Key, tensors[kv.Key])), metadata);
    }

    public static (ScalerSet Scalers, ScalersInfo Info) LoadScalers(string path, Device? device = null)
    {
        using var file = SafetensorsFile.Open(path);
        ExpectKind(file, "scalers");
        var info = new ScalersInfo(VitSpec.FromJson(VitCheckpoint.Require(file, MetadataKeys.Spec, "scalers")),
            ConfigFromJson(VitCheckpoint.Require(file, MetadataKeys.TemplateConfig, "scalers")),
            file.Metadata.GetValueOrDefault(MetadataKeys.TemplatesDigest));
        using var scope = NewDisposeScope();
        return (ScalerSet.FromTensors(info.Target, info.Config, TensorFile.ReadAll(file), device), info);
    }

    static void ExpectKind(SafetensorsFile file, string kind)
    {
        var actual = VitCheckpoint.Require(file, MetadataKeys.Kind, kind);
        if (actual != kind) throw new CheckpointMismatchException($"{file.Path} holds WaveMesh {actual}, not {kind}");
    }
}
