using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.RabbitMq.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WaveMesh.RabbitMq.Tests;

[Trait("Category", "Integration")]
public sealed class Sharing_jobs_between_workers(ITestOutputHelper output) : IAsyncLifetime
{
    Deployment deployment = null!;

    public async Task InitializeAsync() => deployment = await Deployment.StartAsync(output);
    public async Task DisposeAsync()
    {
        if (deployment is not null) await deployment.DisposeAsync();
    }

    static readonly string[] Targets = ["1x16x1", "2x16x1", "1x32x2", "2x32x2", "1x48x3", "2x48x3"];

    [Fact]
    public async Task Two_scaler_trainers_split_six_targets_and_each_target_runs_exactly_once()
    {
        await deployment.StartControlAsync();
        deployment.StartWorker<Distiller.DistillerService>("distiller");
        deployment.StartWorker<ScalerTrainer.ScalerTrainerService>("scaler-a");
        deployment.StartWorker<ScalerTrainer.ScalerTrainerService>("scaler-b");
        // No fine-tuner or evaluator: the run stops after stage 2, which is what this test is about.
        var runId = await deployment.StartRunAsync(TinyConfigs.WaveOnly(0.03, [.. Targets]));

        IReadOnlyList<ScalersTrained> Computed() =>
            deployment.Events.All<ScalersTrained>().Where(s => s.RunId == runId && !s.Stats.Cached).ToList();
        await deployment.Events.WaitUntilAsync(_ => Computed().Select(s => s.Target).Distinct().Count() == Targets.Length,
            TimeSpan.FromMinutes(2), "scalers of all six targets");
        // No waiting for a duplicate to show up: a result is recorded before it is published, and a worker answers a job
        // whose result is recorded from the record without running it. So a second execution could only have happened
        // already, and it would have claimed the job's lease a second time.
        var computed = Computed();
        var leases = deployment.Leases();
        foreach (var s in computed) Assert.Equal(1, (await leases.GetAsync(s.JobKey))!.Attempt);
        Assert.Equal(Targets.Order(), computed.Select(s => s.Target.Slug).Order());   // each target exactly once
        Assert.Equal(Targets.Length, computed.Select(s => s.JobKey).Distinct().Count());
        Assert.Equal(["scaler-a", "scaler-b"], computed.Select(s => s.Stats.Worker).Distinct().Order());
        Assert.All(computed, s => Assert.Equal(15, s.Stats.Steps));
        Assert.Empty(deployment.Events.All<StageFailed>());

        var store = deployment.FreshStore();
        foreach (var s in computed)
        {
            Assert.Equal(s.ScalersDigest, ArtifactDigest.OfFile(await store.GetFileAsync(s.ScalersDigest)));
            Assert.Equal(s.ModelDigest, ArtifactDigest.OfFile(await store.GetFileAsync(s.ModelDigest)));
        }
    }
}
