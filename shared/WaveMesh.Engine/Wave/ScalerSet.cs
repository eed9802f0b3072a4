using TorchSharp;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Vit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WaveMesh.Engine.Wave;

/// <summary>How a new target's scalers start before stage 2 trains them.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(SnakeCaseEnumConverter<ScalerInit>))]
public enum ScalerInit
{
    /// <summary>Resized from the auxiliary model's scalers: interpolated over depth and over the block grid.</summary>
    Resized,
    /// <summary>Random, N(0, 1/N_k); parameters carried as they are start at timm's initialisation.</summary>
    Random,
}

/// <summary>How resized scalers map a target's layers onto the auxiliary model's.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(SnakeCaseEnumConverter<DepthMapping>))]
public enum DepthMapping
{
    /// <summary>Linear interpolation between the two nearest auxiliary layers (first and last layers map onto each other).</summary>
    Interpolate,
    /// <summary>Each target layer copies the auxiliary layer at the nearest relative depth.</summary>
    Nearest,
}

/// <summary>How resized scalers map a target's blocks of w along the width onto the auxiliary model's.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(SnakeCaseEnumConverter<WidthMapping>))]
public enum WidthMapping
{
    /// <summary>Linear interpolation between neighbouring blocks; fan-in rescaled to keep each layer's output scale.</summary>
    Interpolate,
    /// <summary>
    /// Evenly spaced whole blocks, the same ones along every axis of the same length in every layer: weight selection's
    /// rule (<see cref="Baselines.WeightSelection.Indices"/>) at block granularity, so with heads of w channels whole
    /// heads are kept. Not rescaled, as weight selection does not rescale. An axis that grows is interpolated (not rescaled either).
    /// </summary>
    Select,
}

/// <summary>
/// The few thousand numbers that turn templates into one target size: per templated kind, [L, N, p, q] for per-layer
/// kinds and [N, p, q] for the others, stored under the kind's key; per kind carried as it is, the parameter itself
/// ([L, ...shape] per layer); plus the target's own size-free parameters.
/// </summary>
public sealed class ScalerSet : nn.Module
{
    public VitSpec Target { get; }
    public TemplateConfig Config { get; }
    public IReadOnlyList<TemplateKind> Kinds { get; }

    ScalerSet(VitSpec target, TemplateConfig config) : base("ScalerSet")
    {
        config.Check(target);
        Target = target;
        Config = config;
        Kinds = TemplateKinds.For(target, config.Carry);
    }

