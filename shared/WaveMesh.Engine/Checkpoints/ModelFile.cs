using WaveMesh.Engine.Vit;
using WaveMesh.Safetensors;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Checkpoints;

/// <summary>Plain ViT checkpoints with timm names: ours (spec in metadata) and timm/DeiT files (spec read from the shapes).</summary>
public static class ModelFile
{
    public static void Save(VisionTransformer model, string path, IReadOnlyDictionary<string, string>? extra = null)
    {
        var metadata = new Dictionary<string, string>(extra ?? new Dictionary<string, string>())
        {
            [MetadataKeys.Kind] = "vit",
            [MetadataKeys.FormatVersion] = MetadataKeys.CurrentFormat,
            [MetadataKeys.Spec] = model.Spec.ToJson(),
        };
        var weights = model.Weights();
        TensorFile.Save(path, VitLayout.Of(model.Spec).Select(t => KeyValuePair.Create(t.Name, weights[t.Name])), metadata);
    }

    /// <summary>Loads a ViT; <paramref name="heads"/> is needed only for a file without WaveMesh metadata (default: width / 64, timm's head size).</summary>
    public static VisionTransformer Load(string path, Device? device = null, int? heads = null)
    {
        using var file = SafetensorsFile.Open(path);
        var spec = VitCheckpoint.SpecOf(file, heads);
        using var scope = NewDisposeScope();
        return new VisionTransformer(spec, TensorFile.ReadAll(file), device);
    }
}
