using System.Security.Cryptography;
using System.Text;
using WaveMesh.Contracts;
using WaveMesh.Observability;

namespace WaveMesh.Dashboard.Tests;

/// <summary>
/// One run as the pipeline's own messages describe it (the jobs the coordinator asks for, the progress and results the
/// workers publish), applied to a real <see cref="RunLedger"/> one message at a time on a simulated clock.
/// </summary>
public sealed class FabricatedRun(RunLedger ledger, DateTime start)
{
    public static readonly ModelFamily Family = new();
    public static readonly DatasetRef Data = new();
    const int Batch = 128;

    readonly Dictionary<string, DateTime> started = [];
    readonly Dictionary<string, int> lastStep = [];

    public Guid RunId { get; } = Guid.NewGuid();
    public DateTime Clock { get; private set; } = start;
    public TeacherChanged Teacher { get; private set; } = null!;

    public static string Digest(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)));

    public void Advance(double seconds) => Clock = Clock.AddSeconds(seconds);

    /// <summary>What the Control service does when a teacher version starts a pipeline.</summary>
    public TeacherChanged Start(string pipeline, string teacherName, ModelSize size, string? teacherDigest = null)
    {
        var digest = teacherDigest ?? Digest($"teacher {teacherName}");
        ledger.StartRun(RunId, pipeline, teacherName, digest, Clock);
        Teacher = new TeacherChanged(digest, teacherName, Family, size) { RunId = RunId, CreatedAt = Clock };
        ledger.Apply(Teacher);
        return Teacher;
    }

    // ---- jobs, as RunCoordinator asks for them ----

    public DistillTemplates AskDistill(ModelSize auxiliary) => Ask(new DistillTemplates(Teacher.TeacherDigest, Family, auxiliary,
        new TemplateSettings(), Data, new TrainSettings(Steps: 469, LearningRate: 5e-4), 1.0, 0) { RunId = RunId, CreatedAt = Clock });

    public TrainScalers AskScalers(TemplatesDistilled templates, ModelSize target) => Ask(new TrainScalers(Teacher.TeacherDigest,
        templates.TemplatesDigest, templates.AuxScalersDigest, target, ScalerInit.Resized, Data with { Subset = 5000 },
        new TrainSettings(Steps: 200, LearningRate: 3e-3, WeightDecay: 0), 1.0, 0) { RunId = RunId, CreatedAt = Clock });

    public FinetuneTarget AskFinetune(ModelSize target, string method, InitSource init, int steps = 600) => Ask(new FinetuneTarget(Family, target, method,
        init, Data, new TrainSettings(Steps: steps), 0, CurvePoints: 4) { RunId = RunId, CreatedAt = Clock });

    public EvaluateModel AskEvaluation(string modelDigest, string subject) =>
        Ask(new EvaluateModel(modelDigest, Data, subject) { RunId = RunId, CreatedAt = Clock });

    /// <summary>Both evaluations a finished fine-tune unblocks: its initial and its final model.</summary>
    public (EvaluateModel Init, EvaluateModel Final) AskEvaluations(TargetFinetuned f) =>
        (AskEvaluation(f.InitModelDigest, $"{f.Target.Slug}/{f.Method}/init"), AskEvaluation(f.ModelDigest, $"{f.Target.Slug}/{f.Method}/final"));

    T Ask<T>(T job) where T : StageJob
    {
        ledger.Apply(job);
        Advance(0.05);
        return job;
    }

    // ---- what workers publish ----

    /// <summary>Trains <paramref name="job"/> from its last reported step to <paramref name="to"/>, reporting every <paramref name="every"/> steps.</summary>
    public void Train(StageJob job, int to, Func<int, double> loss, string worker, double examplesPerSecond, int every = 10)
    {
        var from = lastStep.GetValueOrDefault(job.Key, 0);
        for (var step = NextReport(from, every); step <= to; step = NextReport(step, every))
        {
            Advance((step - from) * Batch / examplesPerSecond);
            from = step;
            Progress(job, step, loss(step), worker, examplesPerSecond);
        }
        // Always report the exact step reached (the last report may fall between two multiples of `every`).
        if (from < to)
        {
            Advance((to - from) * Batch / examplesPerSecond);
            Progress(job, to, loss(to), worker, examplesPerSecond);
        }
    }

    static int NextReport(int step, int every) => step == 0 ? 1 : (step / every + 1) * every;

    public void Progress(StageJob job, int step, double loss, string worker, double examplesPerSecond)
    {
        if (!started.TryGetValue(job.Key, out var t0)) started[job.Key] = t0 = Clock.AddSeconds(-Batch / examplesPerSecond);
        lastStep[job.Key] = step;
        ledger.Apply(new StageProgress(job.Key, job.Stage, job.Describe(), step, StepsOf(job), loss, examplesPerSecond,
            (Clock - t0).TotalSeconds, worker) { RunId = RunId, CreatedAt = Clock });
    }

    public TemplatesDistilled Distilled(DistillTemplates job, double auxAccuracy, long templateParameters, string worker) =>
        Publish(new TemplatesDistilled(job.Key, job.TeacherDigest, Digest($"templates {job.Key}"), Digest($"aux scalers {job.Key}"),
            auxAccuracy, templateParameters, Stats(job, worker)) { RunId = RunId, CreatedAt = Clock });

    public ScalersTrained ScalersTrained(TrainScalers job, string worker) =>
        Publish(new ScalersTrained(job.Key, job.TemplatesDigest, job.Target, Digest($"scalers {job.Key}"), Digest($"wave model {job.Key}"),
            ScalerCount(job.Target), Stats(job, worker)) { RunId = RunId, CreatedAt = Clock });

    public TargetFinetuned Finetuned(FinetuneTarget job, string worker, params double[] curve) => Finetuned(job, worker, cached: false, curve);

    public TargetFinetuned Finetuned(FinetuneTarget job, string worker, bool cached, params double[] curve)
    {
        var steps = job.Training.Steps;
        var points = curve.Select((a, i) => new CurvePoint(steps * (i + 1) / curve.Length, a)).ToList();
        var init = job.Init.Kind == InitSource.Model ? job.Init.Digest! : Digest($"{job.Init.Kind} init {job.Target} {job.Init.Digest}");
        return Publish(new TargetFinetuned(job.Key, job.Target, job.Method, init, Digest($"finetuned {job.Key}"), Parameters(job.Target), points,
            Stats(job, worker, cached)) { RunId = RunId, CreatedAt = Clock });
    }

    public TargetEvaluated Evaluated(EvaluateModel job, double accuracy, double loss, string worker, bool cached = false)
    {
        if (!cached) Advance(4.2);
        return Publish(new TargetEvaluated(job.Key, job.ModelDigest, job.Subject, accuracy, loss, 10_000,
            new StageStats(79, cached ? 0.02 : 4.2, cached ? 0 : 2380, cached, worker)) { RunId = RunId, CreatedAt = Clock });
    }

    public StageFailed Failed(StageJob job, string reason, int attempts = 3) =>
        Publish(new StageFailed(job.Key, job.Stage, job.Describe(), reason, attempts) { RunId = RunId, CreatedAt = Clock });

    public RunCompleted Completed(string outcome, int jobs, int failed) =>
        Publish(new RunCompleted(outcome, jobs, failed) { RunId = RunId, CreatedAt = Clock });

    T Publish<T>(T e) where T : IntegrationEvent
    {
        ledger.Apply(e);
        Advance(0.1);
        return e;
    }

    StageStats Stats(StageJob job, string worker, bool cached = false)
    {
        if (cached) return new StageStats(StepsOf(job), 0.03, 0, true, worker);
        var seconds = started.TryGetValue(job.Key, out var t0) ? (Clock - t0).TotalSeconds : 1;
        return new StageStats(StepsOf(job), seconds, StepsOf(job) * Batch / Math.Max(seconds, 1e-3), false, worker);
    }

    static int StepsOf(StageJob job) => job switch
    {
        DistillTemplates d => d.Training.Steps,
        TrainScalers s => s.Training.Steps,
        FinetuneTarget f => f.Training.Steps,
        _ => 79,
    };

    /// <summary>Parameters of a ViT of this family (patch 7 on 28x28x1, MLP ratio 4, 10 classes, class token).</summary>
    public static long Parameters(ModelSize size)
    {
        long d = size.Width, tokens = (Family.ImageSize / Family.PatchSize) * (Family.ImageSize / Family.PatchSize) + 1;
        long block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d);
        long embed = Family.Channels * Family.PatchSize * Family.PatchSize * d + d + d + tokens * d;
        return size.Depth * block + embed + 2 * d + Family.Classes * d + Family.Classes;
    }

    /// <summary>Scalers of a target for w = 32 and 8/4/8 templates (matrices, vectors, embeddings), as TemplateKinds counts them.</summary>
    public static long ScalerCount(ModelSize size)
    {
        long b = size.Width / 32;
        long matrices = 8 * (b * 3 * b + b * b + b * 4 * b + 4 * b * b);
        long vectors = 4 * (4 * b + 3 * b + b + 4 * b + b);
        return size.Depth * (matrices + vectors) + 4 * 8 * b + 2 * 4 * b + Family.Classes;
    }

    /// <summary>A smoothed training loss falling from <paramref name="first"/> towards <paramref name="floor"/>, with a little deterministic noise.</summary>
    public static Func<int, double> Loss(double first, double floor, double scale, int seed) => step =>
    {
        var noise = Math.Sin(step * 0.37 + seed) * 0.6 + Math.Sin(step * 1.71 + 2 * seed) * 0.4;
        return floor + (first - floor) * Math.Exp(-step / scale) + 0.018 * noise * (floor + 0.3);
    };
}
