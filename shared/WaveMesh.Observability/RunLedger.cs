using WaveMesh.Contracts;

namespace WaveMesh.Observability;

/// <summary>States of a job in the ledger.</summary>
public static class JobStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Cached = "cached";
    public const string Failed = "failed";

    public static bool IsFinal(string status) => status is Succeeded or Cached or Failed;
}

/// <summary>One point of a loss curve: the step and the smoothed loss the worker reported.</summary>
public sealed record LossPoint(int Step, double Loss);

/// <summary>Live progress of a running job.</summary>
public sealed record JobProgress(int Step, int Steps, double Loss, double ExamplesPerSecond, double ElapsedSeconds);

/// <summary>Artifacts and numbers a finished job produced.</summary>
public sealed record JobResults(double? Accuracy = null, double? Loss = null, long? Parameters = null, IReadOnlyDictionary<string, string>? Outputs = null,
    IReadOnlyList<CurvePoint>? Curve = null);

/// <summary>One job of a run as the ledger knows it.</summary>
public sealed class LedgerEntry
{
    public required string JobKey { get; init; }
    public required string Stage { get; init; }
    public string Description { get; set; } = "";
    public string? Target { get; set; }
    public string? Method { get; set; }
    /// <summary>For evaluations: which model of the branch was measured ("init", "final", or "teacher").</summary>
    public string? Phase { get; set; }
    public string Status { get; set; } = JobStatus.Queued;
    public string? Worker { get; set; }
    public DateTime? QueuedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? EndedAt { get; set; }
    public JobProgress? Progress { get; set; }
    public List<LossPoint> Loss { get; set; } = [];
    public JobResults? Results { get; set; }
    public string? Error { get; set; }
    /// <summary>Digests this job read (teacher, templates, initial model...).</summary>
    public Dictionary<string, string> Inputs { get; set; } = [];
}

/// <summary>A run as the ledger knows it: what started it, every job with its state, and the run's outcome.</summary>
public sealed class LedgerRun
{
    public required Guid RunId { get; init; }
    public string Pipeline { get; set; } = "";
    public string Teacher { get; set; } = "";
    public string? TeacherDigest { get; set; }
    public DateTime StartedAt { get; set; }
    public DateTime? EndedAt { get; set; }
    public string Status { get; set; } = JobStatus.Running;
    public List<LedgerEntry> Jobs { get; set; } = [];
    /// <summary>Ids of the messages already applied, so a redelivered message changes nothing.</summary>
    public HashSet<Guid> Seen { get; set; } = [];
}

/// <summary>
/// Builds the run ledger from the messages of the pipeline (jobs as they are asked for, events as they happen), in
/// whatever order and however often they arrive: a message seen before is ignored, progress never moves a finished
/// job back, and a result that arrives before its job creates the entry. Thread-safe; <see cref="Changed"/> reports
/// every change for live views and persistence.
/// </summary>
public sealed class RunLedger
{
    readonly Dictionary<Guid, LedgerRun> runs = [];
    readonly object gate = new();

    /// <summary>Raised after a run changed, with the run and the entry that changed (null for run-level changes).</summary>
    public event Action<LedgerRun, LedgerEntry?>? Changed;

    /// <summary>Progress points kept per job for its loss curve.</summary>
    public int MaxLossPoints { get; init; } = 400;

    public IReadOnlyList<LedgerRun> Runs() { lock (gate) return [.. runs.Values.OrderByDescending(r => r.StartedAt)]; }

    public LedgerRun? Run(Guid id) { lock (gate) return runs.GetValueOrDefault(id); }

    /// <summary>A run as JSON, taken under the ledger's lock (what APIs, live views and storage use).</summary>
    public string? Json(Guid id) { lock (gate) return runs.TryGetValue(id, out var r) ? LedgerJson.Serialize(r) : null; }

    /// <summary>Every run's summary as JSON objects, newest first.</summary>
    public IReadOnlyList<RunSummary> Summaries()
    {
        lock (gate) return [.. runs.Values.OrderByDescending(r => r.StartedAt).Select(RunSummary.Of)];
    }

    /// <summary>Puts back a run loaded from storage (after a restart).</summary>
    public void Restore(LedgerRun run) { lock (gate) runs[run.RunId] = run; }

    /// <summary>Names the run (pipeline, teacher) when it starts.</summary>
    public void StartRun(Guid runId, string pipeline, string teacher, string? teacherDigest, DateTime startedAt)
    {
        LedgerRun run;
        lock (gate)
        {
            run = RunFor(runId, startedAt);
            run.Pipeline = pipeline;
            run.Teacher = teacher;
            run.TeacherDigest = teacherDigest;
        }
        Changed?.Invoke(run, null);
    }

    public void Apply(object message)
    {
        LedgerRun? run;
        LedgerEntry? entry;
        lock (gate)
        {
            (run, entry) = message switch
            {
                StageJob job => Queue(job),
                IntegrationEvent e => Event(e),
                _ => (null, null),
            };
        }
        if (run is not null) Changed?.Invoke(run, entry);
    }

