using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace WaveMesh.Contracts;

/// <summary>
/// A command to one stage. <see cref="Key"/> is derived from the job's content only (not its id, run or causation),
/// so the same work asked twice, by any run, has the same key: that is how every stage is idempotent. The envelope
/// (id, creation time, run, causation, schema version is part of the content) does not count.
/// </summary>
public abstract record StageJob
{
    public Guid Id { get; init; } = Guid.NewGuid();
    /// <summary>When the job was asked for (queue lag is measured from it).</summary>
    public DateTime CreatedAt { get; init; } = DateTime.UtcNow;
    public Guid RunId { get; init; }
    public Guid? CausationId { get; init; }
    public int SchemaVersion { get; init; } = 1;

    /// <summary>The stage that runs this job: distill, scalers, finetune or evaluate.</summary>
    public abstract string Stage { get; }

    /// <summary>One line for progress output and logs.</summary>
    public abstract string Describe();

    [JsonIgnore]
    public string Key => JobKey.Of(this);
}

/// <summary>Stage 1: distil templates from a teacher through an auxiliary model.</summary>
public sealed record DistillTemplates(string TeacherDigest, ModelFamily Family, ModelSize Auxiliary, TemplateSettings Templates,
    DatasetRef Data, TrainSettings Training, double Temperature, long Seed) : StageJob
{
    /// <summary>Learning-rate multipliers per parameter group (null: 1 for every group).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public LearningRateScales? Scales { get; init; }

    public override string Stage => StageNames.Distill;
    public override string Describe() => $"distil templates into {Auxiliary}";
}

/// <summary>Stage 2: a target size's scalers, fitted to the teacher with the templates frozen.</summary>
public sealed record TrainScalers(string TeacherDigest, string TemplatesDigest, string AuxScalersDigest, ModelSize Target,
    ScalerInit Init, DatasetRef Data, TrainSettings Training, double Temperature, long Seed) : StageJob
{
    /// <summary>Learning-rate multipliers per parameter group (null: 1 for every group; templates never train here).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public LearningRateScales? Scales { get; init; }

    /// <summary>Which model's logits the scalers are fitted to (null: the teacher's).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ScalerReference? Reference { get; init; }

    /// <summary>How resized scalers map layers (null: interpolate).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DepthMapping? Depth { get; init; }

    /// <summary>How resized scalers map blocks along the width (null: interpolate).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WidthMapping? Width { get; init; }

    public override string Stage => StageNames.Scalers;
    public override string Describe() => $"scalers of {Target}";
}

/// <summary>Stage 3 (also how teachers and baselines are trained): train a plain ViT from its initialisation.</summary>
public sealed record FinetuneTarget(ModelFamily Family, ModelSize Target, string Method, InitSource Init, DatasetRef Data,
    TrainSettings Training, long Seed, int CurvePoints = 0) : StageJob
{
    public override string Stage => StageNames.Finetune;
    public override string Describe() => $"finetune {Target} ({Method}, {Training.Steps} steps)";
}

/// <summary>Test accuracy and loss of a stored model.</summary>
public sealed record EvaluateModel(string ModelDigest, DatasetRef Data, string Subject) : StageJob
{
    public override string Stage => StageNames.Evaluate;
    public override string Describe() => $"evaluate {Subject}";
}

public static class StageNames
{
    public const string Distill = "distill";
    public const string Scalers = "scalers";
    public const string Finetune = "finetune";
    public const string Evaluate = "evaluate";
    public static readonly string[] All = [Distill, Scalers, Finetune, Evaluate];
}

/// <summary>Content keys of jobs: SHA-256 of the stage name and the job's canonical JSON without its envelope fields.</summary>
public static class JobKey
{
    static readonly JsonSerializerOptions Json = ContractJson.Options;

    public static string Of(StageJob job)
    {
        var content = job with { Id = Guid.Empty, CreatedAt = default, RunId = Guid.Empty, CausationId = null };
        var json = JsonSerializer.Serialize(content, content.GetType(), Json);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(job.Stage + "\n" + json)));
    }
}
