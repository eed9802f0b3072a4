using System.Text.Json.Serialization;

namespace WaveMesh.Engine.Wave;

/// <summary>Which template count a kind uses: w x w matrices, length-w vectors, or the rectangular embedding/head cases.</summary>
public enum TemplateCategory { Matrix, Vector, Embedding }

/// <summary>How a parameter that is not a block matrix reaches a new size.</summary>
[JsonConverter(typeof(SnakeCaseEnumConverter<Carry>))]
public enum Carry
{
    /// <summary>Composed from shared templates by the size's scalers, like the block matrices.</summary>
    Templated,
    /// <summary>Each size owns the parameter as it is, per layer (its own scalers at full resolution): resized from the auxiliary model's and trained in stage 2.</summary>
    Scalers,
    /// <summary>The auxiliary model's values resized to the size and kept as they are: stage 2 does not train them.</summary>
    Shared,
}

/// <summary>Enums written as snake_case strings ("templated", "weight_selection").</summary>
public sealed class SnakeCaseEnumConverter<T>() : JsonStringEnumConverter<T>(System.Text.Json.JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false)
    where T : struct, Enum;

/// <summary>How each group of non-matrix parameters is carried (<see cref="Carry"/>); block matrices are always templated.</summary>
public sealed record CarryConfig
{
    /// <summary>LayerNorm gains and biases, linear biases, the final norm and the patch projection's bias.</summary>
    public Carry Vectors { get; init; } = Carry.Templated;
    public Carry PosEmbed { get; init; } = Carry.Templated;
    public Carry ClsToken { get; init; } = Carry.Templated;
    /// <summary>The patch projection's weight.</summary>
    public Carry PatchEmbed { get; init; } = Carry.Templated;
    /// <summary>The classifier's weight (its bias does not depend on size and is always the size's own).</summary>
    public Carry Head { get; init; } = Carry.Templated;

    public Carry Of(string kindName) => kindName switch
    {
        "pos_embed" => PosEmbed,
        "cls_token" => ClsToken,
        "patch_embed.proj.weight" => PatchEmbed,
        "head.weight" => Head,
        _ => Vectors,
    };
}

/// <summary>How many templates of size w each category has, and how non-matrix parameters are carried. Every target width must be a multiple of w.</summary>
public sealed record TemplateConfig
{
    public int TemplateSize { get; init; } = 32;
    public int MatrixTemplates { get; init; } = 8;
    public int VectorTemplates { get; init; } = 4;
    public int EmbeddingTemplates { get; init; } = 8;
    public CarryConfig Carry { get; init; } = new();

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
/// One parameter type of a ViT and how it is made for any size: its timm name (inside a block when
/// <see cref="PerLayer"/>), the grid of scalers and the template shape that tile it, and the value it is an offset
/// from (LayerNorm gains are 1 + S (x) T). A kind carried as <see cref="Wave.Carry.Scalers"/> or
/// <see cref="Wave.Carry.Shared"/> has no templates: the size holds the parameter itself.
/// </summary>
public sealed record TemplateKind(string Name, bool PerLayer, TemplateCategory Category, double Base, int RowGroups,
    Func<VitSpec, int, (long Rows, long Cols)> Template, Func<VitSpec, int, (long Rows, long Cols)> Grid, bool WidthIsLastAxis,
    Carry Carry = Carry.Templated)
{
    /// <summary>The key this kind's templates and scalers are stored under.</summary>
    public string Key => PerLayer ? "blocks." + Name : Name;

    public bool IsTemplated => Carry == Carry.Templated;

    /// <summary>Whether the scaler grid's columns run along an input dimension (so resizing them changes fan-in).</summary>
    public bool ColumnsAreFanIn => Category == TemplateCategory.Matrix || Name == "head.weight";

    /// <summary>The axis of the parameter (without the layer axis) along which the width's blocks of w run.</summary>
    public int WidthAxis(int rank) => WidthIsLastAxis ? rank - 1 : 0;
}

/// <summary>The WAVE.md table: how every parameter of a ViT is made from templates, for any depth and width.</summary>
public static class TemplateKinds
{
    static TemplateKind Matrix(string name, Func<VitSpec, long> rows, Func<VitSpec, long> cols, int groups = 1) =>
        new(name, true, TemplateCategory.Matrix, 0, groups, (_, w) => (w, w), (s, w) => (rows(s) / w, cols(s) / w), WidthIsLastAxis: false);

    static TemplateKind Vector(string name, Func<VitSpec, long> length, bool perLayer = true, double baseValue = 0, int groups = 1) =>
        new(name, perLayer, TemplateCategory.Vector, baseValue, groups, (_, w) => (w, 1), (s, w) => (length(s) / w, 1), WidthIsLastAxis: false);

    static TemplateKind AlongWidth(string name, Func<VitSpec, long> other, bool widthIsRows) =>
        new(name, false, TemplateCategory.Embedding, 0, 1,
            (s, w) => widthIsRows ? (w, other(s)) : (other(s), w),
            (s, w) => widthIsRows ? (s.Width / w, 1) : (1, s.Width / w), WidthIsLastAxis: !widthIsRows);

    /// <summary>Kinds of a family with every non-matrix kind templated; the final norm's name depends on pooling (timm's norm or fc_norm).</summary>
    public static IReadOnlyList<TemplateKind> For(VitSpec family) => For(family, new CarryConfig());

    /// <summary>Kinds of a family, each non-matrix kind carried as <paramref name="carry"/> says.</summary>
    public static IReadOnlyList<TemplateKind> For(VitSpec family, CarryConfig carry)
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
        return kinds.Select(k => k.Category == TemplateCategory.Matrix ? k : k with { Carry = carry.Of(k.Name) }).ToList();
    }

    /// <summary>Parameters that do not depend on width or depth and are shared as they are (the head bias).</summary>
    public static readonly string[] Free = ["head.bias"];
}
