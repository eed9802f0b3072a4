using System.Text.Json;
using System.Text.Json.Serialization;

namespace WaveMesh.Models;

/// <summary>How a ViT turns its tokens into one vector for the head (timm's global_pool).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Pooling>))]
public enum Pooling
{
    /// <summary>A class token, read after the final <c>norm</c> (timm "token").</summary>
    Token,
    /// <summary>Mean of the patch tokens, then <c>fc_norm</c> (timm "avg").</summary>
    Mean,
}

/// <summary>The shape of one Vision Transformer: everything needed to build it or check a checkpoint against it.</summary>
public sealed record VitSpec
{
    public int ImageSize { get; init; } = 28;
    public int Channels { get; init; } = 1;
    public int PatchSize { get; init; } = 7;
    public int Depth { get; init; } = 4;
    public int Width { get; init; } = 128;
    public int Heads { get; init; } = 4;
    public int MlpRatio { get; init; } = 4;
    public int Classes { get; init; } = 10;
    public Pooling Pooling { get; init; } = Pooling.Token;

    [JsonIgnore]
    public int GridSize => ImageSize / PatchSize;
    [JsonIgnore]
    public int Patches => GridSize * GridSize;
    /// <summary>Token count including the class token when there is one.</summary>
    [JsonIgnore]
    public int Tokens => Patches + (Pooling == Pooling.Token ? 1 : 0);
    [JsonIgnore]
    public int HeadDim => Width / Heads;
    [JsonIgnore]
    public int Hidden => Width * MlpRatio;
    [JsonIgnore]
    public int PatchDim => Channels * PatchSize * PatchSize;
    /// <summary>timm names the final LayerNorm <c>norm</c> for token pooling and <c>fc_norm</c> for mean pooling.</summary>
    [JsonIgnore]
    public string FinalNorm => Pooling == Pooling.Token ? "norm" : "fc_norm";

    /// <summary>Same family (input, classes, pooling, MLP ratio), another depth, width and head count.</summary>
    public VitSpec WithSize(int depth, int width, int heads) => this with { Depth = depth, Width = width, Heads = heads };

    /// <summary>Every problem with this spec, one sentence each; empty when it is valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        void Positive(string name, int v) { if (v <= 0) p.Add($"{name} must be positive (got {v})"); }
        Positive("image size", ImageSize); Positive("channels", Channels); Positive("patch size", PatchSize);
        Positive("depth", Depth); Positive("width", Width); Positive("heads", Heads);
        Positive("MLP ratio", MlpRatio); Positive("classes", Classes);
        if (PatchSize > 0 && ImageSize > 0 && ImageSize % PatchSize != 0)
            p.Add($"patch size {PatchSize} does not divide image size {ImageSize}");
        if (Heads > 0 && Width > 0 && Width % Heads != 0)
            p.Add($"heads ({Heads}) must divide width ({Width})");
        return p;
    }

    public VitSpec Validated()
    {
        var problems = Problems();
        if (problems.Count > 0) throw new SpecException($"invalid ViT {Describe()}: {string.Join("; ", problems)}");
        return this;
    }

    /// <summary>Parameter count of the plain model.</summary>
    [JsonIgnore]
    public long ParameterCount => VitLayout.Of(this).Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));

    public string Describe() => $"L{Depth} D{Width} H{Heads}";

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static VitSpec FromJson(string json) =>
        JsonSerializer.Deserialize<VitSpec>(json, JsonOptions) ?? throw new SpecException("empty ViT spec");

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };
}

/// <summary>A model or template configuration that cannot be built; the message says why.</summary>
public sealed class SpecException(string message) : Exception(message);

/// <summary>Floating-point operations of a ViT, counted as 2 per multiply-add of its matrix products (elementwise work is left out).</summary>
public static class VitFlops
{
    /// <summary>Forward pass of one example.</summary>
    public static double Forward(VitSpec s)
    {
        double n = s.Tokens, d = s.Width;
        double patch = 2.0 * s.Patches * s.PatchDim * d;
        // qkv (3d^2), proj (d^2), fc1 and fc2 (2 r d^2) per token, plus QK^T and attention x V (2 n^2 d).
        double block = 2.0 * n * (3 * d * d + d * d + 2 * s.MlpRatio * d * d) + 2.0 * 2.0 * n * n * d;
        double head = 2.0 * d * s.Classes;
        return patch + s.Depth * block + head;
    }

    /// <summary>Forward and backward of one example: backward costs about twice the forward.</summary>
    public static double Training(VitSpec s) => 3.0 * Forward(s);
}
