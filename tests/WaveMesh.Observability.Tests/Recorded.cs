using WaveMesh.Contracts;

namespace WaveMesh.Observability.Tests;

/// <summary>A small recorded pipeline: the jobs a run asked for and the events its workers sent back, in the order they happened.</summary>
static class Recorded
{
    public static readonly Guid Run = Guid.Parse("11111111-2222-3333-4444-555555555555");
    public const string Teacher = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    public const string Templates = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    public const string Aux = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    public const string Scalers = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
    public const string WaveInit = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    public const string WaveFinal = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    static readonly DateTime T0 = new(2026, 11, 27, 10, 0, 0, DateTimeKind.Utc);
    static readonly ModelSize Target = new(2, 64, 2);
    static readonly DatasetRef Data = new();

    public static readonly DistillTemplates Distill = new(Teacher, new ModelFamily(), new ModelSize(4, 128, 4), new TemplateSettings(), Data,
        new TrainSettings(100), 1.0, 0) { RunId = Run, CreatedAt = T0 };
    public static readonly TrainScalers Scale = new(Teacher, Templates, Aux, Target, ScalerInit.Resized, Data, new TrainSettings(50), 1.0, 0) { RunId = Run, CreatedAt = T0.AddMinutes(2) };
    public static readonly FinetuneTarget Finetune = new(new ModelFamily(), Target, "wave", new InitSource(InitSource.Model, WaveInit), Data,
        new TrainSettings(200), 0) { RunId = Run, CreatedAt = T0.AddMinutes(3) };
    public static readonly EvaluateModel EvaluateFinal = new(WaveFinal, Data, "2x64x2/wave/final") { RunId = Run, CreatedAt = T0.AddMinutes(6) };

    static StageStats Stats(double seconds, bool cached = false) => new(10, seconds, 500, cached, "worker-1");

    public static StageProgress Progress(StageJob job, int step, int steps, double loss, int minute) =>
        new(job.Key, job.Stage, job.Describe(), step, steps, loss, 480, step * 0.3, "worker-1") { RunId = Run, CreatedAt = T0.AddMinutes(minute) };

    public static readonly TemplatesDistilled Distilled = new(Distill.Key, Teacher, Templates, Aux, 0.81, 53898, Stats(90)) { RunId = Run, CreatedAt = T0.AddMinutes(2) };
    public static readonly ScalersTrained Scaled = new(Scale.Key, Templates, Target, Scalers, WaveInit, 1536, Stats(30)) { RunId = Run, CreatedAt = T0.AddMinutes(3) };
    public static readonly TargetFinetuned Finetuned = new(Finetune.Key, Target, "wave", WaveInit, WaveFinal, 120_000, [new CurvePoint(100, 0.7)], Stats(150)) { RunId = Run, CreatedAt = T0.AddMinutes(6) };
    public static readonly TargetEvaluated Evaluated = new(EvaluateFinal.Key, WaveFinal, EvaluateFinal.Subject, 0.83, 0.5, 10000, Stats(5)) { RunId = Run, CreatedAt = T0.AddMinutes(7) };

    /// <summary>The stream as it happened.</summary>
    public static IReadOnlyList<object> InOrder() =>
    [
        Distill, Progress(Distill, 50, 100, 1.2, 1), Progress(Distill, 100, 100, 0.8, 2), Distilled,
        Scale, Progress(Scale, 50, 50, 0.7, 3), Scaled,
        Finetune, Progress(Finetune, 100, 200, 0.6, 4), Progress(Finetune, 200, 200, 0.4, 5), Finetuned,
        EvaluateFinal, Evaluated,
    ];
}
