using TorchSharp;
using WaveMesh.Engine.Vit;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Wave;

/// <summary>
/// A ViT whose every weight is composed from templates and scalers on each forward, so gradients reach both:
/// the auxiliary model of stage 1 and the target being fitted in stage 2.
/// </summary>
public sealed class TemplatedVit : nn.Module<Tensor, Tensor>
{
    readonly TemplateSet templates;
    readonly ScalerSet scalers;
    readonly Dictionary<string, long[]> shapes;

    public VitSpec Spec => scalers.Target;
    public TemplateSet Templates => templates;
    public ScalerSet Scalers => scalers;

    public TemplatedVit(TemplateSet templates, ScalerSet scalers) : base("TemplatedVit")
    {
        if (scalers.Config != templates.Config)
            throw new SpecException("scalers were made for another template configuration");
        this.templates = templates;
        this.scalers = scalers;
        shapes = VitLayout.Of(scalers.Target).ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);
        // Templates and scalers are deliberately not registered as submodules: they outlive this view of them
        // (one template set serves many targets), so disposing the view must not dispose them.
    }

    /// <summary>Templates and scalers together (the view registers no parameters of its own).</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> Parameters() => templates.parameters().Concat(scalers.parameters());

    public override Tensor forward(Tensor images)
    {
        var w = Compose();
        return VitForward.Logits(Spec, name => w[name], images);
    }

    /// <summary>
    /// Every weight of the target by timm name: W = base + sum_t S_t (x) T_t for templated kinds, the size's own
    /// tensor for kinds carried as they are, reshaped to the parameter's shape.
    /// </summary>
    public Dictionary<string, Tensor> Compose()
    {
        var t = templates.Tensors();
        var s = scalers.Tensors();
        var w = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var kind in templates.Kinds)
        {
            var composed = s[kind.Key];
            if (kind.IsTemplated)
            {
                composed = Kronecker.Compose(composed, t[kind.Key]);
                if (kind.Base != 0)
                {
                    using var baseValue = kind.Base.ToScalar();
                    composed = composed.add(baseValue);
                }
            }
            if (!kind.PerLayer)
            {
                w[kind.Name] = composed.reshape(shapes[kind.Name]);
                continue;
            }
            for (int l = 0; l < Spec.Depth; l++)
            {
                var name = VitLayout.Block(l, kind.Name);
                w[name] = composed[l].reshape(shapes[name]);
            }
        }
        foreach (var name in TemplateKinds.Free) w[name] = s[name];
        return w;
    }

    /// <summary>Stage 3's starting point: the composed weights, frozen into a plain ViT that no longer knows its templates.</summary>
    public VisionTransformer Materialize()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return new VisionTransformer(Spec, Compose(), templates.parameters().First().device);
    }
}
