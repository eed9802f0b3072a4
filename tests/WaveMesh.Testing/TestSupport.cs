using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Engine.Training;
using WaveMesh.Stages;

namespace WaveMesh.Testing;

/// <summary>A fresh folder per test holding one artifact store and a scratch folder, removed afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wavemesh-stages-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }
    public string StoreRoot => System.IO.Path.Combine(Path, "store");

    /// <summary>A new store instance on this folder, as a new process would open it.</summary>
    public FileArtifactStore Store() => new(StoreRoot);

    public StageContext Context(Datasets? datasets = null) => new()
    {
        Store = Store(),
        Datasets = datasets ?? new Datasets(),
        Worker = "test-worker",
        WorkDirectory = System.IO.Path.Combine(Path, "work"),
    };

    /// <summary>Where the store keeps an artifact's bytes (objects/ab/abcd...).</summary>
    public string ObjectPath(string digest) => System.IO.Path.Combine(StoreRoot, "objects", digest[..2], digest);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>A stage unit that counts its runs and answers with whatever <paramref name="run"/> makes.</summary>
public sealed class FakeUnit<TJob>(string stage, Func<TJob, StageContext, IProgress<StepReport>, Task<IntegrationEvent>> run) : IStageUnit
    where TJob : StageJob
{
    int runs;

    public int Runs => runs;
    public string Stage => stage;
    public Type JobType => typeof(TJob);

    public Task<IntegrationEvent> RunAsync(StageJob job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation)
    {
        Interlocked.Increment(ref runs);
        return run((TJob)job, context, progress);
    }
}

public static class Fakes
{
    public const string ModelDigest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    public static EvaluateModel Evaluation(string subject = "2x32x2/wave/final") =>
        new(ModelDigest, new DatasetRef(Subset: 500), subject) { RunId = Guid.NewGuid(), CausationId = Guid.NewGuid() };

    public static FinetuneTarget Finetune() =>
        new(new ModelFamily(), new ModelSize(1, 16, 1), "scratch", new InitSource(InitSource.Scratch), new DatasetRef(Subset: 500),
            new TrainSettings(3, BatchSize: 16), Seed: 1) { RunId = Guid.NewGuid(), CausationId = Guid.NewGuid() };

    /// <summary>An evaluator that reports <paramref name="accuracy"/> without looking at any model.</summary>
    public static FakeUnit<EvaluateModel> Evaluator(double accuracy = 0.75) =>
        new(StageNames.Evaluate, (job, context, _) => Task.FromResult<IntegrationEvent>(
            new TargetEvaluated(job.Key, job.ModelDigest, job.Subject, accuracy, 0.9, 500, new StageStats(0, 0.1, 5000, false, context.Worker))));

    /// <summary>A finetuner that stores two small artifacts (its initial and final "models") and names them in its result.</summary>
    public static FakeUnit<FinetuneTarget> Finetuner() =>
        new(StageNames.Finetune, async (job, context, _) =>
        {
            var init = await context.Store.PutAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes("init of " + job.Key)), "vit");
            var final = await context.Store.PutAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes("final of " + job.Key)), "vit");
            return new TargetFinetuned(job.Key, job.Target, job.Method, init.Digest, final.Digest, 1234, [new CurvePoint(2, 0.3)],
                new StageStats(job.Training.Steps, 0.2, 100, false, context.Worker));
        });
}
