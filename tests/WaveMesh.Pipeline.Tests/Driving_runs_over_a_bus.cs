using WaveMesh.Contracts;
using WaveMesh.Messaging;
using static WaveMesh.Pipeline.Tests.Fabricated;

namespace WaveMesh.Pipeline.Tests;

public sealed class Driving_runs_over_a_bus
{
    sealed class RecordingBus : IEventBus
    {
        public List<object> Published { get; } = [];
        /// <summary>Publishes that fail as if the delivery being handled was cancelled (a broker connection lost).</summary>
        public int FailNext { get; set; }

        public Task PublishAsync(object message, CancellationToken cancellation = default)
        {
            if (FailNext > 0)
            {
                FailNext--;
                throw new OperationCanceledException("the delivery was cancelled");
            }
            Published.Add(message);
            return Task.CompletedTask;
        }
    }

    readonly RecordingBus bus = new();

    [Fact]
    public async Task Publishes_the_first_jobs_of_a_run_it_starts()
    {
        var controller = new PipelineController(bus);
        var teacher = Teacher(Guid.NewGuid());

        var run = await controller.StartAsync(Definition([Small]), teacher);

        Assert.Equal(teacher.RunId, run.RunId);
        Assert.Same(run, controller.Find(teacher.RunId));
        Assert.Equal(run.Outstanding.Select(j => j.Key).Order(), bus.Published.Cast<StageJob>().Select(j => j.Key).Order());
        Assert.Equal(4, bus.Published.Count); // teacher evaluation, distillation, scratch, weight selection
    }

    [Fact]
    public async Task Gives_a_run_an_id_when_its_teacher_has_none()
    {
        var controller = new PipelineController(bus);

        var run = await controller.StartAsync(Definition([Small]), Teacher(Guid.Empty));

        Assert.NotEqual(Guid.Empty, run.RunId);
        Assert.All(bus.Published.Cast<StageJob>(), j => Assert.Equal(run.RunId, j.RunId));
    }

    [Fact]
    public async Task Publishes_RunCompleted_once_after_the_last_result()
    {
        var controller = new PipelineController(bus);
        var finished = new List<RunCoordinator>();
        controller.RunFinished += finished.Add;
        var run = await controller.StartAsync(Definition([Small], Scratch), Teacher(Guid.NewGuid()));
        var results = new List<IntegrationEvent>();

        for (int handled = 0; handled < bus.Published.Count; handled++)
        {
            if (bus.Published[handled] is not StageJob job) continue;
            Assert.Empty(bus.Published.OfType<RunCompleted>());
            var result = ResultOf(job);
            results.Add(result);
            await controller.HandleAsync(result);
        }
        foreach (var result in results) await controller.HandleAsync(result);

        var completed = Assert.Single(bus.Published.OfType<RunCompleted>());
        Assert.Same(bus.Published[^1], completed);
        Assert.Equal(run.RunId, completed.RunId);
        Assert.Equal(RunOutcome.Succeeded, completed.Outcome);
        Assert.Equal(4, completed.Jobs);
        Assert.Equal([run], finished);
    }

    [Fact]
    public async Task Ignores_events_of_runs_it_does_not_know()
    {
        var controller = new PipelineController(bus);
        var run = await controller.StartAsync(Definition([Small]), Teacher(Guid.NewGuid()));
        int published = bus.Published.Count;
        var distill = run.Outstanding.OfType<DistillTemplates>().Single();

        await controller.HandleAsync(ResultOf(distill) with { RunId = Guid.NewGuid() });

        Assert.Equal(published, bus.Published.Count);
        Assert.Null(controller.Find(Guid.NewGuid()));
    }

    [Fact]
    public async Task Publishes_on_redelivery_the_jobs_an_interrupted_handling_could_not()
    {
        var controller = new PipelineController(bus);
        var run = await controller.StartAsync(Definition([Small, Deeper]), Teacher(Guid.NewGuid()));
        var distilled = ResultOf(run.Outstanding.OfType<DistillTemplates>().Single());
        int before = bus.Published.Count;

        // The handling changes the run's state, then its first publish is cancelled: the delivery fails and comes again.
        bus.FailNext = 1;
        await Assert.ThrowsAsync<OperationCanceledException>(() => controller.HandleAsync(distilled));
        await controller.HandleAsync(distilled);

        var scalers = bus.Published.Skip(before).OfType<TrainScalers>().ToList();
        Assert.Equal(2, scalers.Count);
        Assert.Equal(run.Outstanding.OfType<TrainScalers>().Select(j => j.Key).Order(), scalers.Select(j => j.Key).Order());
        Assert.Empty(run.TakeUnpublished());

        // Once confirmed, a further redelivery publishes nothing again.
        int after = bus.Published.Count;
        await controller.HandleAsync(distilled with { Id = Guid.NewGuid() });
        Assert.Equal(after, bus.Published.Count);
    }

    [Fact]
    public async Task Announces_completion_on_redelivery_when_the_first_announcement_was_cut_short()
    {
        var controller = new PipelineController(bus);
        var run = await controller.StartAsync(Definition([Small], Scratch), Teacher(Guid.NewGuid()));
        for (int handled = 0; handled < bus.Published.Count; handled++)
        {
            if (bus.Published[handled] is not StageJob job) continue;
            var result = ResultOf(job);
            if (run.Outstanding.Count > 1 || job is not EvaluateModel)
            {
                await controller.HandleAsync(result);
                continue;
            }
            // The last result: its handling completes the run, and the announcement is cut short.
            bus.FailNext = 1;
            await Assert.ThrowsAsync<OperationCanceledException>(() => controller.HandleAsync(result));
            Assert.Empty(bus.Published.OfType<RunCompleted>());
            await controller.HandleAsync(result);
            break;
        }

        Assert.Single(bus.Published.OfType<RunCompleted>());
        Assert.True(run.IsComplete);
    }
}
