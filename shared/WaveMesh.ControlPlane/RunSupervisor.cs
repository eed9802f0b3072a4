using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WaveMesh.Contracts;
using WaveMesh.Messaging;
using WaveMesh.Observability;
using WaveMesh.Pipeline;
using WaveMesh.Workers;

namespace WaveMesh.ControlPlane;

/// <summary>
/// Drives runs: starts one for every pipeline that follows a new teacher version (and for a changed pipeline, where
/// finished jobs are reused and only new branches run), records every event of a live run in the <see cref="RunStore"/>
/// and hands it to the same <see cref="PipelineController"/> the embedded mode uses, rebuilds unfinished runs after a
/// restart, and re-offers stalled and dead-lettered jobs. One control replica is expected.
/// </summary>
public sealed class RunSupervisor(TeacherRegistry registry, DatasetRegistry datasets, RunStore runs, ModelRegistry models, ResultRecords results, IEventBus bus,
    PipelineController controller, JobWatchdog watchdog, RunLedger ledger, IOptions<ControlOptions> options, ILogger<RunSupervisor> log) : IEventHandler
{
    /// <summary>(run, size) pairs whose promotion is decided, so later events of the run skip them without reading the registry.</summary>
    readonly ConcurrentDictionary<(Guid, ModelSize), bool> decided = new();
    readonly ControlOptions o = options.Value;
    /// <summary>The trace each live run started in, so the watchdog's re-offers stay in the run's one trace.</summary>
    readonly ConcurrentDictionary<Guid, ActivityContext> runTraces = new();
    readonly ConcurrentDictionary<string, int> deadLetterOffers = new(StringComparer.Ordinal);
    readonly TaskCompletionSource ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Called once the ledger is loaded and unfinished runs are restored. Until then events wait (their deliveries are
    /// held), so an event of a run that is not restored yet is never taken for one of an unknown run and lost.
    /// </summary>
    public void MarkReady() => ready.TrySetResult();

    /// <summary>Whether the ledger is loaded and unfinished runs are restored.</summary>
    public bool IsReady => ready.Task.IsCompleted;

    /// <summary>Why start-up has not finished yet (the last failed attempt), for the API's answer while it has not.</summary>
    public string? StartupProblem { get; set; }

    Task Ready(CancellationToken ct) => ready.Task.WaitAsync(ct);

    /// <summary>After a teacher version is registered: a run of every pipeline following that teacher, when the version is new.</summary>
    public async Task<RegisterResult> StartRunsAsync(Registration registration, CancellationToken ct = default)
    {
        var started = new List<Guid>();
        if (registration.Changed)
            foreach (var pipeline in await registry.PipelinesAsync(ct))
                if (pipeline.Teacher == registration.Teacher) started.Add(await StartRunAsync(pipeline, registration.Teacher, registration.Version, ct));
        return new RegisterResult(registration.Teacher, registration.Version.Version, registration.Version.Digest, registration.Changed, started);
    }

    /// <summary>After a pipeline changed: a run of it for its teacher's current version, if the teacher has one.</summary>
    public async Task<Guid?> StartRunAsync(PipelineRecord pipeline, CancellationToken ct = default) =>
        (await registry.TeacherAsync(pipeline.Teacher, ct))?.Current is { } current ? await StartRunAsync(pipeline, pipeline.Teacher, current, ct) : null;

    /// <summary>
    /// A size nobody planned, from <paramref name="pipeline"/>'s templates for its teacher's current version: stage 2 and
    /// an evaluation only (stage 1 is found in the cache when the pipeline has run). Its model is promoted if it passes the gate.
    /// </summary>
    public async Task<Guid> StartOnDemandAsync(PipelineRecord pipeline, ModelSize size, CancellationToken ct = default) =>
        (await registry.TeacherAsync(pipeline.Teacher, ct))?.Current is { } current
            ? await StartRunAsync(pipeline, pipeline.Teacher, current, ct, size)
            : throw new ControlException(404, $"teacher {pipeline.Teacher} has no version yet");

    /// <summary>
    /// The definition a run follows: its pipeline's configuration, narrowed to one size for an on-demand run, its data
    /// set addressed by digest (<paramref name="data"/>, or the registered one when the run is new).
    /// </summary>
    async Task<PipelineDefinition> DefinitionAsync(string pipeline, string config, ModelSize? onDemand, DatasetRef? data, CancellationToken ct)
    {
        var definition = RunConfig.Parse(config, $"pipeline {pipeline}").Pipeline with { Name = pipeline };
        definition = definition with { Data = data ?? await datasets.ResolveAsync(definition.Data, ct) };
        return onDemand is { } size ? definition.OnDemand(size) : definition;
    }

    async Task<Guid> StartRunAsync(PipelineRecord pipeline, string teacherName, TeacherVersion version, CancellationToken ct, ModelSize? onDemand = null)
    {
        await Ready(ct);
        var definition = await DefinitionAsync(pipeline.Name, pipeline.Config, onDemand, null, ct);
        var runId = Guid.NewGuid();
        var teacher = new TeacherChanged(version.Digest, TeacherVersion.Label(teacherName, version.Version), version.Family, version.Size) { RunId = runId };
        if (Activity.Current is { } trace) runTraces[runId] = trace.Context;
        await runs.CreateAsync(new RunRecord(runId, pipeline.Name, DateTime.UtcNow, teacher, pipeline.Config, [], RunRecord.Running, onDemand, definition.Data), ct);
        ledger.StartRun(runId, pipeline.Name, teacher.Name, teacher.TeacherDigest, DateTime.UtcNow);
        await bus.PublishAsync(teacher, ct);
        await controller.StartAsync(definition, teacher, ct);
        log.LogInformation("run {Run} of pipeline {Pipeline} started for {Teacher}", runId, pipeline.Name, teacher.Name);
        return runId;
    }

    /// <summary>Every event from the bus: teachers announced by other systems are registered; results drive their runs.</summary>
    public async Task HandleAsync(IntegrationEvent e, CancellationToken ct = default)
    {
        await Ready(ct);
        using var activity = e is StageProgress ? null : Telemetry.Source.StartActivity($"control handles {e.GetType().Name}");
        activity?.SetTag(Telemetry.Tags.RunId, e.RunId.ToString());
        ledger.Apply(e);
        if (e is TeacherChanged external && external.RunId == Guid.Empty)
        {
            var name = TeacherName(external);
            try { await StartRunsAsync(await registry.RegisterAsync(name, external.TeacherDigest, external.Size.Heads, ct), ct); }
            catch (ControlException x) { log.LogWarning("TeacherChanged for {Name} refused: {Reason}", name, x.Message); }
            return;
        }
        if (e is StageProgress || controller.Find(e.RunId) is not { } run) return;
        await runs.AppendAsync(e, ct);
        await controller.HandleAsync(e, ct);
        if (e is TargetEvaluated or StageFailed) await PromoteAsync(run, ct);
        if (run.IsComplete) await runs.SetStatusAsync(e.RunId, run.Completion().Outcome, ct);
    }

    /// <summary>
    /// Decides the promotion of every size of <paramref name="run"/> that is settled and not decided yet, and publishes
    /// each decision. Called after each evaluation or failure, and (wired as the controller's
    /// <see cref="PipelineController.BeforeCompletion"/>) before the run is announced complete.
    /// </summary>
    public async Task PromoteAsync(RunCoordinator run, CancellationToken ct)
    {
        List<ModelSize> sizes;
        lock (run) sizes = [.. Promotion.SettledSizes(run.State, run.IsComplete).Where(size => !decided.ContainsKey((run.RunId, size)))];
        if (sizes.Count == 0) return;
        var teacher = TeacherName(run.State.Teacher);
        foreach (var size in sizes)
        {
            (PromotionCandidate?, string?) choice;
            lock (run) choice = Promotion.Choose(run.State, size, run.State.Definition.Promotion);
            var decision = await models.DecideAsync(teacher, run.State.Teacher.TeacherDigest, run.RunId, size, choice,
                run.State.Definition.Promotion.Tolerance, ct);
            decided[(run.RunId, size)] = true;
            switch (decision)
            {
                case ModelPromoted p:
                    log.LogInformation("promoted {Method} {Size} of teacher {Teacher} at {Accuracy:P2} (run {Run})", p.Method, size, teacher, p.Accuracy, run.RunId);
                    break;
                case PromotionRejected r:
                    log.LogInformation("no promotion for {Size} of teacher {Teacher} (run {Run}): {Reason}", size, teacher, run.RunId, r.Reason);
                    break;
            }
            if (decision is not null) await bus.PublishAsync(decision, ct);
        }
    }

    /// <summary>The registry name of a run's teacher (its announcement reads "name vN").</summary>
    static string TeacherName(TeacherChanged teacher) => teacher.Name.Split(' ')[0];

    /// <summary>After a restart: every run still running is rebuilt from its recorded events.</summary>
    public async Task RestoreAsync(CancellationToken ct = default)
    {
        foreach (var header in await runs.HeadersAsync(ct))
        {
            if (header.Status != RunRecord.Running || await runs.GetAsync(header.RunId, ct) is not { } record) continue;
            var definition = await DefinitionAsync(record.Pipeline, record.Config, record.OnDemand, record.Data, ct);
            var run = controller.Restore(definition, record.Teacher, record.Events.Select(x => (IntegrationEvent)x.Open()));
            log.LogInformation("run {Run} restored with {Events} events", record.RunId, record.Events.Count);
            // Jobs the previous process admitted may never have reached the bus (it stopped mid-handling): offer again
            // at once every outstanding job nobody holds; a copy of one still queued is answered without running twice.
            StageJob[] outstanding;
            lock (run) outstanding = [.. run.Outstanding];
            foreach (var job in await watchdog.CheckAsync(outstanding, TimeSpan.Zero, ct))
                log.LogInformation("job {Job} of restored run {Run} offered again", job.Describe(), record.RunId);
            // Sizes settled before the stop whose decision was not recorded are decided now (recorded ones are skipped).
            await PromoteAsync(run, ct);
        }
    }

    /// <summary>
    /// A job on a dead-letter topic. Failed for good by its worker: its StageFailed already says why. Dead-lettered by a
    /// sidecar (its worker kept answering RETRY or failing): offered again after <see cref="ControlOptions.DeadLetterDelay"/>,
    /// up to <see cref="ControlOptions.DeadLetterReoffers"/> times, then recorded as failed. Jobs already done, or no
    /// longer outstanding in a live run, are left alone.
    /// </summary>
    public async Task HandleDeadLetterAsync(StageJob job, bool failedForGood, CancellationToken ct = default)
    {
        await Ready(ct);
        if (failedForGood)
        {
            log.LogInformation("job {Job} of run {Run} was dead-lettered by its worker after its last attempt", job.Describe(), job.RunId);
            return;
        }
        if (controller.Find(job.RunId) is not { } run) return;
        bool outstanding;
        lock (run) outstanding = run.Outstanding.Any(j => j.Key == job.Key);
        if (!outstanding || await results.ExistsAsync(job, ct)) return;
        int offers = deadLetterOffers.AddOrUpdate(job.Key, 1, (_, n) => n + 1);
        if (offers > o.DeadLetterReoffers)
        {
            var reason = $"the sidecar dead-lettered it {offers} times: its workers kept refusing or failing the delivery";
            log.LogWarning("job {Job} of run {Run}: {Reason}", job.Describe(), job.RunId, reason);
            await bus.PublishAsync(new StageFailed(job.Key, job.Stage, job.Describe(), reason, offers) { RunId = job.RunId, CausationId = job.Id }, ct);
            return;
        }
        log.LogWarning("job {Job} of run {Run} was dead-lettered by a sidecar; offered again in {Delay}", job.Describe(), job.RunId, o.DeadLetterDelay);
        await Task.Delay(o.DeadLetterDelay, ct);
        await bus.PublishAsync(job with { Id = Guid.NewGuid(), CausationId = job.Id }, ct);
    }

    /// <summary>Re-offers outstanding jobs whose worker died or that nobody claimed.</summary>
    public async Task<int> WatchOnceAsync(CancellationToken ct = default)
    {
        int republished = 0;
        foreach (var run in controller.Runs.Where(r => r.IsComplete)) runTraces.TryRemove(run.RunId, out _);
        foreach (var run in controller.Runs.Where(r => !r.IsComplete))
        {
            StageJob[] outstanding;
            lock (run) outstanding = [.. run.Outstanding];
            runTraces.TryGetValue(run.RunId, out var trace);
            var again = await watchdog.CheckAsync(outstanding, o.UnclaimedAfter, ct, trace);
            foreach (var job in again) log.LogWarning("job {Job} of run {Run} had no live worker: published again", job.Describe(), run.RunId);
            republished += again.Count;
        }
        return republished;
    }
}
