using WaveMesh.Engine.Vit;

namespace WaveMesh.Engine.Wave;

/// <summary>Which template count a kind uses: w x w matrices, length-w vectors, or the rectangular embedding/head cases.</summary>
public enum TemplateCategory { Matrix, Vector, Embedding }

/// <summary>How many templates of size w each category has. Every target width must be a multiple of w.</summary>
public sealed record TemplateConfig
{
    public int TemplateSize { get; init; } = 32;
    public int MatrixTemplates { get; init; } = 8;
    public int VectorTemplates { get; init; } = 4;
    public int EmbeddingTemplates { get; init; } = 8;

    public int Count(TemplateCategory c) => c switch
    {
        TemplateCategory.Matrix => MatrixTemplates,
        TemplateCategory.Vector => VectorTemplates,
        _ => EmbeddingTemplates,
    };

    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        if (TemplateSize <= 0) p.Add($"template size must be positive (got {TemplateSize})");
        if (MatrixTemplates <= 0) p.Add($"matrix templates must be positive (got {MatrixTemplates})");
        if (VectorTemplates <= 0) p.Add($"vector templates must be positive (got {VectorTemplates})");
        if (EmbeddingTemplates <= 0) p.Add($"embedding templates must be positive (got {EmbeddingTemplates})");
        return p;
    }

    /// <summary>Every reason <paramref name="s"/> cannot be built from templates of this size, one sentence each.</summary>
    public IReadOnlyList<string> ProblemsWith(VitSpec s)
    {
        var p = new List<string>(s.Problems());
        if (TemplateSize > 0 && s.Width > 0 && s.Width % TemplateSize != 0)
            p.Add($"width {s.Width} is not a multiple of the template size {TemplateSize}");
        return p;
    }

    public void Check(VitSpec s)
    {
        var p = Problems().Concat(ProblemsWith(s)).ToList();
        if (p.Count > 0) throw new SpecException($"cannot build ViT {s.Describe()} from templates: {string.Join("; ", p)}");
    }
}

/// <summary>
/// One templated tensor type: its timm name (inside a block when <see cref="PerLayer"/>), the grid of scalers and the
/// template shape that tile it, and the value it is an offset from (LayerNorm gains are 1 + S (x) T).
/// </summary>
public sealed record TemplateKind(string Name, bool PerLayer, TemplateCategory Category, double Base, int RowGroups,
    Func<VitSpec, int, (long Rows, long Cols)> Template, Func<VitSpec, int, (long Rows, long Cols)> Grid)
{
    /// <summary>The key this kind's templates and scalers are stored under.</summary>
    public string Key => PerLayer ? "blocks." + Name : Name;

    /// <summary>Whether the scaler grid's columns run along an input dimension (so resizing them changes fan-in).</summary>
    public bool ColumnsAreFanIn => Category == TemplateCategory.Matrix || Name == "head.weight";
}

/// <summary>The WAVE.md table: how every parameter of a ViT is made from templates, for any depth and width.</summary>
public static class TemplateKinds
{
    static TemplateKind Matrix(string name, Func<VitSpec, long> rows, Func<VitSpec, long> cols, int groups = 1) =>
        new(name, true, TemplateCategory.Matrix, 0, groups, (_, w) => (w, w), (s, w) => (rows(s) / w, cols(s) / w));

    static TemplateKind Vector(string name, Func<VitSpec, long> length, bool perLayer = true, double baseValue = 0, int groups = 1) =>
        new(name, perLayer, TemplateCategory.Vector, baseValue, groups, (_, w) => (w, 1), (s, w) => (length(s) / w, 1));

    static TemplateKind AlongWidth(string name, Func<VitSpec, long> other, bool widthIsRows) =>
        new(name, false, TemplateCategory.Embedding, 0, 1,
            (s, w) => widthIsRows ? (w, other(s)) : (other(s), w),
            (s, w) => widthIsRows ? (s.Width / w, 1) : (1, s.Width / w));

    /// <summary>Kinds of a family; the final norm's name depends on pooling (timm's norm or fc_norm).</summary>
    public static IReadOnlyList<TemplateKind> For(VitSpec family)
    {
        var kinds = new List<TemplateKind>
        {
            Vector("norm1.weight", s => s.Width, baseValue: 1),
            Vector("norm1.bias", s => s.Width),
            Matrix("attn.qkv.weight", s => 3L * s.Width, s => s.Width, groups: 3),
            Vector("attn.qkv.bias", s => 3L * s.Width, groups: 3),
            Matrix("attn.proj.weight", s => s.Width, s => s.Width),
            Vector("attn.proj.bias", s => s.Width),
            Vector("norm2.weight", s => s.Width, baseValue: 1),
            Vector("norm2.bias", s => s.Width),
            Matrix("mlp.fc1.weight", s => s.Hidden, s => s.Width),
            Vector("mlp.fc1.bias", s => s.Hidden),
            Matrix("mlp.fc2.weight", s => s.Width, s => s.Hidden),
            Vector("mlp.fc2.bias", s => s.Width),
            AlongWidth("patch_embed.proj.weight", s => s.PatchDim, widthIsRows: true),
            Vector("patch_embed.proj.bias", s => s.Width, perLayer: false),
            AlongWidth("pos_embed", s => s.Tokens, widthIsRows: false),
            Vector($"{family.FinalNorm}.weight", s => s.Width, perLayer: false, baseValue: 1),
            Vector($"{family.FinalNorm}.bias", s => s.Width, perLayer: false),
            AlongWidth("head.weight", s => s.Classes, widthIsRows: false),
        };
        if (family.Pooling == Pooling.Token)
            kinds.Add(AlongWidth("cls_token", _ => 1, widthIsRows: false));
        return kinds;
    }

    /// <summary>Parameters that do not depend on width or depth and are shared as they are (the head bias).</summary>
    public static readonly string[] Free = ["head.bias"];
}
