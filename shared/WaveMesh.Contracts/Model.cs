using System.Text.Json;
using System.Text.Json.Serialization;

namespace WaveMesh.Contracts;

/// <summary>Depth, width and heads: what changes between the sizes of one model family.</summary>
public sealed record ModelSize(int Depth, int Width, int Heads)
{
    public override string ToString() => $"L{Depth} D{Width} H{Heads}";

    /// <summary>Parses "LxDxH" (e.g. 6x160x5).</summary>
    public static bool TryParse(string text, out ModelSize size)
    {
        size = new ModelSize(0, 0, 0);
        var parts = text.Trim().Split('x', 'X');
        if (parts.Length != 3 || !int.TryParse(parts[0], out var l) || !int.TryParse(parts[1], out var d) || !int.TryParse(parts[2], out var h))
            return false;
        size = new ModelSize(l, d, h);
        return true;
    }

    public string Slug => $"{Depth}x{Width}x{Heads}";
}

/// <summary>What every size of a family shares: input, patch size, MLP ratio, classes and pooling.</summary>
public sealed record ModelFamily(int ImageSize = 28, int Channels = 1, int PatchSize = 7, int MlpRatio = 4, int Classes = 10, Pooling Pooling = Pooling.Token);

/// <summary>How a ViT turns its tokens into one vector for the head: a class token, or the mean of the patch tokens.</summary>
[JsonConverter(typeof(SnakeCaseEnum<Pooling>))]
public enum Pooling { Token, Mean }

/// <summary>What training images go through: nothing, or a random 2-pixel-padded crop and a horizontal flip.</summary>
[JsonConverter(typeof(SnakeCaseEnum<Augmentation>))]
public enum Augmentation { None, CropFlip }

/// <summary>
/// A dataset: its name ("fashion-mnist" or "cifar-10"), where it is, and an optional deterministic subset. Jobs the
/// control plane publishes carry the <paramref name="Digest"/> of the data set's archive in the artifact store (a
/// worker on any machine fetches and verifies it) and no <paramref name="Path"/>; an embedded run may name a local
/// folder instead.
/// </summary>
public sealed record DatasetRef(string Name = "fashion-mnist", string? Path = null, int? Subset = null, long SubsetSeed = 0,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Digest = null)
{
    /// <summary>The same data set addressed by its archive's digest: no local path.</summary>
    public DatasetRef Stored(string digest) => this with { Path = null, Digest = digest };
}

/// <summary>
/// One training schedule: AdamW with warm-up and cosine decay. <see cref="WarmupSteps"/>, when set, replaces
/// <see cref="WarmupFraction"/> (0: start at the peak learning rate).
/// </summary>
public sealed record TrainSettings(int Steps, int BatchSize = 128, double LearningRate = 1e-3, double WeightDecay = 0.05,
    double WarmupFraction = 0.05, Augmentation Augmentation = Augmentation.None,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? WarmupSteps = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Perturb = null);

/// <summary>How a parameter that is not a block matrix reaches a new size.</summary>
[JsonConverter(typeof(SnakeCaseEnum<Carry>))]
public enum Carry
{
    /// <summary>Composed from shared templates by the size's scalers.</summary>
    Templated,
    /// <summary>Owned by each size as it is (per layer), resized from the auxiliary model's and trained in stage 2.</summary>
    Scalers,
    /// <summary>The auxiliary model's values resized to the size, not trained in stage 2.</summary>
    Shared,
}

/// <summary>How each group of non-matrix parameters is carried; block matrices are always templated.</summary>
public sealed record CarrySettings(Carry Vectors = Carry.Templated, Carry PosEmbed = Carry.Templated, Carry ClsToken = Carry.Templated,
    Carry PatchEmbed = Carry.Templated, Carry Head = Carry.Templated);

/// <summary>Template size w, template counts per category, and how non-matrix parameters are carried (null: all templated).</summary>
public sealed record TemplateSettings(int Size = 32, int Matrix = 8, int Vector = 4, int Embedding = 8,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CarrySettings? Carry = null);

/// <summary>Learning-rate multipliers per parameter group of stages 1 and 2 (0 freezes a group).</summary>
public sealed record LearningRateScales(double Templates = 1, double Scalers = 1, double Vectors = 1, double Embeddings = 1);

/// <summary>How a new size's scalers start: resized from the auxiliary model's, or random.</summary>
[JsonConverter(typeof(SnakeCaseEnum<ScalerInit>))]
public enum ScalerInit { Resized, Random }

/// <summary>How resized scalers map a new size's layers onto the auxiliary model's.</summary>
[JsonConverter(typeof(SnakeCaseEnum<DepthMapping>))]
public enum DepthMapping { Interpolate, Nearest }

/// <summary>How resized scalers map a new size's blocks along the width onto the auxiliary model's.</summary>
[JsonConverter(typeof(SnakeCaseEnum<WidthMapping>))]
public enum WidthMapping { Interpolate, Select }

/// <summary>Which model's logits stage 2 imitates.</summary>
[JsonConverter(typeof(SnakeCaseEnum<ScalerReference>))]
public enum ScalerReference { Teacher, Auxiliary }

/// <summary>Enums written as snake_case strings on every transport and in every store.</summary>
public sealed class SnakeCaseEnum<T>() : JsonStringEnumConverter<T>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false)
    where T : struct, Enum;

/// <summary>Where a model to fine-tune starts: a stored model, a fresh timm initialisation, or weight selection from a teacher.</summary>
public sealed record InitSource(InitKind Kind, string? Digest = null)
{
    public const InitKind Model = InitKind.Model;
    public const InitKind Scratch = InitKind.Scratch;
    public const InitKind WeightSelection = InitKind.WeightSelection;

    /// <summary>The kind as it is written everywhere (snake_case: "weight_selection"); not part of the contract's JSON.</summary>
    [JsonIgnore]
    public string KindName => JsonNamingPolicy.SnakeCaseLower.ConvertName(Kind.ToString());
}

[JsonConverter(typeof(SnakeCaseEnum<InitKind>))]
public enum InitKind { Model, Scratch, WeightSelection }

/// <summary>Accuracy on a fixed test subset after a number of training steps.</summary>
public sealed record CurvePoint(int Step, double Accuracy);

/// <summary>What a stage did: steps, wall time, throughput, whether it was answered from the cache, and who ran it.</summary>
public sealed record StageStats(int Steps, double Seconds, double ExamplesPerSecond, bool Cached, string Worker);

/// <summary>
/// What an evaluation measures: a target size, a method and a phase ("init", "final", or a benchmark cell's tag),
/// written <c>6x160x5/wave/init</c> in <see cref="EvaluateModel.Subject"/>; the teacher's evaluation is <see cref="Teacher"/>.
/// </summary>
public sealed record EvaluationSubject(ModelSize Target, string Method, string Phase)
{
    public const string Teacher = "teacher";
    public const string Init = "init";
    public const string Final = "final";

    public override string ToString() => $"{Target.Slug}/{Method}/{Phase}";

    /// <summary>The subject <paramref name="text"/> names, or null for one that is not size/method/phase (the teacher's).</summary>
    public static EvaluationSubject? TryParse(string text)
    {
        var parts = text.Split('/');
        return parts.Length == 3 && ModelSize.TryParse(parts[0], out var size) ? new EvaluationSubject(size, parts[1], parts[2]) : null;
    }
}