    public static Dictionary<string, long[]> Layout(VitSpec target, TemplateConfig config)
    {
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        int w = config.TemplateSize;
        var plain = VitLayout.Of(target).ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);
        foreach (var k in TemplateKinds.For(target, config.Carry))
        {
            if (!k.IsTemplated)
            {
                var shape = plain[k.PerLayer ? VitLayout.Block(0, k.Name) : k.Name];
                shapes[k.Key] = k.PerLayer ? [target.Depth, .. shape] : shape;
                continue;
            }
            var (p, q) = k.Grid(target, w);
            long n = config.Count(k.Category);
            shapes[k.Key] = k.PerLayer ? [target.Depth, n, p, q] : [n, p, q];
        }
        foreach (var name in TemplateKinds.Free)
            shapes[name] = plain[name];
        return shapes;
    }

    /// <summary>
    /// Random scalers, N(0, 1/N_k); parameters carried as they are start at timm's initialisation; the size-free
    /// parameters are copied from the templates.
    /// </summary>
    public static ScalerSet Random(VitSpec target, TemplateSet templates, long seed)
    {
        using var g = new Generator((ulong)seed, CPU);
        var kinds = TemplateKinds.For(target, templates.Config.Carry).ToDictionary(k => k.Key);
        Dictionary<string, Tensor>? timm = null;
        try
        {
            return Build(target, templates, (key, shape) =>
            {
                var kind = kinds[key];
                if (kind.IsTemplated)
                {
                    using var std = (1.0 / Math.Sqrt(shape[^3])).ToScalar();
                    return randn(shape, generator: g).mul_(std);
                }
                timm ??= VisionTransformer.TimmInit(target, seed);
                return kind.PerLayer
                    ? stack(Enumerable.Range(0, target.Depth).Select(l => timm[VitLayout.Block(l, kind.Name)]).ToArray())
                    : timm[kind.Name].clone();
            });
        }
        finally
        {
            if (timm is not null) foreach (var t in timm.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Scalers of <paramref name="source"/> resized to <paramref name="target"/>: over depth as <paramref name="depth"/>
    /// says, and linearly over the blocks of w along the width (the block grid of templated kinds, the width axis of
    /// parameters carried as they are), within each q/k/v section of the qkv kinds so the sections never mix. Where
    /// the fan-in of a matrix changes, the values are multiplied by sqrt(q_source / q_target) to keep the output
    /// scale of the composed layer.
    /// </summary>
    public static ScalerSet Resized(ScalerSet source, VitSpec target, TemplateSet templates, DepthMapping depth = DepthMapping.Interpolate,
        WidthMapping width = WidthMapping.Interpolate)
    {
        if (source.Config != templates.Config)
            throw new SpecException("the scalers to resize were made for another template configuration");
        var kinds = TemplateKinds.For(target, templates.Config.Carry).ToDictionary(k => k.Key);
        var from = source.Tensors();
        int w = templates.Config.TemplateSize;
        return Build(target, templates, (key, shape) =>
        {
            var kind = kinds[key];
            var s = from[key].detach().to(CPU);
            if (kind.PerLayer && s.shape[0] != shape[0]) s = ResizeDepth(s, shape[0], depth);
            long fanInFrom, fanInTo;
            if (kind.IsTemplated)
            {
                fanInFrom = s.shape[^1];
                fanInTo = shape[^1];
                s = width == WidthMapping.Select
                    ? SelectBlocks(SelectBlocks(s, -2, shape[^2], kind.RowGroups, 1), -1, shape[^1], 1, 1)
                    : ResizeGrid(s, shape[^2], shape[^1], kind.RowGroups);
            }
            else
            {
                // The parameter itself: its width axis holds blocks of w, resized like a templated kind's grid.
                int lead = kind.PerLayer ? 1 : 0;
                int axis = lead + kind.WidthAxis((int)s.dim() - lead);
                fanInFrom = s.shape[axis] / w;
                fanInTo = shape[axis] / w;
                s = width == WidthMapping.Select
                    ? SelectBlocks(s, axis, shape[axis] / w, kind.RowGroups, w)
                    : ResizeWidth(s, axis, w, kind.RowGroups, shape[axis]);
            }
            if (width == WidthMapping.Interpolate && kind.ColumnsAreFanIn && fanInFrom != fanInTo)
            {
                using var fanIn = Math.Sqrt((double)fanInFrom / fanInTo).ToScalar();
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
        TensorLayout.Check($"scalers do not match target {target.Describe()}", layout, TensorShapes.Of(tensors));
        using var scope = NewDisposeScope();
        foreach (var (key, _) in layout)
            ParameterTree.Add(set, key, tensors[key].to(ScalarType.Float32, device ?? CPU, copy: true).detach().MoveToOuterDisposeScope());
        return set;
    }

    // make(key, shape) gives a kind's scalers; a size-free parameter is copied from `freeFrom` when given, else from
    // the templates.
    static ScalerSet Build(VitSpec target, TemplateSet templates, Func<string, long[], Tensor> make, ScalerSet? freeFrom = null)
    {
        if (target with { Depth = 0, Width = 0, Heads = 0 } != templates.Family with { Depth = 0, Width = 0, Heads = 0 })
            throw new SpecException($"target {target.Describe()} is not of the templates' family (image, channels, patch, MLP ratio, classes, pooling must match)");
        var set = new ScalerSet(target, templates.Config);
        var device = templates.parameters().FirstOrDefault()?.device ?? CPU;
        var free = (freeFrom?.Tensors() ?? templates.Tensors());
        using var scope = NewDisposeScope();
        foreach (var (key, shape) in Layout(target, templates.Config))
        {
            bool isFree = TemplateKinds.Free.Contains(key);
            var value = isFree ? free[key].detach().clone() : make(key, shape);
            if (!value.shape.SequenceEqual(shape))
                throw new InvalidOperationException($"scalers '{key}' built with shape {TensorLayout.Shape(value.shape)}, expected {TensorLayout.Shape(shape)}");
            ParameterTree.Add(set, key, value.to(ScalarType.Float32, device, copy: true).contiguous().MoveToOuterDisposeScope());
        }
        return set;
    }

    static Tensor ResizeDepth(Tensor s, long depth, DepthMapping mapping)
    {
        var shape = s.shape;
        long from = shape[0];
        if (mapping == DepthMapping.Nearest)
        {
            var index = Enumerable.Range(0, (int)depth)
                .Select(l => depth == 1 ? 0L : (long)Math.Round(l * (from - 1) / (double)(depth - 1), MidpointRounding.AwayFromZero)).ToArray();
            return s.index_select(0, tensor(index, device: s.device));
        }
        var flat = s.reshape(from, -1).t().unsqueeze(0);                        // [1, X, L]
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

    // Axis `axis` holds G sections of p blocks of `block` entries; keeps `count` blocks (count/G per section), evenly
    // spaced within each section, each block whole. An axis that grows is interpolated instead.
    static Tensor SelectBlocks(Tensor s, int axis, long count, int groups, int block)
    {
        int a = axis < 0 ? (int)s.dim() + axis : axis;
        long p = s.shape[a] / block;
        if (p == count) return s;
        if (count > p) return ResizeWidth(s, a, block, groups, count * block);
        var blocks = Baselines.WeightSelection.Indices(p, count, groups);
        var index = blocks.SelectMany(i => Enumerable.Range(0, block).Select(j => i * block + j)).ToArray();
        return s.index_select(a, tensor(index, device: s.device));
    }

    // Axis `axis` of length G*p*w (G sections of p blocks of w) becomes G*p'*w with p' = length/(G w): the blocks are
    // interpolated linearly, each block's w entries kept together, so feature j of a block stays feature j.
    static Tensor ResizeWidth(Tensor s, int axis, int w, int groups, long length)
    {
        long current = s.shape[axis];
        if (current == length) return s;
        var moved = s.movedim([axis], [-1L]);                                    // [..., G*p*w]
        var lead = moved.shape[..^1];
        long p = current / groups / w, pTo = length / groups / w;
        var blocks = moved.reshape(-1, groups, p, w).permute(0, 1, 3, 2).reshape(-1, 1, p);
        var y = F.interpolate(blocks, [pTo], mode: InterpolationMode.Linear, align_corners: true);
        var back = y.reshape(-1, groups, w, pTo).permute(0, 1, 3, 2).reshape([.. lead, length]);
        return back.movedim([-1L], [axis]);
    }

    public Dictionary<string, Tensor> Tensors() => ParameterTree.Named(this);

    public long ScalerCount => named_parameters().Where(p => !TemplateKinds.Free.Contains(p.name)).Sum(p => p.parameter.numel());
}
