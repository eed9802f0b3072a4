using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Messaging;
using WaveMesh.Models;
using WaveMesh.Observability;
using WaveMesh.Pipeline;
using WaveMesh.Stages;
using WaveMesh.Workers;

namespace WaveMesh.Embedded;

/// <summary>
/// The embedded mode: the same stage units, job host and pipeline controller the services run, wired in one process
/// over an in-process bus, in-memory leases and a file-system artifact store. Jobs go through <see cref="JobHost"/> as
/// on a broker (claimed once, retried, failed for good into <see cref="DeadLetters"/>); one runs at a time (one device).
/// </summary>
public sealed class EmbeddedHost : IAsyncDisposable
{
    /// <summary>How the embedded worker takes jobs: one at a time, a failed job tried once more a second later.</summary>
    public static WorkerOptions DefaultWorker() => new()
    {
        Slots = 1,
        MaxAttempts = 2,
        RetryDelay = TimeSpan.FromSeconds(1),
        SlotWait = TimeSpan.FromDays(1),   // jobs wait their turn in order; nothing else could take them
    };

    readonly InProcessBus bus = new();
    readonly JobHost jobs;
    readonly DeadLetterList deadLetters = new();
    readonly PipelineController controller;
    readonly CancellationTokenSource stopping = new();
    readonly Dictionary<Guid, TaskCompletionSource<RunCompleted>> waiting = [];

    /// <param name="stages">The stage units (default: all four); tests pass their own.</param>
    /// <param name="worker">Slots, attempts and delays of the job host (default: <see cref="DefaultWorker"/>).</param>
    public EmbeddedHost(StageContext context, IEnumerable<IStageUnit>? stages = null, WorkerOptions? worker = null, ILogger<JobHost>? log = null)
    {
        Runner = new StageRunner(context, stages ?? StageRunner.AllStages());
        jobs = new JobHost(Runner, bus, new InMemoryJobLeases(), deadLetters, Options.Create(worker ?? DefaultWorker()),
            log ?? NullLogger<JobHost>.Instance);
        controller = new PipelineController(bus);
        bus.Subscribe<StageJob>(async (job, _) => await jobs.OfferAsync(job, stopping.Token));
        bus.Subscribe<IntegrationEvent>((e, ct) => controller.HandleAsync(e, ct));
        bus.Subscribe<RunCompleted>((e, _) =>
        {
            TaskCompletionSource<RunCompleted>? done;
            lock (waiting) waiting.Remove(e.RunId, out done);
            done?.TrySetResult(e);
            return Task.CompletedTask;
        });
        bus.Subscribe<object>((message, _) =>
        {
            if (message is StageJob or IntegrationEvent) Ledger.Apply(message);
            return Task.CompletedTask;
        });
        bus.HandlerFailed += (message, e) => Failed?.Invoke(message, e);
    }

    /// <summary>The run ledger of this process (what the dashboard shows).</summary>
    public RunLedger Ledger { get; } = new();

    public StageRunner Runner { get; }
    public IArtifactStore Store => Runner.Context.Store;

    /// <summary>Jobs that failed on every attempt, with the reason (each also ended its run with a StageFailed event).</summary>
    public IReadOnlyList<(StageJob Job, string Reason)> DeadLetters => deadLetters.Snapshot();

    /// <summary>Where observers (progress display, ledger) subscribe to every event.</summary>
    public ISubscriber Events => bus;

    /// <summary>A handler threw (a bug, not a failed stage: stage failures arrive as <see cref="StageFailed"/> events).</summary>
    public event Action<object, Exception>? Failed;

