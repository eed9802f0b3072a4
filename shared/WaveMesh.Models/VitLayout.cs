namespace WaveMesh.Models;

/// <summary>One named parameter of a ViT and its shape (timm names, PyTorch layout).</summary>
public sealed record VitTensor(string Name, long[] Shape);

/// <summary>The parameters a <see cref="VitSpec"/> has, in timm's order and with timm's names.</summary>
public static class VitLayout
{
    public static string Block(int layer, string suffix) => $"blocks.{layer}.{suffix}";

    /// <summary>Names inside a block, in timm's order.</summary>
    public static readonly string[] BlockSuffixes =
    [
        "norm1.weight", "norm1.bias",
        "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
        "norm2.weight", "norm2.bias",
        "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    ];

    public static IReadOnlyList<VitTensor> Of(VitSpec s)
    {
        long d = s.Width, h = s.Hidden;
        var list = new List<VitTensor>();
        if (s.Pooling == Pooling.Token) list.Add(new("cls_token", [1, 1, d]));
        list.Add(new("pos_embed", [1, s.Tokens, d]));
        list.Add(new("patch_embed.proj.weight", [d, s.Channels, s.PatchSize, s.PatchSize]));
        list.Add(new("patch_embed.proj.bias", [d]));
        for (int l = 0; l < s.Depth; l++)
        {
            foreach (var suffix in BlockSuffixes)
                list.Add(new(Block(l, suffix), BlockShape(suffix, d, h)));
        }
        list.Add(new($"{s.FinalNorm}.weight", [d]));
        list.Add(new($"{s.FinalNorm}.bias", [d]));
        list.Add(new("head.weight", [s.Classes, d]));
        list.Add(new("head.bias", [s.Classes]));
        return list;
    }

    static long[] BlockShape(string suffix, long d, long h) => suffix switch
    {
        "attn.qkv.weight" => [3 * d, d],
        "attn.qkv.bias" => [3 * d],
        "attn.proj.weight" => [d, d],
        "mlp.fc1.weight" => [h, d],
        "mlp.fc1.bias" => [h],
        "mlp.fc2.weight" => [d, h],
        _ => [d],
    };

    /// <summary>Throws a <see cref="CheckpointMismatchException"/> unless <paramref name="shapes"/> is exactly the layout of <paramref name="s"/>.</summary>
    public static void Check(VitSpec s, IReadOnlyDictionary<string, long[]> shapes) =>
        TensorLayout.Check($"weights do not match ViT {s.Describe()}", Of(s).Select(t => KeyValuePair.Create(t.Name, t.Shape)), shapes);
}
