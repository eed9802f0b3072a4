namespace WaveMesh.Contracts.Tests;

/// <summary>One filled-in instance of every job and event, with values that differ from every default.</summary>
static class Samples
{
    public const string DigestA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    public const string DigestB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    public const string DigestC = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    public static readonly Guid Run = Guid.Parse("11111111-2222-3333-4444-555555555555");
    public static readonly Guid Cause = Guid.Parse("99999999-8888-7777-6666-555555555555");

    public static readonly ModelFamily Family = new(ImageSize: 32, Channels: 3, PatchSize: 4, MlpRatio: 2, Classes: 10, Pooling: Pooling.Mean);
    public static readonly DatasetRef Data = new("cifar-10", "/data/cifar", Subset: 5000, SubsetSeed: 7);
    public static readonly TrainSettings Training = new(Steps: 300, BatchSize: 64, LearningRate: 3e-3, WeightDecay: 0, WarmupFraction: 0.1, Augmentation: Augmentation.CropFlip);
    public static readonly StageStats Stats = new(Steps: 300, Seconds: 12.5, ExamplesPerSecond: 1536.25, Cached: false, Worker: "host/42");

    public static DistillTemplates Distill() => new(DigestA, Family, new ModelSize(4, 128, 4), new TemplateSettings(16, 4, 2, 4),
        Data, Training, Temperature: 2.0, Seed: 3) { RunId = Run, CausationId = Cause };

    public static TrainScalers Scalers() => new(DigestA, DigestB, DigestC, new ModelSize(6, 160, 5), ScalerInit.Resized, Data, Training,
        Temperature: 1.5, Seed: 4) { RunId = Run, CausationId = Cause };

    public static FinetuneTarget Finetune() => new(Family, new ModelSize(2, 64, 2), "wave", new InitSource(InitSource.Model, DigestB), Data,
        Training, Seed: 5, CurvePoints: 4) { RunId = Run, CausationId = Cause };

    public static EvaluateModel Evaluate() => new(DigestC, Data, "2x64x2/wave/final") { RunId = Run, CausationId = Cause };

    public static StageJob Job(Type type) => type.Name switch
    {
        nameof(DistillTemplates) => (StageJob)Distill(),
        nameof(TrainScalers) => Scalers(),
        nameof(FinetuneTarget) => Finetune(),
        nameof(EvaluateModel) => Evaluate(),
        _ => throw new ArgumentException($"no sample job of type {type.Name}"),
    };

    public static IntegrationEvent Event(Type type) => type.Name switch
    {
        nameof(TeacherChanged) => (IntegrationEvent)new TeacherChanged(DigestA, "teacher L6 D128 H4", Family, new ModelSize(6, 128, 4)),
        nameof(TemplatesDistilled) => new TemplatesDistilled("key-1", DigestA, DigestB, DigestC, 0.8169, 53_898, Stats),
        nameof(ScalersTrained) => new ScalersTrained("key-2", DigestB, new ModelSize(6, 160, 5), DigestC, DigestA, 16_180, Stats),
        nameof(TargetFinetuned) => new TargetFinetuned("key-3", new ModelSize(2, 64, 2), "wave", DigestB, DigestC, 1_870_000,
            [new CurvePoint(10, 0.5), new CurvePoint(20, 0.625)], Stats),
        nameof(TargetEvaluated) => new TargetEvaluated("key-4", DigestC, "2x64x2/wave/init", 0.8164, 0.52, 10_000, Stats with { Cached = true }),
        nameof(StageFailed) => new StageFailed("key-5", StageNames.Scalers, "scalers of L6 D160 H5", "file not found: x.safetensors", 3),
        nameof(StageProgress) => new StageProgress("key-6", StageNames.Finetune, "finetune L2 D64 H2 (wave, 300 steps)", 120, 300, 0.731,
            2048.5, 33.25, "host/42"),
        nameof(RunCompleted) => new RunCompleted(RunOutcome.Failed, 17, 2),
        nameof(ModelPromoted) => new ModelPromoted("fmnist", DigestA, new ModelSize(2, 64, 2), "wave", 0.8164, DigestB, DigestC),
        nameof(PromotionRejected) => new PromotionRejected("fmnist", DigestA, new ModelSize(3, 96, 3), "scratch", 0.7125, DigestB,
            "0.7125 is 0.0400 under the promoted model's 0.7525 (tolerance 0.0100)"),
        _ => throw new ArgumentException($"no sample event of type {type.Name}"),
    } with { RunId = Run, CausationId = Cause, CreatedAt = new DateTime(2025, 3, 4, 5, 6, 7, DateTimeKind.Utc) };

    public static IEnumerable<object[]> JobTypes => MessageTypes.Jobs.Select(t => new object[] { t.Name });
    public static IEnumerable<object[]> EventTypes => MessageTypes.Events.Select(t => new object[] { t.Name });
    public static IEnumerable<object[]> AllTypes => MessageTypes.Events.Concat(MessageTypes.Jobs).Select(t => new object[] { t.Name });

    public static object Message(string typeName)
    {
        var type = MessageTypes.Find(typeName) ?? throw new ArgumentException(typeName);
        return typeof(StageJob).IsAssignableFrom(type) ? Job(type) : Event(type);
    }
}
