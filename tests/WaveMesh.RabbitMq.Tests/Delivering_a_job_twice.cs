using WaveMesh.Contracts;
using WaveMesh.RabbitMq.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WaveMesh.RabbitMq.Tests;

[Trait("Category", "Integration")]
public sealed class Delivering_a_job_twice(ITestOutputHelper output) : IAsyncLifetime
{
    Deployment deployment = null!;

    public async Task InitializeAsync() => deployment = await Deployment.StartAsync(output);
    public async Task DisposeAsync()
    {
        if (deployment is not null) await deployment.DisposeAsync();
    }

    [Fact]
    public async Task The_same_job_published_twice_to_two_workers_runs_once_and_later_copies_are_answered_from_the_store()
    {
        deployment.StartWorker<Evaluator.EvaluatorService>("evaluator-a");
        deployment.StartWorker<Evaluator.EvaluatorService>("evaluator-b");
        var teacher = await deployment.FreshStore().PutAsync(new MemoryStream(TinyTeacher.Bytes), "vit");
        var job = new EvaluateModel(teacher.Digest, new DatasetRef(), "teacher") { RunId = Guid.NewGuid() };
        IReadOnlyList<TargetEvaluated> Results() => deployment.Events.All<TargetEvaluated>().Where(e => e.JobKey == job.Key).ToList();

        // The very same message (same id) twice at once: with one slot and a prefetch of one each, the copies go to both workers.
        await Task.WhenAll(deployment.Events.PublishAsync(job), deployment.Events.PublishAsync(job));
        var first = await deployment.Events.WaitForAsync<TargetEvaluated>(e => e.JobKey == job.Key, TimeSpan.FromMinutes(1), "the job's result");
        // Both copies were delivered and acknowledged (the broker's counters lag by a few seconds)...
        var queue = $"{deployment.Prefix}-{StageNames.Evaluate}";
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        // (each counter lags on its own: wait for all three, not only the last one)
        var (published, delivered, acknowledged) = await Servers.QueueStatsAsync(queue);
        while ((published < 2 || delivered < 2 || acknowledged < 2) && DateTime.UtcNow < until)
        {
            await Task.Delay(500);
            (published, delivered, acknowledged) = await Servers.QueueStatsAsync(queue);
        }
        Assert.True(published >= 2 && delivered >= 2 && acknowledged >= 2, $"evaluate queue: {published} published, {delivered} delivered, {acknowledged} acknowledged");
        // ...and the job was claimed once: the other copy found it claimed or its result recorded (no second execution
        // can follow, since a recorded result is answered from the record).
        Assert.Equal(1, (await deployment.Leases().GetAsync(job.Key))!.Attempt);

        Assert.False(first.Stats.Cached);
        Assert.Single(Results(), e => !e.Stats.Cached);
        Assert.All(Results(), e => Assert.Equal(first.Accuracy, e.Accuracy));

        // Published again once done: answered from the recorded result, not run again.
        await deployment.Events.PublishAsync(job with { Id = Guid.NewGuid() });
        var again = await deployment.Events.WaitForAsync<TargetEvaluated>(e => e.JobKey == job.Key && e.Stats.Cached, TimeSpan.FromSeconds(30),
            "the job's recorded result");

        Assert.Equal((first.Accuracy, first.Loss, first.Stats.Worker), (again.Accuracy, again.Loss, again.Stats.Worker));
        Assert.Single(Results(), e => !e.Stats.Cached);
        Assert.Empty(deployment.Events.All<StageFailed>());
    }
}