    /// <summary>
    /// The run's teacher as an artifact: the given checkpoint (validated and stored), or a model trained from scratch
    /// by the finetune stage, which caches it by its job, so the same plan never trains twice.
    /// </summary>
    public async Task<TeacherChanged> PrepareTeacherAsync(TeacherPlan plan, PipelineDefinition pipeline, Guid runId, CancellationToken cancellation)
    {
        if (plan.File is { } file && TimmHub.IsHubFolder(file))
        {
            // A timm hub folder: taken as it is, its patch embedding refolded from its own normalisation to the data set's.
            var context = Runner.Context;
            var data = context.Datasets.Load(pipeline.Data with { Subset = null }, Store);
            Directory.CreateDirectory(context.WorkDirectory);
            var converted = Path.Combine(context.WorkDirectory, $"hub-teacher-{Guid.NewGuid():N}.safetensors");
            try
            {
                HubTeacher.Import(file, new InputNormalization(data.Normalization.Mean, data.Normalization.Std), converted);
                return await StoreTeacherAsync(converted, Path.GetFileName(Path.TrimEndingDirectorySeparator(file)), plan, pipeline, runId, cancellation);
            }
            finally
            {
                File.Delete(converted);
            }
        }
        if (plan.File is { } path)
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"teacher checkpoint not found: {path} (a safetensors file, or a timm hub folder with config.json and model.safetensors)", path);
            return await StoreTeacherAsync(path, Path.GetFileName(path), plan, pipeline, runId, cancellation);
        }
        var job = new FinetuneTarget(pipeline.Family, plan.Size, Methods.Teacher, new InitSource(InitSource.Scratch),
            pipeline.Data with { Subset = null }, plan.Training, plan.Seed) { RunId = runId };
        var result = await Runner.RunAsync(job, p => _ = bus.PublishAsync(p, cancellation), cancellation);
        await bus.PublishAsync(result, cancellation);
        var trained = (TargetFinetuned)result;
        return new TeacherChanged(trained.ModelDigest, $"teacher {plan.Size}", pipeline.Family, plan.Size) { RunId = runId, CausationId = result.Id };
    }

    async Task<TeacherChanged> StoreTeacherAsync(string file, string name, TeacherPlan plan, PipelineDefinition pipeline, Guid runId, CancellationToken cancellation)
    {
        VitSpecCheck(file, plan.Heads, pipeline.Family, out var size, out var family);
        var info = await Store.PutFileAsync(file, "vit", new Dictionary<string, string> { [MetadataKeys.Source] = name }, cancellation);
        return new TeacherChanged(info.Digest, name, family, size) { RunId = runId };
    }

    /// <summary>Runs the pipeline for <paramref name="teacher"/> to its end and returns what it produced.</summary>
    public async Task<RunState> RunAsync(PipelineDefinition definition, TeacherChanged teacher, CancellationToken cancellation)
    {
        var done = new TaskCompletionSource<RunCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (waiting) waiting[teacher.RunId] = done;
        await using var cancel = cancellation.Register(() =>
        {
            stopping.Cancel();
            _ = jobs.DisposeAsync().AsTask();   // cancels the running job
            done.TrySetCanceled(cancellation);
        });
        Ledger.StartRun(teacher.RunId, definition.Name, teacher.Name, teacher.TeacherDigest, DateTime.UtcNow);
        await bus.PublishAsync(teacher, cancellation);
        var run = await controller.StartAsync(definition, teacher, cancellation);
        await done.Task;
        return run.State;
    }

    static void VitSpecCheck(string file, int? heads, ModelFamily expected, out ModelSize size, out ModelFamily family)
    {
        using var f = Safetensors.SafetensorsFile.Open(file);
        var spec = VitCheckpoint.SpecOf(f, heads);
        size = ModelMapping.Size(spec);
        family = ModelMapping.Family(spec);
        if (spec.ImageSize != expected.ImageSize || spec.Channels != expected.Channels || spec.Classes != expected.Classes)
            throw new CheckpointMismatchException($"teacher {file} takes {spec.ImageSize}x{spec.ImageSize}x{spec.Channels} images and has {spec.Classes} classes; " +
                $"the data has {expected.ImageSize}x{expected.ImageSize}x{expected.Channels} and {expected.Classes}");
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        await jobs.DisposeAsync();
        await bus.DisposeAsync();
        stopping.Dispose();
    }

    sealed class DeadLetterList : IDeadLetters
    {
        readonly List<(StageJob, string)> jobs = [];

        public Task SendAsync(StageJob job, string reason, CancellationToken cancellation = default)
        {
            lock (jobs) jobs.Add((job, reason));
            return Task.CompletedTask;
        }

        public IReadOnlyList<(StageJob Job, string Reason)> Snapshot() { lock (jobs) return [.. jobs]; }
    }
}
