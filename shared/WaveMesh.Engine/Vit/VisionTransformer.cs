using static TorchSharp.torch;

namespace WaveMesh.Engine.Vit;

/// <summary>A plain ViT with timm's parameter names; what stage 3 trains and what a teacher is.</summary>
public sealed class VisionTransformer : nn.Module<Tensor, Tensor>
{
    public VitSpec Spec { get; }

    /// <summary>Builds the model from named weights (copied); names and shapes must match <paramref name="spec"/> exactly.</summary>
    public VisionTransformer(VitSpec spec, IReadOnlyDictionary<string, Tensor> weights, Device? device = null) : base("VisionTransformer")
    {
        Spec = spec.Validated();
        VitLayout.Check(spec, weights.ToDictionary(kv => kv.Key, kv => kv.Value.shape));
        using var scope = NewDisposeScope();
        foreach (var t in VitLayout.Of(spec))
        {
            var value = weights[t.Name].to(ScalarType.Float32, device ?? CPU, copy: true).detach();
            ParameterTree.Add(this, t.Name, value.MoveToOuterDisposeScope());
        }
    }

    /// <summary>A freshly initialised model, as timm/DeiT do it: trunc-normal(0.02) linears and position embedding, zero biases, LayerNorm (1, 0).</summary>
    public static VisionTransformer Create(VitSpec spec, long seed, Device? device = null)
    {
        using var scope = NewDisposeScope();
        return new VisionTransformer(spec, TimmInit(spec, seed), device);
    }

    public override Tensor forward(Tensor images)
    {
        var w = ParameterTree.Named(this);
        return VitForward.Logits(Spec, name => w[name], images);
    }

    /// <summary>The weights by timm name (the live parameters, not copies).</summary>
    public Dictionary<string, Tensor> Weights() => ParameterTree.Named(this);

    /// <summary>timm's initialisation of every tensor of <paramref name="s"/>, drawn from a generator seeded with <paramref name="seed"/>.</summary>
    public static Dictionary<string, Tensor> TimmInit(VitSpec s, long seed)
    {
        using var g = new Generator((ulong)seed, CPU);
        var w = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var t in VitLayout.Of(s))
        {
            string name = t.Name;
            bool layerNormGain = name.EndsWith(".weight") && t.Shape.Length == 1;
            var x = layerNormGain ? ones(t.Shape, ScalarType.Float32) : zeros(t.Shape, ScalarType.Float32);
            if (name == "cls_token") x.normal_(0, 1e-6, g);
            else if (name == "pos_embed") TruncatedNormal.Fill(x, 0.02, g);
            else if (name.StartsWith("patch_embed.proj."))
            {
                // The patch projection is a Conv2d that timm leaves at PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
                double bound = 1.0 / Math.Sqrt(s.PatchDim);
                x.uniform_(-bound, bound, g);
            }
            else if (layerNormGain) { }
            else if (name.EndsWith(".weight")) TruncatedNormal.Fill(x, 0.02, g);
            w[name] = x;
        }
        return w;
    }
}
