using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Messaging;
using WaveMesh.Observability;
using WaveMesh.Pipeline;
using WaveMesh.Safetensors;
using WaveMesh.Stages;
using WaveMesh.Workers;

namespace WaveMesh.ControlPlane;

/// <summary>A request the control plane refuses; the message says why (it becomes a 4xx answer).</summary>
public sealed class ControlException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// The control plane: owns teacher versions, pipeline definitions and runs (all persisted in the state store, so a
/// restart loses nothing). A new teacher version starts a run of every pipeline that follows it; a changed pipeline
/// starts a run of its current teacher, where finished jobs are reused and only new branches run. Runs are driven by
/// the same <see cref="PipelineController"/> the embedded mode uses. One replica is expected.
/// </summary>
public sealed class ControlService(IArtifactStore store, IEventBus bus, PipelineController controller, JobWatchdog watchdog,
    RunLedger ledger, IOptions<ControlOptions> options, ILogger<ControlService> log) : IEventHandler
{
    readonly SemaphoreSlim gate = new(1, 1);
    readonly ControlOptions o = options.Value;
    /// <summary>The trace each live run started in, so the watchdog's re-offers stay in the run's one trace.</summary>
    readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, System.Diagnostics.ActivityContext> runTraces = new();
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> deadLetterOffers = new(StringComparer.Ordinal);
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

    // ---- persistence -------------------------------------------------------------------------------------------
    async Task<T?> Get<T>(string key, CancellationToken ct) where T : class =>
        await store.GetRecordAsync(key, ct) is { } json ? ContractJson.Deserialize<T>(json) : null;

    Task Put<T>(string key, T value, CancellationToken ct) => store.SetRecordAsync(key, ContractJson.Serialize(value!), ct);

    async Task<List<string>> Index(string key, CancellationToken ct) => await Get<List<string>>(key, ct) ?? [];

    async Task AddToIndex(string key, string item, CancellationToken ct)
    {
        var list = await Index(key, ct);
        if (list.Contains(item)) return;
        list.Add(item);
        await Put(key, list, ct);
    }

    const string TeachersIndex = "control/teachers";
    const string PipelinesIndex = "control/pipelines";
    const string RunsIndex = "control/runs";
    static string TeacherKey(string name) => $"control/teacher/{name}";
    static string PipelineKey(string name) => $"control/pipeline/{name}";
    static string RunKey(Guid id) => $"control/run/{id}";

    // ---- teachers -----------------------------------------------------------------------------------------------
    public async Task<IReadOnlyList<TeacherRecord>> TeachersAsync(CancellationToken ct = default)
    {
        var result = new List<TeacherRecord>();
        foreach (var name in await Index(TeachersIndex, ct))
            if (await Get<TeacherRecord>(TeacherKey(name), ct) is { } t) result.Add(t);
        return result;
    }

    public Task<TeacherRecord?> TeacherAsync(string name, CancellationToken ct = default) => Get<TeacherRecord>(TeacherKey(name), ct);

    /// <summary>
    /// Streams an uploaded checkpoint to a local file (refusing more than the configured size), checks the digest the
    /// client claims, validates it as a ViT checkpoint, and only then stores and registers it: a file that fails any
    /// check never reaches the store, nor the distiller.
    /// </summary>
    public async Task<RegisterResult> UploadTeacherAsync(string name, Stream body, long? length, string? claimedSha256, int? heads, CancellationToken ct)
    {
        CheckName(name, "teacher");
        if (length > o.MaxUploadBytes) throw new ControlException(413, $"upload of {length} bytes exceeds the limit of {o.MaxUploadBytes}");
        Directory.CreateDirectory(o.UploadDirectory);
        var temp = Path.Combine(o.UploadDirectory, $"{Guid.NewGuid():N}.safetensors");
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await body.ReadAsync(buffer, ct)) > 0)
                {
                    total += n;
                    if (total > o.MaxUploadBytes) throw new ControlException(413, $"upload exceeds the limit of {o.MaxUploadBytes} bytes");
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct);
                }
            }
            var digest = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (claimedSha256 is not null && !string.Equals(claimedSha256.Trim(), digest, StringComparison.OrdinalIgnoreCase))
                throw new ControlException(400, $"upload corrupted in transit: its SHA-256 is {digest}, the client said {claimedSha256}");
            var (family, size) = Validate(temp, heads);
            var info = await store.PutFileAsync(temp, "vit", new Dictionary<string, string> { ["wavemesh.teacher"] = name }, ct);
            return await RegisterAsync(name, info.Digest, info.Size, family, size, ct);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Registers an artifact already in the store as the next version of <paramref name="name"/>, after validating it.</summary>
    public async Task<RegisterResult> RegisterTeacherAsync(string name, string digest, int? heads, CancellationToken ct)
    {
        CheckName(name, "teacher");
        if (!ArtifactDigest.IsValid(digest)) throw new ControlException(400, $"'{digest}' is not a SHA-256 digest");
        if (!await store.ExistsAsync(digest, ct)) throw new ControlException(404, $"artifact {digest} is not in the store");
        var path = await store.GetFileAsync(digest, ct);
        var (family, size) = Validate(path, heads);
        return await RegisterAsync(name, digest, new FileInfo(path).Length, family, size, ct);
    }

    static (ModelFamily, ModelSize) Validate(string path, int? heads)
    {
        try
        {
            using var file = SafetensorsFile.Open(path);
            var spec = ModelFile.SpecOf(file, heads);
            Engine.Vit.VitLayout.Check(spec, file.Tensors.ToDictionary(t => t.Name, t => t.Shape));
            return (EngineMapping.Family(spec), EngineMapping.Size(spec));
        }
        catch (Exception e) when (e is SafetensorsFormatException or CheckpointMismatchException or Engine.Vit.SpecException)
        {
            throw new ControlException(400, $"not a valid ViT checkpoint: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    async Task<RegisterResult> RegisterAsync(string name, string digest, long bytes, ModelFamily family, ModelSize size, CancellationToken ct)
    {
        await gate.WaitAsync(ct);
        TeacherVersion version;
        try
        {
            var record = await TeacherAsync(name, ct) ?? new TeacherRecord(name, []);
            if (record.Current?.Digest == digest)
            {
                log.LogInformation("teacher {Name} v{Version} registered again with the same digest: nothing to do", name, record.Current.Version);
                return new RegisterResult(name, record.Current.Version, digest, false, []);
            }
            version = new TeacherVersion(record.Versions.Count + 1, digest, DateTime.UtcNow, bytes, family, size);
            record.Versions.Add(version);
            await Put(TeacherKey(name), record, ct);
            await AddToIndex(TeachersIndex, name, ct);
        }
        finally
        {
            gate.Release();
        }
        log.LogInformation("teacher {Name} v{Version} = {Digest}", name, version.Version, digest);
        var runs = new List<Guid>();
        foreach (var pipeline in await PipelinesAsync(ct))
            if (pipeline.Teacher == name) runs.Add(await StartRunAsync(pipeline, name, version, ct));
        return new RegisterResult(name, version.Version, digest, true, runs);
    }

    // ---- pipelines -----------------------------------------------------------------------------------------------
    public async Task<IReadOnlyList<PipelineRecord>> PipelinesAsync(CancellationToken ct = default)
    {
        var result = new List<PipelineRecord>();
        foreach (var name in await Index(PipelinesIndex, ct))
            if (await Get<PipelineRecord>(PipelineKey(name), ct) is { } p) result.Add(p);
        return result;
    }

    /// <summary>Creates or changes a pipeline; when its teacher has a version, a run starts (finished jobs are reused).</summary>
    public async Task<(PipelineRecord Pipeline, Guid? Run)> PutPipelineAsync(string name, string teacher, string config, CancellationToken ct)
    {
        CheckName(name, "pipeline");
        CheckName(teacher, "teacher");
        try { RunConfig.Parse(config, $"pipeline {name}"); }
        catch (ConfigException e) { throw new ControlException(400, e.Message); }
        var record = new PipelineRecord(name, teacher, config, DateTime.UtcNow);
        await Put(PipelineKey(name), record, ct);
        await AddToIndex(PipelinesIndex, name, ct);
        var current = (await TeacherAsync(teacher, ct))?.Current;
        return (record, current is null ? null : await StartRunAsync(record, teacher, current, ct));
    }

    // ---- runs ---------------------------------------------------------------------------------------------------
    async Task<Guid> StartRunAsync(PipelineRecord pipeline, string teacherName, TeacherVersion version, CancellationToken ct)
    {
        await Ready(ct);
        var definition = RunConfig.Parse(pipeline.Config, $"pipeline {pipeline.Name}").Pipeline with { Name = pipeline.Name };
        var runId = Guid.NewGuid();
        var teacher = new TeacherChanged(version.Digest, $"{teacherName} v{version.Version}", version.Family, version.Size) { RunId = runId };
        if (System.Diagnostics.Activity.Current is { } trace) runTraces[runId] = trace.Context;
        await Put(RunKey(runId), new RunRecord(runId, pipeline.Name, DateTime.UtcNow, teacher, pipeline.Config, [], RunRecord.Running), ct);
        await AddToIndex(RunsIndex, runId.ToString(), ct);
        ledger.StartRun(runId, pipeline.Name, teacher.Name, teacher.TeacherDigest, DateTime.UtcNow);
        await bus.PublishAsync(teacher, ct);
        await controller.StartAsync(definition, teacher, ct);
        log.LogInformation("run {Run} of pipeline {Pipeline} started for {Teacher}", runId, pipeline.Name, teacher.Name);
        return runId;
    }

    public async Task<IReadOnlyList<RunRecord>> RunsAsync(CancellationToken ct = default)
    {
        var result = new List<RunRecord>();
        foreach (var id in await Index(RunsIndex, ct))
            if (await Get<RunRecord>(RunKey(Guid.Parse(id)), ct) is { } r) result.Add(r);
        return result;
    }

    public Task<RunRecord?> RunAsync(Guid id, CancellationToken ct = default) => Get<RunRecord>(RunKey(id), ct);

    public RunCoordinator? Coordinator(Guid id) => controller.Find(id);

    /// <summary>Every event from the bus: teachers announced by other systems are registered; results drive their runs.</summary>
    public async Task HandleAsync(IntegrationEvent e, CancellationToken ct = default)
    {
        await Ready(ct);
        using var activity = e is StageProgress ? null : Telemetry.Source.StartActivity($"control handles {e.GetType().Name}");
        activity?.SetTag("wavemesh.run_id", e.RunId.ToString());
        ledger.Apply(e);
        if (e is TeacherChanged external && external.RunId == Guid.Empty)
        {
            var name = external.Name.Split(' ')[0];
            try { await RegisterTeacherAsync(name, external.TeacherDigest, external.Size.Heads, ct); }
            catch (ControlException x) { log.LogWarning("TeacherChanged for {Name} refused: {Reason}", name, x.Message); }
            return;
        }
        if (e is StageProgress || controller.Find(e.RunId) is not { } run) return;
        await gate.WaitAsync(ct);
        try
        {
            if (await RunAsync(e.RunId, ct) is { } record && record.Events.All(x => MessageId(x) != e.Id))
            {
                record.Events.Add(Envelope.Of(e));
                await Put(RunKey(e.RunId), record, ct);
            }
        }
        finally
        {
            gate.Release();
        }
        await controller.HandleAsync(e, ct);
        if (run.IsComplete && await RunAsync(e.RunId, ct) is { Status: RunRecord.Running } done)
            await Put(RunKey(e.RunId), done with { Status = run.Completion().Outcome }, ct);
    }

    static Guid MessageId(Envelope envelope) => ((IntegrationEvent)envelope.Open()).Id;

    /// <summary>After a restart: every run still running is rebuilt from its recorded events.</summary>
    public async Task RestoreAsync(CancellationToken ct = default)
    {
        foreach (var record in await RunsAsync(ct))
        {
            if (record.Status != RunRecord.Running) continue;
            var definition = RunConfig.Parse(record.Config, $"pipeline {record.Pipeline}").Pipeline with { Name = record.Pipeline };
            var run = controller.Restore(definition, record.Teacher, record.Events.Select(x => (IntegrationEvent)x.Open()));
            log.LogInformation("run {Run} restored with {Events} events", record.RunId, record.Events.Count);
            // Jobs the previous process admitted may never have reached the bus (it stopped mid-handling): offer again
            // at once every outstanding job nobody holds; a copy of one still queued is answered without running twice.
            StageJob[] outstanding;
            lock (run) outstanding = [.. run.Outstanding];
            foreach (var job in await watchdog.CheckAsync(outstanding, TimeSpan.Zero, ct))
                log.LogInformation("job {Job} of restored run {Run} offered again", job.Describe(), record.RunId);
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
        if (!outstanding || await store.GetRecordAsync(StageRunner.RecordKey(job), ct) is not null) return;
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

    static void CheckName(string name, string what)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 100 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ControlException(400, $"{what} name '{name}' must be 1-100 letters, digits, '-', '_' or '.'");
    }
}
