using WaveMesh.Contracts;
using WaveMesh.Messaging;
using WaveMesh.Pipeline;
using static WaveMesh.Pipeline.Tests.Fabricated;

namespace WaveMesh.Pipeline.Tests;

public sealed class Driving_runs_over_a_bus
{
    sealed class RecordingBus : IEventBus
    {
        public List<object> Published { get; } = [];

        public Task PublishAsync(object message, CancellationToken cancellation = default)
        {
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
}
