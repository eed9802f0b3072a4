using System.Security.Cryptography;
using System.Text;
using WaveMesh.Contracts;

namespace WaveMesh.Pipeline.Tests;

/// <summary>Definitions, teachers and made-up stage results: what a run sees, without any stage running.</summary>
static class Fabricated
{
    public static readonly ModelSize TeacherSize = new(6, 128, 4);
    public static readonly ModelSize Small = new(2, 64, 2);      // no larger than the teacher
    public static readonly ModelSize Same = new(6, 128, 4);      // the teacher's own size
    public static readonly ModelSize Wider = new(4, 192, 4);     // wider than the teacher
    public static readonly ModelSize Deeper = new(8, 96, 3);     // deeper than the teacher

    public static MethodPlan Wave => new(Methods.Wave, new TrainSettings(40, LearningRate: 5e-4));
    public static MethodPlan Scratch => new(Methods.Scratch, new TrainSettings(40, LearningRate: 1e-3));
    public static MethodPlan WeightSelection => new(Methods.WeightSelection, new TrainSettings(40, LearningRate: 5e-4));

    public static PipelineDefinition Definition(IReadOnlyList<ModelSize> targets, params MethodPlan[] methods) => new()
    {
        Targets = targets,
        Methods = methods.Length == 0 ? [Wave, Scratch, WeightSelection] : methods,
        Templates = new TemplateSettings(16, 4, 2, 4),
        Auxiliary = new ModelSize(2, 32, 2),
        ScalerSubset = 1000,
        CurvePoints = 2,
        Seed = 7,
    };

    public static TeacherChanged Teacher(Guid runId, ModelFamily? family = null) =>
        new(Digest("teacher"), "teacher L6 D128 H4", family ?? new ModelFamily(), TeacherSize) { RunId = runId };

    public static string Digest(string seed) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(seed)));

    static StageStats Stats(int steps) => new(steps, 1.5, 100, false, "fake");

    /// <summary>The result event a stage would publish for <paramref name="job"/>, with digests derived from its key.</summary>
    public static IntegrationEvent ResultOf(StageJob job)
    {
        IntegrationEvent e = job switch
        {
            DistillTemplates d => new TemplatesDistilled(d.Key, d.TeacherDigest, Digest("templates " + d.Key), Digest("aux " + d.Key), 0.8, 1234, Stats(d.Training.Steps)),
            TrainScalers s => new ScalersTrained(s.Key, s.TemplatesDigest, s.Target, Digest("scalers " + s.Key), Digest("model " + s.Key), 321, Stats(s.Training.Steps)),
            FinetuneTarget f => new TargetFinetuned(f.Key, f.Target, f.Method, f.Init.Digest is { } d && f.Init.Kind == InitSource.Model ? d : Digest("init " + f.Key),
                Digest("final " + f.Key), 10_000, [new CurvePoint(f.Training.Steps / 2, 0.4)], Stats(f.Training.Steps)),
            EvaluateModel v => new TargetEvaluated(v.Key, v.ModelDigest, v.Subject, 0.5, 1.2, 10_000, Stats(0)),
            _ => throw new ArgumentException(job.GetType().Name),
        };
        return e with { RunId = job.RunId, CausationId = job.Id };
    }

    public static StageFailed FailureOf(StageJob job, string reason = "out of memory") =>
        new(job.Key, job.Stage, job.Describe(), reason, 3) { RunId = job.RunId, CausationId = job.Id };

    /// <summary>Answers every job (and every job those answers unblock) with a fabricated result; returns every job dispatched.</summary>
    public static List<StageJob> Drain(RunCoordinator run, IEnumerable<StageJob> first, Func<StageJob, IntegrationEvent>? answer = null)
    {
        var all = new List<StageJob>();
        var pending = new Queue<StageJob>(first);
        while (pending.TryDequeue(out var job))
        {
            all.Add(job);
            foreach (var next in run.Handle((answer ?? ResultOf)(job))) pending.Enqueue(next);
        }
        return all;
    }
}
