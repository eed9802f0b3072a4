using System.Security.Cryptography;
using System.Text.Json;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.RabbitMq.Tests.Infrastructure;
using WaveMesh.Transport.Redis;
using Xunit.Abstractions;

namespace WaveMesh.RabbitMq.Tests;

[Trait("Category", "Integration")]
public sealed class Taking_over_from_a_killed_worker(ITestOutputHelper output) : IAsyncLifetime
{
    Deployment deployment = null!;

    public async Task InitializeAsync() => deployment = await Deployment.StartAsync(output);
    public async Task DisposeAsync()
    {
        if (deployment is not null) await deployment.DisposeAsync();
    }

    [Fact]
    public async Task Another_worker_completes_the_job_of_a_worker_killed_mid_job_without_duplicate_or_corrupt_artifacts()
    {
        await deployment.StartControlAsync();
        var distillers = new Dictionary<string, IServiceHost>
        {
            ["distiller-a"] = deployment.StartWorker<Distiller.DistillerService>("distiller-a"),
            ["distiller-b"] = deployment.StartWorker<Distiller.DistillerService>("distiller-b"),
        };
        deployment.StartWorker<ScalerTrainer.ScalerTrainerService>("scaler-trainer");
        deployment.StartWorker<Finetuner.FinetunerService>("finetuner");
        deployment.StartWorker<Evaluator.EvaluatorService>("evaluator");
        // Half an epoch (about 230 steps, several seconds): long enough that the first progress report still finds the
        // job far from its end when the victim is killed (0.1 epochs sometimes finished before the kill landed).
        var runId = await deployment.StartRunAsync(TinyConfigs.WaveOnly(distillEpochs: 0.5));

        // Whoever reports progress on the distillation first is killed in the middle of it.
        var progress = await deployment.Events.WaitForAsync<StageProgress>(p => p.RunId == runId && p.Stage == StageNames.Distill,
            TimeSpan.FromMinutes(1), "distillation under way");
        var victim = progress.Worker;
        var survivor = distillers.Keys.Single(k => k != victim);
        deployment.Log($"killing {victim} at step {progress.Step} of {progress.Steps}");
        await Deployment.KillAsync(distillers[victim]);
        Assert.Empty(deployment.Events.All<TemplatesDistilled>());   // it really was killed mid-job

        var run = await deployment.WaitForRunAsync(runId, TimeSpan.FromMinutes(3));

        var events = deployment.Events.Events.Where(e => e.RunId == runId).ToList();
        Assert.True(run.Status == RunOutcome.Succeeded, $"run {run.Status}: {string.Join("; ", events.OfType<StageFailed>().Select(f => f.Reason))}");
        var distilled = Assert.Single(events.OfType<TemplatesDistilled>());
        Assert.Equal(survivor, distilled.Stats.Worker);
        Assert.False(distilled.Stats.Cached);
        Assert.Equal(progress.JobKey, distilled.JobKey);
        // The survivor took the job over once the victim's lease expired: the second claim of that job.
        var lease = await new KeyValueJobLeases(new RedisKeyValueStore(deployment.Redis, new RedisOptions { KeyPrefix = deployment.KeyPrefix }))
            .GetAsync(distilled.JobKey);
        Assert.Equal((survivor, 2), (lease!.Worker, lease.Attempt));
        var results = Results.Of(events).ToList();
        Assert.Equal(results.Count, results.Select(Results.JobKey).Distinct().Count());
        Assert.All(results, e => Assert.False(Results.Stats(e).Cached));
        Assert.All(Results.Branches(events), b => Assert.True(b.Value.Init is not null && b.Value.Final is not null, b.Key));

        // Artifacts: exactly one manifest per artifact the run names, no chunk outside a manifest, and every one verifies.
        // What the run names, the teacher, the data set the control plane registered from its own copy, and the teacher's
        // logits the stages keep for the next job (named by their records; the victim may have stored them before it died).
        using var dataset = new MemoryStream();
        DatasetArchive.PackFolder(DatasetArchive.FashionMnist, DatasetArchive.FashionMnistFolder, dataset);
        var db = deployment.Redis.GetDatabase();
        var logits = new List<string>();
        foreach (var key in await Servers.RedisKeysAsync(deployment.Redis, deployment.KeyPrefix + "record/logits/"))
            logits.Add(JsonSerializer.Deserialize<JsonElement>((byte[])(await db.HashGetAsync(key, "v"))!).GetProperty("digest").GetString()!);
        Assert.Equal(2, logits.Count);   // stage 1's data and stage 2's subset
        var named = events.SelectMany(MessageTypes.Outputs).Append(ArtifactDigest.Of(new MemoryStream(TinyTeacher.Bytes)))
            .Append(Convert.ToHexStringLower(SHA256.HashData(dataset.ToArray()))).Concat(logits).ToHashSet();
        var manifests = await Servers.RedisKeysAsync(deployment.Redis, deployment.KeyPrefix + "artifact/");
        Assert.Equal(named.Order(), manifests.Select(k => k[(deployment.KeyPrefix + "artifact/").Length..]).Order());
        var referenced = new HashSet<string>();
        foreach (var key in manifests)
        {
            using var manifest = JsonDocument.Parse((byte[])(await db.HashGetAsync(key, "v"))!);
            foreach (var chunk in manifest.RootElement.GetProperty("chunks").EnumerateArray())
                Assert.True(referenced.Add(chunk.GetProperty("key").GetString()!), $"a chunk is shared by two manifests: {chunk}");
        }
        var chunks = (await Servers.RedisKeysAsync(deployment.Redis, deployment.KeyPrefix + "chunk/")).Select(k => k[deployment.KeyPrefix.Length..]);
        Assert.Equal(referenced.Order(), chunks.Order());
        var store = deployment.FreshStore();
        foreach (var digest in named)
            Assert.Equal(digest, ArtifactDigest.OfFile(await store.GetFileAsync(digest)));
    }
}
