using TorchSharp;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Vit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WaveMesh.Engine.Wave;

/// <summary>How a new target's scalers start before stage 2 trains them.</summary>
public enum ScalerInit
{
    /// <summary>Resized from the auxiliary model's scalers: interpolated over depth and over the block grid.</summary>
    Resized,
    /// <summary>Random, N(0, 1/N_k).</summary>
    Random,
}

/// <summary>
/// The few thousand numbers that turn templates into one target size: per kind, [L, N, p, q] for per-layer
/// kinds and [N, p, q] for the others, stored under the kind's key, plus the target's own size-free parameters.
/// </summary>
public sealed class ScalerSet : nn.Module
{
    public VitSpec Target { get; }
    public TemplateConfig Config { get; }

    ScalerSet(VitSpec target, TemplateConfig config) : base("ScalerSet")
    {
        config.Check(target);
        Target = target;
        Config = config;
    }

    public static Dictionary<string, long[]> Layout(VitSpec target, TemplateConfig config)
    {
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        int w = config.TemplateSize;
        foreach (var k in TemplateKinds.For(target))
        {
            var (p, q) = k.Grid(target, w);
            long n = config.Count(k.Category);
            shapes[k.Key] = k.PerLayer ? [target.Depth, n, p, q] : [n, p, q];
        }
        foreach (var name in TemplateKinds.Free)
            shapes[name] = VitLayout.Of(target).Single(t => t.Name == name).Shape;
        return shapes;
    }

    /// <summary>Random scalers, N(0, 1/N_k), with the size-free parameters copied from the templates.</summary>
    public static ScalerSet Random(VitSpec target, TemplateSet templates, long seed)
    {
        using var g = new Generator((ulong)seed, CPU);
        return Build(target, templates, (key, shape) =>
        {
            if (key is null) return null;
            using var std = (1.0 / Math.Sqrt(shape[^3])).ToScalar();
            return randn(shape, generator: g).mul_(std);
        });
    }

    /// <summary>
    /// Scalers of <paramref name="source"/> resized to <paramref name="target"/>: linear interpolation over depth and
    /// bilinear over the block grid, within each q/k/v section of the qkv kinds so the sections never mix.
    /// Where the fan-in of a matrix changes, the scalers are multiplied by sqrt(q_source / q_target) to keep
    /// the output scale of the composed layer.
    /// </summary>
    public static ScalerSet Resized(ScalerSet source, VitSpec target, TemplateSet templates)
    {
        var kinds = TemplateKinds.For(target).ToDictionary(k => k.Key);
        var from = source.Tensors();
        return Build(target, templates, (key, shape) =>
        {
            if (key is null) return null;
            var kind = kinds[key];
            var s = from[key].detach().to(CPU);
            if (kind.PerLayer && s.shape[0] != shape[0]) s = ResizeDepth(s, shape[0]);
            s = ResizeGrid(s, shape[^2], shape[^1], kind.RowGroups);
            long qFrom = from[key].shape[^1], qTo = shape[^1];
            if (kind.ColumnsAreFanIn && qFrom != qTo)
            {
                using var fanIn = Math.Sqrt((double)qFrom / qTo).ToScalar();
                s = s.mul(fanIn);
            }
            return s;
        }, source);
    }

    /// <summary>Scalers from stored tensors (copied); names and shapes are checked against the target and config.</summary>
    public static ScalerSet FromTensors(VitSpec target, TemplateConfig config, IReadOnlyDictionary<string, Tensor> tensors, Device? device = null)
    {
        var set = new ScalerSet(target, config);
        var layout = Layout(target, config);
        TensorLayout.Check($"scalers do not match target {target.Describe()}", layout, tensors);
        using var scope = NewDisposeScope();
        foreach (var (key, _) in layout)
            ParameterTree.Add(set, key, tensors[key].to(ScalarType.Float32, device ?? CPU, copy: true).detach().MoveToOuterDisposeScope());
        return set;
    }

    // make(key, shape) gives a kind's scalers (key non-null) or null for a size-free parameter, which is copied
    // from `freeFrom` when given, else from the templates.
    static ScalerSet Build(VitSpec target, TemplateSet templates, Func<string?, long[], Tensor?> make, ScalerSet? freeFrom = null)
    {
        if (target with { Depth = 0, Width = 0, Heads = 0 } != templates.Family with { Depth = 0, Width = 0, Heads = 0 })
            throw new SpecException($"target {target.Describe()} is not of the templates' family (image, channels, patch, MLP ratio, classes, pooling must match)");
        var set = new ScalerSet(target, templates.Config);
        var device = templates.parameters().First().device;
        var free = (freeFrom?.Tensors() ?? templates.Tensors());
        using var scope = NewDisposeScope();
        foreach (var (key, shape) in Layout(target, templates.Config))
        {
            bool isFree = TemplateKinds.Free.Contains(key);
            var value = isFree ? free[key].detach().clone() : make(key, shape)!;
            if (!value.shape.SequenceEqual(shape))
                throw new InvalidOperationException($"scalers '{key}' built with shape {TensorLayout.Shape(value.shape)}, expected {TensorLayout.Shape(shape)}");
            ParameterTree.Add(set, key, value.to(ScalarType.Float32, device, copy: true).contiguous().MoveToOuterDisposeScope());
        }
        return set;
    }

    static Tensor ResizeDepth(Tensor s, long depth)
    {
        var shape = s.shape;
        var flat = s.reshape(shape[0], -1).t().unsqueeze(0);                    // [1, X, L]
        var resized = F.interpolate(flat, [depth], mode: InterpolationMode.Linear, align_corners: true);
        return resized.squeeze(0).t().reshape([depth, .. shape[1..]]);
    }

    static Tensor ResizeGrid(Tensor s, long rows, long cols, int groups)
    {
        var shape = s.shape;
        long p = shape[^2], q = shape[^1];
        if (p == rows && q == cols) return s;
        var lead = shape[..^2];
        // [..., G*p', q] -> [(... G), 1, p', q]: each q/k/v section is resized on its own.
        var x = s.reshape(-1, 1, p / groups, q);
        var y = F.interpolate(x, [rows / groups, cols], mode: InterpolationMode.Bilinear, align_corners: true);
        return y.reshape([.. lead, rows, cols]);
    }

    public Dictionary<string, Tensor> Tensors() => ParameterTree.Named(this);

    public long ScalerCount => named_parameters().Where(p => !TemplateKinds.Free.Contains(p.name)).Sum(p => p.parameter.numel());
}
