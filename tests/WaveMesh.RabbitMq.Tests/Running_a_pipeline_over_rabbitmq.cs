using System.Net;
using System.Net.Http.Json;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.RabbitMq.Tests.Infrastructure;
using WaveMesh.Testing;
using Xunit.Abstractions;

namespace WaveMesh.RabbitMq.Tests;

[Trait("Category", "Integration")]
public sealed class Running_a_pipeline_over_rabbitmq(ITestOutputHelper output) : IAsyncLifetime
{
    Deployment deployment = null!;

    public async Task InitializeAsync() => deployment = await Deployment.StartAsync(output);
    public async Task DisposeAsync()
    {
        if (deployment is not null) await deployment.DisposeAsync();
    }

    [Fact]
    public async Task Runs_the_tiny_pipeline_across_the_five_services_with_accuracies_on_every_branch()
    {
        await deployment.StartAllAsync();
        var refused = await deployment.Api.PutAsJsonAsync("/api/pipelines/tiny", new { teacher = Deployment.TeacherName, config = TinyConfigs.Pipeline });
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        var runId = await deployment.StartRunAsync(TinyConfigs.Pipeline);
        var run = await deployment.WaitForRunAsync(runId, TimeSpan.FromMinutes(3));

        var events = deployment.Events.Events.Where(e => e.RunId == runId).ToList();
        Assert.True(run.Status == RunOutcome.Succeeded, $"run {run.Status}: {string.Join("; ", events.OfType<StageFailed>().Select(f => $"{f.Description}: {f.Reason}"))}");
        var completed = Assert.Single(events.OfType<RunCompleted>());
        Assert.Equal(RunOutcome.Succeeded, completed.Outcome);
        Assert.Equal(0, completed.Failed);
        Assert.Empty(events.OfType<StageFailed>());

        // Every branch has an initial and a final accuracy (weight selection cannot grow the teacher to 2x48x3).
        var branches = Results.Branches(events);
        Assert.Equal(["1x16x1/scratch", "1x16x1/wave", "1x16x1/weight_selection", "2x48x3/scratch", "2x48x3/wave"], branches.Keys);
        Assert.All(branches, b =>
        {
            Assert.True(b.Value.Init is >= 0 and <= 1, $"{b.Key}: init accuracy {b.Value.Init}");
            Assert.True(b.Value.Final is >= 0 and <= 1, $"{b.Key}: final accuracy {b.Value.Final}");
        });

        // Each stage ran on its own service, every job once, nothing answered from a cache.
        var results = Results.Of(events).ToList();
        Assert.Equal(completed.Jobs, results.Count);
        Assert.Equal(completed.Jobs, results.Select(Results.JobKey).Distinct().Count());
        Assert.All(results, e => Assert.False(Results.Stats(e).Cached, $"{e.GetType().Name} answered from a cache"));
        Assert.Equal("distiller", Assert.Single(events.OfType<TemplatesDistilled>()).Stats.Worker);
        Assert.Equal(2, events.OfType<ScalersTrained>().Count());
        Assert.All(events.OfType<ScalersTrained>(), e => Assert.Equal("scaler-trainer", e.Stats.Worker));
        Assert.Equal(5, events.OfType<TargetFinetuned>().Count());
        Assert.All(events.OfType<TargetFinetuned>(), e => Assert.Equal("finetuner", e.Stats.Worker));
        Assert.All(events.OfType<TargetEvaluated>(), e => Assert.Equal("evaluator", e.Stats.Worker));
        var teacher = Assert.Single(events.OfType<TargetEvaluated>(), e => e.Subject == "teacher");
        Assert.Equal(ArtifactDigest.Of(new MemoryStream(TinyTeacher.Bytes)), teacher.ModelDigest);
        Assert.Equal(10_000, teacher.Examples);
        Assert.InRange(teacher.Accuracy, 0.3, 1);   // 60 steps of training: well above chance (10%)

        // The artifacts the events name are in Redis and read back verified, through a store with an empty cache.
        var store = deployment.FreshStore();
        foreach (var digest in events.SelectMany(MessageTypes.Outputs).Distinct())
            Assert.Equal(digest, ArtifactDigest.OfFile(await store.GetFileAsync(digest)));

        // The registry over RabbitMQ: each size promoted (and announced on the bus), served, and a size made on demand.
        foreach (var size in TinyPipeline.Targets)
            await deployment.Events.WaitForAsync<ModelPromoted>(p => p.RunId == runId && p.Size.Slug == size, TimeSpan.FromMinutes(1), $"{size} promoted");
        var api = deployment.Api;   // the in-memory client of the control host; from here on every call carries the token
        api.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Deployment.ApiToken);
        await RegistryScenario.RunAsync(api, Deployment.TeacherName, TinyPipeline.Targets, "1x32x2",
            async id => (await deployment.WaitForRunAsync(id, TimeSpan.FromMinutes(3))).Status, Path.Combine(Path.GetTempPath(), "wavemesh-rabbitmq-downloads"));
    }
}
