using WaveMesh.Contracts;

namespace WaveMesh.Pipeline;

/// <summary>The methods a pipeline compares.</summary>
public static class Methods
{
    public const string Wave = "wave";
    public const string Scratch = "scratch";
    public const string WeightSelection = "weight_selection";
    public const string Teacher = "teacher";
    public static readonly string[] All = [Wave, Scratch, WeightSelection];
}

/// <summary>One method's stage-3 schedule.</summary>
public sealed record MethodPlan(string Method, TrainSettings Training);

/// <summary>
/// What a pipeline does with a teacher: distil templates into the auxiliary model, then for every target size train
/// scalers (WAVE), fine-tune each method with its schedule, and evaluate every initial and final model.
/// </summary>
public sealed record PipelineDefinition
{
    public string Name { get; init; } = "default";
    public ModelFamily Family { get; init; } = new();
    public DatasetRef Data { get; init; } = new();
    public ModelSize Auxiliary { get; init; } = new(4, 128, 4);
    public TemplateSettings Templates { get; init; } = new();
    public TrainSettings Distill { get; init; } = new(Steps: 469, LearningRate: 5e-4);
    /// <summary>Stage 1's learning-rate multipliers per parameter group (null: 1 for every group).</summary>
    public LearningRateScales? DistillScales { get; init; }
    public double Temperature { get; init; } = 1.0;
    public TrainSettings Scalers { get; init; } = new(Steps: 200, LearningRate: 3e-3, WeightDecay: 0);
    public int ScalerSubset { get; init; } = 5000;
    public ScalerInit ScalerInit { get; init; } = ScalerInit.Resized;
    /// <summary>Stage 2's learning-rate multipliers per parameter group (null: 1 for every group).</summary>
    public LearningRateScales? ScalerScales { get; init; }
    /// <summary>Which model stage 2 imitates (null: the teacher).</summary>
    public ScalerReference? ScalerReference { get; init; }
    /// <summary>How resized scalers map layers (null: interpolate).</summary>
    public DepthMapping? ScalerDepth { get; init; }
    /// <summary>How resized scalers map blocks along the width (null: interpolate).</summary>
    public WidthMapping? ScalerWidth { get; init; }
    public IReadOnlyList<ModelSize> Targets { get; init; } = [];
    public IReadOnlyList<MethodPlan> Methods { get; init; } = [];
    public int CurvePoints { get; init; } = 4;
    public long Seed { get; init; }
    /// <summary>Which of a size's models is promoted in the model registry.</summary>
    public PromotionPolicy Promotion { get; init; } = new();

    /// <summary>
    /// A size asked for on demand: stage 2 from this pipeline's templates and the evaluation of the model it makes (WAVE
    /// with no stage-3 step), nothing else.
    /// </summary>
    public PipelineDefinition OnDemand(ModelSize size)
    {
        var wave = Methods.FirstOrDefault(m => m.Method == Pipeline.Methods.Wave)?.Training ?? new TrainSettings(0);
        return this with { Targets = [size], Methods = [new MethodPlan(Pipeline.Methods.Wave, wave with { Steps = 0 })], CurvePoints = 0 };
    }

    /// <summary>Stage 1 for <paramref name="teacherDigest"/>: templates distilled through the auxiliary model.</summary>
    public DistillTemplates DistillJob(string teacherDigest) =>
        new(teacherDigest, Family, Auxiliary, Templates, Data with { Subset = null }, Distill, Temperature, Seed) { Scales = DistillScales };

    /// <summary>Stage 2 for one size: its scalers fitted on the scaler subset drawn with <paramref name="seed"/>.</summary>
    public TrainScalers ScalerJob(string teacherDigest, TemplatesDistilled templates, ModelSize target, long seed) =>
        ScalerJob(teacherDigest, templates.TemplatesDigest, templates.AuxScalersDigest, target, seed);

    /// <summary>Stage 2 for one size from the digests of the templates and the auxiliary scalers (<c>wavemesh init</c>).</summary>
    public TrainScalers ScalerJob(string teacherDigest, string templatesDigest, string auxScalersDigest, ModelSize target, long seed) =>
        new(teacherDigest, templatesDigest, auxScalersDigest, target, ScalerInit,
            Data with { Subset = ScalerSubset, SubsetSeed = seed }, Scalers, Temperature, seed)
        {
            Scales = ScalerScales, Reference = ScalerReference, Depth = ScalerDepth, Width = ScalerWidth,
        };

}
