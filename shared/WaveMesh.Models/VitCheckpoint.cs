using System.Text.RegularExpressions;
using WaveMesh.Safetensors;

namespace WaveMesh.Models;

/// <summary>What a safetensors file says about itself without loading a tensor: a ViT's spec (ours in the metadata, a timm/DeiT file's from its shapes) and the metadata WaveMesh requires.</summary>
public static partial class VitCheckpoint
{
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

    /// <summary>The metadata value, or a clear error naming the file and the key.</summary>
    public static string Require(SafetensorsFile file, string key, string expectedKind) =>
        file.Metadata.TryGetValue(key, out var v) ? v
            : throw new CheckpointMismatchException($"{file.Path}: not a WaveMesh {expectedKind} file (metadata '{key}' missing)");
}
