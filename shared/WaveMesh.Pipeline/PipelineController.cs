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

    /// <summary>
    /// Runs when a run has nothing outstanding, before its <see cref="RunCompleted"/> is published: what must be settled
    /// before anyone is told the run ended (the control plane decides promotions here).
    /// </summary>
    public Func<RunCoordinator, CancellationToken, Task>? BeforeCompletion { get; set; }

    public RunCoordinator? Find(Guid runId) => runs.GetValueOrDefault(runId);

    public async Task<RunCoordinator> StartAsync(PipelineDefinition definition, TeacherChanged teacher, CancellationToken cancellation = default)
    {
        var run = new RunCoordinator(definition, teacher.RunId == Guid.Empty ? Guid.NewGuid() : teacher.RunId, teacher);
        runs[run.RunId] = run;
        lock (run) run.Start();
        await PublishPendingAsync(run, cancellation);
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
            run.PublishedAll();
            run.CompletionPublished = run.IsComplete;
        }
        runs[run.RunId] = run;
        return run;
    }

    public IReadOnlyCollection<RunCoordinator> Runs => runs.Values.ToList();

    /// <summary>
    /// Routes <paramref name="e"/> to its run and publishes what is pending: the jobs it unblocked, any job whose
    /// publication an earlier, interrupted handling did not confirm, and the run's completion. Handling the same event
    /// again (a redelivery after a cancelled handling) thus publishes what the first handling could not.
    /// </summary>
    public async Task HandleAsync(IntegrationEvent e, CancellationToken cancellation = default)
    {
        if (!runs.TryGetValue(e.RunId, out var run)) return;
        lock (run) run.Handle(e);
        await PublishPendingAsync(run, cancellation);
    }

    async Task PublishPendingAsync(RunCoordinator run, CancellationToken cancellation)
    {
        // Taken under the lock, so two events handled at once never publish the same job twice.
        List<StageJob> jobs;
        lock (run) jobs = [.. run.TakeUnpublished()];
        for (int i = 0; i < jobs.Count; i++)
        {
            try
            {
                await bus.PublishAsync(jobs[i], cancellation);
            }
            catch
            {
                lock (run) run.ReturnUnpublished(jobs.Skip(i));
                throw;
            }
        }
        bool announce;
        lock (run)
        {
            announce = run.IsComplete && !run.CompletionPublished;
            if (announce) run.CompletionPublished = true;
        }
        if (!announce) return;
        try
        {
            if (BeforeCompletion is { } settle) await settle(run, cancellation);
            await bus.PublishAsync(run.Completion(), cancellation);
        }
        catch
        {
            lock (run) run.CompletionPublished = false;
            throw;
        }
        RunFinished?.Invoke(run);
    }
}