    LedgerRun RunFor(Guid runId, DateTime at)
    {
        if (!runs.TryGetValue(runId, out var run))
            runs[runId] = run = new LedgerRun { RunId = runId, StartedAt = at };
        return run;
    }

    LedgerEntry EntryFor(LedgerRun run, string key, string stage)
    {
        var entry = run.Jobs.FirstOrDefault(j => j.JobKey == key);
        if (entry is null) run.Jobs.Add(entry = new LedgerEntry { JobKey = key, Stage = stage });
        return entry;
    }

    (LedgerRun?, LedgerEntry?) Queue(StageJob job)
    {
        if (job.RunId == Guid.Empty) return (null, null);
        var run = RunFor(job.RunId, job.CreatedAt);
        if (!run.Seen.Add(job.Id)) return (null, null);
        var entry = EntryFor(run, job.Key, job.Stage);
        entry.Description = job.Describe();
        entry.QueuedAt ??= job.CreatedAt;
        switch (job)
        {
            case DistillTemplates d: entry.Inputs["teacher"] = d.TeacherDigest; entry.Target = d.Auxiliary.ToString(); break;
            case TrainScalers s:
                entry.Inputs["teacher"] = s.TeacherDigest; entry.Inputs["templates"] = s.TemplatesDigest;
                entry.Target = s.Target.ToString(); entry.Method = "wave"; break;
            case FinetuneTarget f:
                if (f.Init.Digest is { } d2) entry.Inputs[f.Init.Kind == InitSource.Model ? "initial model" : "teacher"] = d2;
                entry.Target = f.Target.ToString(); entry.Method = f.Method; break;
            case EvaluateModel v:
                entry.Inputs["model"] = v.ModelDigest;
                if (EvaluationSubject.TryParse(v.Subject) is { } subject) { entry.Target = subject.Target.ToString(); entry.Method = subject.Method; entry.Phase = subject.Phase; }
                else entry.Phase = v.Subject;
                break;
        }
        return (run, entry);
    }

    (LedgerRun?, LedgerEntry?) Event(IntegrationEvent e)
    {
        if (e.RunId == Guid.Empty) return (null, null);
        var run = RunFor(e.RunId, e.CreatedAt);
        // Progress is idempotent by itself (the furthest step wins) and too frequent to remember.
        if (e is not StageProgress && !run.Seen.Add(e.Id)) return (null, null);
        switch (e)
        {
            case TeacherChanged t:
                run.TeacherDigest ??= t.TeacherDigest;
                if (run.Teacher.Length == 0) run.Teacher = t.Name;
                return (run, null);
            case RunCompleted c:
                run.Status = c.Outcome;
                run.EndedAt = c.CreatedAt;
                return (run, null);
            case StageProgress p:
            {
                var entry = EntryFor(run, p.JobKey, p.Stage);
                if (entry.Description.Length == 0) entry.Description = p.Description;
                // Late progress still adds to the curve, but never moves a finished job back to running.
                if (!JobStatus.IsFinal(entry.Status))
                {
                    entry.Status = JobStatus.Running;
                    entry.Worker = p.Worker;
                }
                entry.StartedAt ??= p.CreatedAt - TimeSpan.FromSeconds(p.ElapsedSeconds);
                // Progress may arrive out of order: keep the furthest.
                if (entry.Progress is null || p.Step >= entry.Progress.Step)
                    entry.Progress = new JobProgress(p.Step, p.Steps, p.Loss, p.ExamplesPerSecond, p.ElapsedSeconds);
                if (double.IsFinite(p.Loss) && entry.Loss.All(x => x.Step != p.Step))
                {
                    entry.Loss.Add(new LossPoint(p.Step, p.Loss));
                    entry.Loss.Sort((a, b) => a.Step.CompareTo(b.Step));
                    if (entry.Loss.Count > MaxLossPoints) entry.Loss.RemoveAt(entry.Loss.Count / 2);
                }
                return (run, entry);
            }
            case StageFailed f:
            {
                var entry = EntryFor(run, f.JobKey, f.Stage);
                if (entry.Description.Length == 0) entry.Description = f.Description;
                entry.Status = JobStatus.Failed;
                entry.Error = f.Reason;
                entry.EndedAt = f.CreatedAt;
                return (run, entry);
            }
            default:
                return Finished(run, e);
        }
    }

