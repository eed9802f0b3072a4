using WaveMesh.Contracts;

namespace WaveMesh.Pipeline;

/// <summary>
/// The pipeline as a state machine with no I/O: a teacher starts a run and yields the first jobs; each result event
/// yields the jobs it unblocks; the run completes when no job is outstanding. Events of other runs, repeated events
/// and results of jobs it did not ask for are ignored, so at-least-once delivery is harmless.
/// </summary>
public sealed class RunCoordinator
{
    readonly PipelineDefinition definition;
    readonly Dictionary<string, StageJob> outstanding = new(StringComparer.Ordinal);
    readonly HashSet<string> finished = new(StringComparer.Ordinal);
    // Jobs admitted whose publication has not been confirmed: published (again) with the next event handled, so an
    // event whose handling was cut short after the state changed still gets its jobs out when it is redelivered.
    readonly HashSet<string> unpublished = new(StringComparer.Ordinal);
    int dispatched;

    public RunCoordinator(PipelineDefinition definition, Guid runId, TeacherChanged teacher)
    {
        this.definition = definition;
        RunId = runId;
        State = new RunState(definition, teacher);
    }

    public Guid RunId { get; }
    public RunState State { get; }
    public bool IsComplete => dispatched > 0 && outstanding.Count == 0;
    public IReadOnlyCollection<StageJob> Outstanding => outstanding.Values;

    /// <summary>
    /// Outstanding jobs not yet published, handed to the caller to publish (and no longer handed to anyone else);
    /// what the caller fails to publish it gives back with <see cref="ReturnUnpublished"/>.
    /// </summary>
    public IReadOnlyList<StageJob> TakeUnpublished()
    {
        var jobs = outstanding.Values.Where(j => unpublished.Contains(j.Key)).ToList();
        foreach (var job in jobs) unpublished.Remove(job.Key);
        return jobs;
    }

    /// <summary>Jobs taken with <see cref="TakeUnpublished"/> whose publication failed: published with the next event handled.</summary>
    public void ReturnUnpublished(IEnumerable<StageJob> jobs)
    {
        foreach (var job in jobs.Where(j => outstanding.ContainsKey(j.Key))) unpublished.Add(job.Key);
    }

    /// <summary>Confirms every outstanding job (a run rebuilt after a restart: its jobs were published by the process before).</summary>
    public void PublishedAll() => unpublished.Clear();

    /// <summary>Whether <see cref="RunCompleted"/> has been handed out for publication (and not given back).</summary>
    public bool CompletionPublished { get; set; }

    /// <summary>The first jobs: evaluate the teacher, distil templates, and start the baselines (they need no templates).</summary>
    public IReadOnlyList<StageJob> Start()
    {
        var teacher = State.Teacher;
        var jobs = new List<StageJob>
        {
            Job(new EvaluateModel(teacher.TeacherDigest, definition.Data with { Subset = null }, EvaluationSubject.Teacher), teacher),
        };
        if (definition.Methods.Any(m => m.Method == Methods.Wave))
            jobs.Add(Job(definition.DistillJob(teacher.TeacherDigest), teacher));
        foreach (var target in definition.Targets)
        foreach (var plan in definition.Methods.Where(m => m.Method != Methods.Wave))
        {
            if (plan.Method == Methods.WeightSelection && !WeightSelectionApplies(teacher, target))
            {
                State.NotApplicable.Add((target, plan.Method));
                continue;
            }
            var init = plan.Method == Methods.Scratch
                ? new InitSource(InitSource.Scratch)
                : new InitSource(InitSource.WeightSelection, teacher.TeacherDigest);
            jobs.Add(Job(Finetune(target, plan, init), teacher));
        }
        return Admit(jobs);
    }

    /// <summary>The jobs <paramref name="e"/> unblocks (none for events that are not this run's outstanding results).</summary>
    public IReadOnlyList<StageJob> Handle(IntegrationEvent e)
    {
        if (e.RunId != RunId) return [];
        var key = e is StageProgress ? null : MessageTypes.JobKey(e);
        if (key is null || !outstanding.Remove(key)) return [];
        unpublished.Remove(key);
        finished.Add(key);
        State.Record(e);
        IReadOnlyList<StageJob> next = e switch
        {
            TemplatesDistilled t => definition.Targets.Select(target => Job(definition.ScalerJob(State.Teacher.TeacherDigest, t, target, definition.Seed), e)).ToList(),
            ScalersTrained s => [Job(Finetune(s.Target, definition.Methods.Single(m => m.Method == Methods.Wave), new InitSource(InitSource.Model, s.ModelDigest)), e)],
            TargetFinetuned f =>
            [
                Job(new EvaluateModel(f.InitModelDigest, definition.Data with { Subset = null }, new EvaluationSubject(f.Target, f.Method, EvaluationSubject.Init).ToString()), e),
                Job(new EvaluateModel(f.ModelDigest, definition.Data with { Subset = null }, new EvaluationSubject(f.Target, f.Method, EvaluationSubject.Final).ToString()), e),
            ],
            _ => [],
        };
        return Admit(next);
    }

    /// <summary>The run's closing event, once nothing is outstanding.</summary>
    public RunCompleted Completion() => new(State.Failures.Count == 0 ? RunOutcome.Succeeded : RunOutcome.Failed, dispatched, State.Failures.Count)
    {
        RunId = RunId,
    };

    FinetuneTarget Finetune(ModelSize target, MethodPlan plan, InitSource init) =>
        new(definition.Family, target, plan.Method, init, definition.Data with { Subset = null }, plan.Training, definition.Seed, definition.CurvePoints);

    StageJob Job(StageJob job, IntegrationEvent cause) => job with { RunId = RunId, CausationId = cause.Id };

    // The same work asked twice within a run is dispatched, done and counted once.
    List<StageJob> Admit(IEnumerable<StageJob> jobs)
    {
        var admitted = new List<StageJob>();
        foreach (var job in jobs)
        {
            var key = job.Key;
            if (outstanding.ContainsKey(key) || finished.Contains(key)) continue;
            outstanding[key] = job;
            unpublished.Add(key);
            dispatched++;
            admitted.Add(job);
        }
        return admitted;
    }

    bool WeightSelectionApplies(TeacherChanged teacher, ModelSize target) =>
        teacher.Family == definition.Family && target.Depth <= teacher.Size.Depth && target.Width <= teacher.Size.Width;
}
