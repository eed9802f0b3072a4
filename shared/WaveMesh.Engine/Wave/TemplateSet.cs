using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Vit;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Wave;

/// <summary>
/// The learngene: N_k templates per kind, shared by every layer and every target size, plus the few parameters
/// that do not depend on size (the head bias). Stored under the kind's key, e.g. "blocks.attn.qkv.weight" [N, w, w].
/// </summary>
public sealed class TemplateSet : nn.Module
{
    /// <summary>The family every target shares (input, classes, pooling, MLP ratio); its depth and width are the auxiliary model's.</summary>
    public VitSpec Family { get; }
    public TemplateConfig Config { get; }
    public IReadOnlyList<TemplateKind> Kinds { get; }

    TemplateSet(VitSpec family, TemplateConfig config) : base("TemplateSet")
    {
        config.Check(family);
        Family = family;
        Config = config;
        Kinds = TemplateKinds.For(family, config.Carry);
    }

    /// <summary>Expected shape of every stored tensor, by key.</summary>
    public static Dictionary<string, long[]> Layout(VitSpec family, TemplateConfig config)
    {
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var k in TemplateKinds.For(family, config.Carry).Where(k => k.IsTemplated))
        {
            var (a, b) = k.Template(family, config.TemplateSize);
            shapes[k.Key] = [config.Count(k.Category), a, b];
        }
        foreach (var name in TemplateKinds.Free)
            shapes[name] = VitLayout.Of(family).Single(t => t.Name == name).Shape;
        return shapes;
    }

    /// <summary>
    /// Fresh templates: matrices and embeddings ~ trunc-normal(0.02) (with scalers ~ N(0, 1/N) the composed weights then
    /// have std about 0.02, as timm's init), the patch projection at PyTorch's conv scale, vectors and the head bias zero.
    /// </summary>
    public static TemplateSet Create(VitSpec family, TemplateConfig config, long seed, Device? device = null)
    {
        var set = new TemplateSet(family, config);
        using var g = new Generator((ulong)seed, CPU);
        using var scope = NewDisposeScope();
        foreach (var (key, shape) in Layout(family, config))
        {
            var kind = set.Kinds.FirstOrDefault(k => k.Key == key);
            var t = zeros(shape, ScalarType.Float32);
            if (kind?.Category == TemplateCategory.Embedding && kind.Name.StartsWith("patch_embed"))
                t.normal_(0, 1.0 / Math.Sqrt(3.0 * family.PatchDim), g);
            else if (kind is { Category: TemplateCategory.Matrix or TemplateCategory.Embedding })
                TruncatedNormal.Fill(t, 0.02, g);
            ParameterTree.Add(set, key, t.to(device ?? CPU).MoveToOuterDisposeScope());
        }
        return set;
    }

    /// <summary>Templates from stored tensors (copied); names and shapes are checked against the family and config.</summary>
    public static TemplateSet FromTensors(VitSpec family, TemplateConfig config, IReadOnlyDictionary<string, Tensor> tensors, Device? device = null)
    {
        var set = new TemplateSet(family, config);
        var layout = Layout(family, config);
        TensorLayout.Check("templates do not match their configuration", layout, TensorShapes.Of(tensors));
        using var scope = NewDisposeScope();
        foreach (var (key, _) in layout)
            ParameterTree.Add(set, key, tensors[key].to(ScalarType.Float32, device ?? CPU, copy: true).detach().MoveToOuterDisposeScope());
        return set;
    }

    public Dictionary<string, Tensor> Tensors() => ParameterTree.Named(this);

    public Tensor this[string key] => Tensors()[key];

    public long TemplateParameterCount => parameters().Sum(p => p.numel());
}