    static (LedgerRun?, LedgerEntry?) Finished(LedgerRun run, IntegrationEvent e)
    {
        var (key, stage, stats) = e switch
        {
            TemplatesDistilled t => (t.JobKey, StageNames.Distill, t.Stats),
            ScalersTrained s => (s.JobKey, StageNames.Scalers, s.Stats),
            TargetFinetuned f => (f.JobKey, StageNames.Finetune, f.Stats),
            TargetEvaluated v => (v.JobKey, StageNames.Evaluate, v.Stats),
            _ => (null, null, null),
        };
        if (key is null || stats is null) return (null, null);
        var entry = run.Jobs.FirstOrDefault(j => j.JobKey == key);
        if (entry is null) run.Jobs.Add(entry = new LedgerEntry { JobKey = key, Stage = stage! });
        // The first completion counts; a cached replay of a finished job changes nothing.
        if (entry.Status is JobStatus.Succeeded or JobStatus.Cached) return (run, entry);
        entry.Status = stats.Cached ? JobStatus.Cached : JobStatus.Succeeded;
        entry.Worker = stats.Worker;
        entry.EndedAt = e.CreatedAt;
        entry.StartedAt ??= e.CreatedAt - TimeSpan.FromSeconds(stats.Seconds);
        entry.Error = null;
        entry.Results = e switch
        {
            TemplatesDistilled t => new JobResults(Accuracy: t.AuxAccuracy, Parameters: t.TemplateParameters,
                Outputs: new Dictionary<string, string> { ["templates"] = t.TemplatesDigest, ["auxiliary scalers"] = t.AuxScalersDigest }),
            ScalersTrained s => new JobResults(Parameters: s.Scalers,
                Outputs: new Dictionary<string, string> { ["scalers"] = s.ScalersDigest, ["model"] = s.ModelDigest }),
            TargetFinetuned f => new JobResults(Parameters: f.Parameters, Curve: f.Curve,
                Outputs: new Dictionary<string, string> { ["initial model"] = f.InitModelDigest, ["model"] = f.ModelDigest }),
            TargetEvaluated v => new JobResults(Accuracy: v.Accuracy, Loss: v.Loss),
            _ => null,
        };
        if (e is TargetEvaluated ev)
        {
            if (EvaluationSubject.TryParse(ev.Subject) is { } subject) { entry.Target ??= subject.Target.ToString(); entry.Method ??= subject.Method; entry.Phase ??= subject.Phase; }
            else entry.Phase ??= ev.Subject;
            entry.Inputs.TryAdd("model", ev.ModelDigest);
        }
        if (e is ScalersTrained st) entry.Target ??= st.Target.ToString();
        if (e is TargetFinetuned tf) { entry.Target ??= tf.Target.ToString(); entry.Method ??= tf.Method; }
        return (run, entry);
    }

    /// <summary>
    /// Where an artifact came from and what came of it: the jobs that produced it and read it, followed
    /// up to the teacher and down to the evaluations.
    /// </summary>
    public LineageGraph Lineage(string digest)
    {
        lock (gate)
        {
            var jobs = runs.Values.SelectMany(r => r.Jobs.Select(j => (Run: r, Job: j))).ToList();
            var nodes = new List<LineageNode>();
            var seen = new HashSet<string>();
            void Walk(string d, bool up)
            {
                foreach (var (run, job) in jobs)
                {
                    bool produced = job.Results?.Outputs?.Values.Contains(d) == true;
                    bool consumed = job.Inputs.Values.Contains(d);
                    if (!(up ? produced : consumed) || !seen.Add($"{job.JobKey}:{up}")) continue;
                    nodes.Add(new LineageNode(run.RunId, job.JobKey, job.Stage, job.Description, job.Status, job.Inputs, job.Results?.Outputs, job.Results?.Accuracy));
                    foreach (var next in up ? job.Inputs.Values : job.Results?.Outputs?.Values ?? [])
                        Walk(next, up);
                }
            }
            Walk(digest, up: true);
            Walk(digest, up: false);
            return new LineageGraph(digest, nodes.DistinctBy(n => n.JobKey).ToList());
        }
    }
}

/// <summary>A job on the path of an artifact: what it read and what it wrote.</summary>
public sealed record LineageNode(Guid RunId, string JobKey, string Stage, string Description, string Status,
    IReadOnlyDictionary<string, string> Inputs, IReadOnlyDictionary<string, string>? Outputs, double? Accuracy);

/// <summary>The lineage of one artifact: every job upstream (to the teacher) and downstream (to its evaluations).</summary>
public sealed record LineageGraph(string Digest, IReadOnlyList<LineageNode> Jobs);

/// <summary>A run in one line: counts of its jobs by state.</summary>
public sealed record RunSummary(Guid RunId, string Pipeline, string Teacher, DateTime StartedAt, DateTime? EndedAt, string Status,
    int Jobs, int Queued, int Running, int Succeeded, int Cached, int Failed)
{
    public static RunSummary Of(LedgerRun r) => new(r.RunId, r.Pipeline, r.Teacher, r.StartedAt, r.EndedAt, r.Status, r.Jobs.Count,
        r.Jobs.Count(j => j.Status == JobStatus.Queued), r.Jobs.Count(j => j.Status == JobStatus.Running),
        r.Jobs.Count(j => j.Status == JobStatus.Succeeded), r.Jobs.Count(j => j.Status == JobStatus.Cached),
        r.Jobs.Count(j => j.Status == JobStatus.Failed));
}

/// <summary>The ledger's JSON: snake_case, as every WaveMesh API.</summary>
public static class LedgerJson
{
    public static readonly System.Text.Json.JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Serialize<T>(T value) => System.Text.Json.JsonSerializer.Serialize(value, Options);

    public static T Deserialize<T>(string json) => System.Text.Json.JsonSerializer.Deserialize<T>(json, Options)!;
}
