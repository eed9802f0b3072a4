using System.Text.RegularExpressions;
using WaveMesh.Engine.Vit;
using WaveMesh.Safetensors;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Checkpoints;

/// <summary>Plain ViT checkpoints with timm names: ours (spec in metadata) and timm/DeiT files (spec read from the shapes).</summary>
public static partial class ModelFile
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
        var spec = SpecOf(file, heads);
        using var scope = NewDisposeScope();
        return new VisionTransformer(spec, TensorFile.ReadAll(file), device);
    }

    /// <summary>The spec stored in the metadata, or the one a timm ViT file's tensor shapes imply.</summary>
    public static VitSpec SpecOf(SafetensorsFile file, int? heads = null)
    {
        if (file.Metadata.TryGetValue(MetadataKeys.Spec, out var json))
        {
            if (file.Metadata.TryGetValue(MetadataKeys.Kind, out var kind) && kind != "vit")
                throw new CheckpointMismatchException($"{file.Path} holds WaveMesh {kind}, not a ViT model");
            var stored = VitSpec.FromJson(json);
            if (heads is not null && heads != stored.Heads)
                throw new SpecException($"{file.Path} was saved with {stored.Heads} heads; --heads {heads} contradicts it");
            return stored.Validated();
        }
        return InferFromShapes(file, heads);
    }

    static VitSpec InferFromShapes(SafetensorsFile file, int? heads)
    {
        long[] Shape(string name) => file.Contains(name) ? file[name].Shape
            : throw new CheckpointMismatchException($"{file.Path}: not a ViT checkpoint with timm names (missing tensor '{name}')");
        var patch = Shape("patch_embed.proj.weight");
        var pos = Shape("pos_embed");
        var fc1 = Shape("blocks.0.mlp.fc1.weight");
        var head = Shape("head.weight");
        if (patch.Length != 4 || pos.Length != 3 || fc1.Length != 2 || head.Length != 2)
            throw new CheckpointMismatchException($"{file.Path}: unexpected ranks for patch_embed.proj.weight {TensorLayout.Shape(patch)}, pos_embed {TensorLayout.Shape(pos)}, blocks.0.mlp.fc1.weight {TensorLayout.Shape(fc1)} or head.weight {TensorLayout.Shape(head)}");
        bool token = file.Contains("cls_token");
        long width = patch[0], patches = pos[1] - (token ? 1 : 0);
        long grid = (long)Math.Round(Math.Sqrt(patches));
        if (grid * grid != patches)
            throw new CheckpointMismatchException($"{file.Path}: pos_embed {TensorLayout.Shape(pos)} does not describe a square grid of patches");
        if (fc1[0] % width != 0)
            throw new CheckpointMismatchException($"{file.Path}: MLP width {fc1[0]} is not a multiple of the width {width}");
        int depth = file.Tensors.Select(t => BlockIndex().Match(t.Name)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value)).DefaultIfEmpty(-1).Max() + 1;
        int h = heads ?? (width % 64 == 0 ? (int)(width / 64) : 0);
        if (h == 0)
            throw new SpecException($"{file.Path} does not record its head count and width {width} is not a multiple of 64: pass --heads");
        var spec = new VitSpec
        {
            ImageSize = (int)(grid * patch[2]), Channels = (int)patch[1], PatchSize = (int)patch[2],
            Depth = depth, Width = (int)width, Heads = h, MlpRatio = (int)(fc1[0] / width),
            Classes = (int)head[0], Pooling = token ? Pooling.Token : Pooling.Mean,
        };
        return spec.Validated();
    }

    [GeneratedRegex(@"^blocks\.(\d+)\.")]
    private static partial Regex BlockIndex();
}
