using System.Collections.Concurrent;
using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Pipeline;

/// <summary>
/// Drives runs over a bus: starting a run publishes its first jobs; each event is routed to its run's coordinator
/// and the jobs it unblocks are published; when a run has nothing outstanding, <see cref="RunCompleted"/> is published.
/// </summary>
public sealed class PipelineController(IEventBus bus)
{
    readonly ConcurrentDictionary<Guid, RunCoordinator> runs = new();

    public event Action<RunCoordinator>? RunFinished;

    public RunCoordinator? Find(Guid runId) => runs.GetValueOrDefault(runId);

    public async Task<RunCoordinator> StartAsync(PipelineDefinition definition, TeacherChanged teacher, CancellationToken cancellation = default)
    {
        var run = new RunCoordinator(definition, teacher.RunId == Guid.Empty ? Guid.NewGuid() : teacher.RunId, teacher);
        runs[run.RunId] = run;
        IReadOnlyList<StageJob> jobs;
        lock (run) jobs = run.Start();
        foreach (var job in jobs) await bus.PublishAsync(job, cancellation);
        return run;
    }

    /// <summary>
    /// Rebuilds a run from its teacher and the events it had received (after a restart): the coordinator is replayed,
    /// nothing is published; the watchdog then re-offers whatever is still outstanding.
    /// </summary>
    public RunCoordinator Restore(PipelineDefinition definition, TeacherChanged teacher, IEnumerable<IntegrationEvent> events)
    {
        var run = new RunCoordinator(definition, teacher.RunId, teacher);
        lock (run)
        {
            run.Start();
            foreach (var e in events) run.Handle(e);
        }
        runs[run.RunId] = run;
        return run;
    }

    public IReadOnlyCollection<RunCoordinator> Runs => runs.Values.ToList();

    public async Task HandleAsync(IntegrationEvent e, CancellationToken cancellation = default)
    {
        if (!runs.TryGetValue(e.RunId, out var run)) return;
        IReadOnlyList<StageJob> jobs;
        bool completed;
        lock (run)
        {
            bool wasComplete = run.IsComplete;
            jobs = run.Handle(e);
            completed = !wasComplete && run.IsComplete;
        }
        foreach (var job in jobs) await bus.PublishAsync(job, cancellation);
        if (completed)
        {
            await bus.PublishAsync(run.Completion(), cancellation);
            RunFinished?.Invoke(run);
        }
    }
}
