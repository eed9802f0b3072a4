using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapr.Client;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Dapr.Sidecar;
using WaveMesh.Models;
using WaveMesh.Services.Tests.Hosting;
using WaveMesh.Testing;
using WaveMesh.Transport.Dapr;
using Xunit.Abstractions;

namespace WaveMesh.Services.Tests;

/// <summary>
/// The pipeline driven through the control API across the five services, each a separate host talking only through
/// the sidecar; then what a distributed deployment must survive: duplicates, replicas, a dead worker, damaged and
/// missing artifacts.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class Running_the_services_on_dapr(Deployment deployment, ITestOutputHelper output) : IClassFixture<Deployment>, IDisposable
{
    Mesh Mesh => deployment.Mesh;
    static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    DaprClient? dapr;

    public void Dispose()
    {
        dapr?.Dispose();
        foreach (var line in Mesh.Logs.Lines.Where(l => l.Contains(" Warning ") || l.Contains(" Error ")).TakeLast(40)) output.WriteLine(line);
    }

    static string Slug(TargetEvaluated e) => e.Subject.Split('/')[0];

    /// <summary>Results of a job key that were computed, not answered from the record.</summary>
    IReadOnlyList<IntegrationEvent> Computed(string jobKey) =>
        Mesh.Results().Where(e => Mesh.JobKeyOf(e) == jobKey && !Mesh.Stats(e).Cached).ToList();

    [Fact]
    public void Running_the_pipeline_across_the_five_services()
    {
        var run = deployment.FirstRun;
        var runId = deployment.FirstRunId;
        output.WriteLine($"first run: {deployment.FirstRunTime.TotalSeconds:F0} s");

        Assert.Equal("succeeded", run.Status);
        Assert.Empty(run.Failures);
        Assert.Empty(run.Outstanding);
        var completed = Assert.Single(Mesh.Published<RunCompleted>(), c => c.RunId == runId);
        Assert.Equal((RunOutcome.Succeeded, 0), (completed.Outcome, completed.Failed));
        Assert.Equal(16, completed.Jobs);   // teacher evaluation, distillation, 2 scaler sets, 4 fine-tunes, 8 evaluations

        // Every (target, method) branch was evaluated before and after stage 3, with accuracies in [0, 1].
        var evaluations = Mesh.Published<TargetEvaluated>().Where(e => e.RunId == runId).ToList();
        foreach (var target in new[] { Deployment.Small, Deployment.Wide })
        foreach (var method in new[] { "wave", "scratch" })
        foreach (var phase in new[] { "init", "final" })
        {
            var e = Assert.Single(evaluations.Where(v => v.Subject == $"{target.Slug}/{method}/{phase}").DistinctBy(v => v.JobKey));
            Assert.InRange(e.Accuracy, 0, 1);
            Assert.Equal(10_000, e.Examples);
        }
        Assert.InRange(Assert.Single(evaluations.Where(v => v.Subject == "teacher").DistinctBy(v => v.JobKey)).Accuracy, 0.3, 1);
        // The API shows the same four branches.
        Assert.Equal(["L1 D16 H1/scratch", "L1 D16 H1/wave", "L2 D48 H3/scratch", "L2 D48 H3/wave"], run.Branches.Select(b => $"{b.Target}/{b.Method}").Order());
        Assert.All(run.Branches, b =>
        {
            Assert.InRange(b.Init ?? -1, 0, 1);
            Assert.InRange(b.Final ?? -1, 0, 1);
        });

        // Each job ran once (duplicates re-offered by the watchdog are answered from the record), on the service of its stage.
        var results = Mesh.Results(runId);
        var byJob = results.GroupBy(Mesh.JobKeyOf).ToList();
        Assert.Equal(completed.Jobs, byJob.Count);
        Assert.All(byJob, g => Assert.Single(g, e => !Mesh.Stats(e).Cached));
        Assert.All(results.OfType<TemplatesDistilled>(), e => Assert.Equal("distiller-1", e.Stats.Worker));
        Assert.All(results.OfType<ScalersTrained>(), e => Assert.StartsWith("scalers-", e.Stats.Worker));
        Assert.All(results.OfType<TargetFinetuned>(), e => Assert.StartsWith("finetuner-", e.Stats.Worker));
        Assert.All(results.OfType<TargetEvaluated>(), e => Assert.Equal("evaluator-1", e.Stats.Worker));
        Assert.All(results.OfType<TargetFinetuned>().Where(f => f.Method == "wave"), f =>
            Assert.Contains(results.OfType<ScalersTrained>(), s => s.ModelDigest == f.InitModelDigest && s.Target == f.Target));

        // Every artifact an event names is in the shared store: a manifest and its chunks, none larger than ChunkBytes.
        var state = Mesh.Sidecar.Snapshot(Mesh.Store);
        var named = results.SelectMany(MessageTypes.Outputs).Append(deployment.Registered.Digest)
            .Concat(results.OfType<TargetEvaluated>().Select(e => e.ModelDigest)).Distinct().ToList();
        // teacher, templates, auxiliary scalers, 2 scaler sets and their models, 2 scratch initialisations, 4 fine-tuned models
        Assert.Equal(13, named.Count);
        var chunkCounts = new List<int>();
        foreach (var digest in named)
        {
            Assert.True(state.TryGetValue($"artifact/{digest}", out var manifest), $"artifact {digest} is not in the state store");
            using var doc = JsonDocument.Parse(manifest);
            var chunks = doc.RootElement.GetProperty("chunks").EnumerateArray().ToList();
            // A chunk list too long for one value (the data set's, at this test's small chunks) is kept in pages.
            if (doc.RootElement.TryGetProperty("chunk_lists", out var pages))
                foreach (var page in pages.EnumerateArray())
                    chunks.AddRange(JsonDocument.Parse(state[page.GetString()!]).RootElement.Clone().EnumerateArray());
            long total = 0;
            foreach (var chunk in chunks)
            {
                var value = state[chunk.GetProperty("key").GetString()!];
                Assert.True(value.Length <= Deployment.ChunkBytes, $"a chunk of {digest} holds {value.Length} bytes");
                Assert.Equal(chunk.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(value)));
                total += value.Length;
            }
            Assert.Equal(doc.RootElement.GetProperty("size").GetInt64(), total);
            chunkCounts.Add(chunks.Count);
        }
        Assert.Contains(chunkCounts, n => n > 1);   // models are cut into several chunks
        Assert.All(state, kv => Assert.True(kv.Value.Length <= Deployment.ChunkBytes, $"{kv.Key} holds {kv.Value.Length} bytes"));
    }

    [Fact]
    public void One_run_is_one_trace_whose_spans_cross_the_services()
    {
        var run = deployment.FirstRunId.ToString();
        var spans = deployment.Spans.All;
        var distill = Assert.Single(spans, s => s.Name == "distill job" && s.Tag("wavemesh.run_id") == run);
        var trace = spans.Where(s => s.TraceId == distill.TraceId).ToList();

        // Job spans of every worker service, and the control service handling their results, all in the distillation's trace.
        var workers = trace.Select(s => s.Tag("wavemesh.worker")).OfType<string>().ToHashSet();
        Assert.Contains("distiller-1", workers);
        Assert.Contains(workers, w => w.StartsWith("scalers-"));
        Assert.Contains(workers, w => w.StartsWith("finetuner-"));
        Assert.Contains("evaluator-1", workers);
        foreach (var handled in new[] { nameof(TemplatesDistilled), nameof(ScalersTrained), nameof(TargetFinetuned), nameof(TargetEvaluated) })
            Assert.Contains(trace, s => s.Name == $"control handles {handled}" && s.Tag("wavemesh.run_id") == run);

        // The causal chain crosses the services through the sidecar: a WAVE branch's evaluation descends, span by span,
        // from its fine-tune, its scalers and the distillation, each on another service. daprd starts a span of its own
        // for each delivery (exported to the same collector); the test sidecar reports the same.
        var sidecarSpans = Mesh.Sidecar.Spans.Where(s => s.TraceId == distill.TraceId.ToHexString())
            .Select(s => new Span(distill.TraceId, ActivitySpanId.CreateFromString(s.SpanId),
                s.ParentSpanId is null ? default : ActivitySpanId.CreateFromString(s.ParentSpanId), "daprd", s.Name, new Dictionary<string, string?>()));
        var byId = trace.Concat(sidecarSpans).ToDictionary(s => s.SpanId);
        List<Span> Ancestry(Span span)
        {
            var chain = new List<Span>();
            while (byId.TryGetValue(span.ParentSpanId, out var parent)) chain.Add(span = parent);
            return chain;
        }
        var chains = trace.Where(s => s.Name == "evaluate job" && (s.Tag("wavemesh.job") ?? "").Contains("/wave/")).Select(Ancestry).ToList();
        Assert.NotEmpty(chains);
        var chain = chains.FirstOrDefault(c => c.Where(s => s.Name.EndsWith(" job")).Select(s => s.Name)
            .SequenceEqual(["finetune job", "scalers job", "distill job"]));
        Assert.True(chain is not null, "no WAVE evaluation descends from its fine-tune, scalers and distillation; the first goes back through: " +
            string.Join(" <- ", chains[0].Select(s => $"{s.Source}:{s.Name}")));
        Assert.Contains(chain, s => s.Name.StartsWith("control handles "));
        Assert.Contains(chain, s => s.Source == "Microsoft.AspNetCore" && s.Name.StartsWith("POST /dapr/"));   // a delivery from the sidecar to a service

        // Every job of the run is in that one trace (re-offers by the watchdog too).
        var jobs = spans.Where(s => s.Name.EndsWith(" job") && s.Tag("wavemesh.run_id") == run).ToList();
        Assert.True(jobs.Count >= 16, $"only {jobs.Count} job spans for the run's 16 jobs");
        Assert.All(jobs, j => Assert.Equal(distill.TraceId, j.TraceId));
    }

    [Fact]
    public async Task The_registry_serves_each_size_s_promoted_model_and_makes_a_size_on_demand()
    {
        // The first run decided both its sizes, and said so on the bus.
        var promoted = Mesh.Published<ModelPromoted>().Where(p => p.RunId == deployment.FirstRunId).Select(p => p.Size.Slug).Distinct();
        Assert.Equal([Deployment.Small.Slug, Deployment.Wide.Slug], promoted.Order());

        await RegistryScenario.RunAsync(Mesh.ControlApi, Deployment.TeacherName, [Deployment.Small.Slug, Deployment.Wide.Slug], "1x64x2",
            async id => (await Mesh.WaitForRunAsync(id, Patience)).Status, Path.Combine(Mesh.Root, "downloads"));
        Assert.Contains(Mesh.Published<ModelPromoted>(), p => p.Size.Slug == "1x64x2" && p.Method == "wave");
    }

    [Fact]
    public async Task A_teacher_announced_by_another_system_starts_the_same_runs_as_an_upload()
    {
        // Another system puts a teacher into the store and publishes TeacherChanged on the bus (no run of ours).
        const string name = "announced";
        Assert.Null(await Mesh.PutPipelineAsync("follows-announced", name, Deployment.Config(Deployment.Small)));
        var info = await TestStore().PutAsync(new MemoryStream(Checkpoints.Untrained(Checkpoints.TeacherSpec, seed: 31)), "vit");
        var announcement = new TeacherChanged(info.Digest, name, new ModelFamily(), new ModelSize(2, 32, 2));
        Mesh.Sidecar.Publish(Mesh.PubSub, Topics.Of(typeof(TeacherChanged)), Encoding.UTF8.GetBytes(ContractJson.Serialize(announcement)));

        // The control plane registers the version and runs the pipeline that follows it, as after an upload.
        var run = await Mesh.WaitForAsync(() => Mesh.Published<TeacherChanged>().FirstOrDefault(t => t.TeacherDigest == info.Digest && t.RunId != Guid.Empty),
            Patience, "the run started for the announced teacher");
        Assert.Equal($"{name} v1", run.Name);
        Assert.Equal("succeeded", (await Mesh.WaitForRunAsync(run.RunId, Patience)).Status);
        var teacher = JsonDocument.Parse(await Mesh.ControlApi.GetStringAsync($"/api/teachers/{name}")).RootElement;
        Assert.Equal(info.Digest, teacher.GetProperty("versions")[0].GetProperty("digest").GetString());
        Assert.Contains(Mesh.Published<ModelPromoted>(), p => p.Teacher == name && p.Size == Deployment.Small);
    }

    [Fact]
    public async Task Registering_the_same_teacher_twice_starts_nothing_new()
    {
        var runsBefore = (await Mesh.RunsAsync()).Count;
        var publishedBefore = Mesh.Sidecar.Published.Count;

        // A run's first jobs are published before the upload is answered, so once it is answered, nothing of it can
        // still come; every earlier run is complete, so no watchdog pass has anything to offer again either.
        var again = await Mesh.UploadTeacherAsync(Deployment.TeacherName, deployment.Teacher);
        await Mesh.Sidecar.WaitForIdleAsync(TimeSpan.FromSeconds(30));

        Assert.False(again.Changed);
        Assert.Empty(again.StartedRuns);
        Assert.Equal((deployment.Registered.Version, deployment.Registered.Digest), (again.Version, again.Digest));
        Assert.Equal(runsBefore, (await Mesh.RunsAsync()).Count);
        var since = Mesh.Sidecar.Published.Skip(publishedBefore).ToList();
        Assert.DoesNotContain(since, m => m.Topic.StartsWith("jobs.", StringComparison.Ordinal) || m.Topic == "teacher-changed");
    }

    [Fact]
    public async Task Adding_a_target_runs_only_its_branch()
    {
        var added = new ModelSize(1, 32, 2);

        var runId = await Mesh.PutPipelineAsync(Deployment.PipelineName, Deployment.TeacherName, Deployment.Config(Deployment.Small, Deployment.Wide, added));
        var run = await Mesh.WaitForRunAsync(runId!.Value, Patience);

        Assert.Equal("succeeded", run.Status);
        var results = Mesh.Results(runId);
        var computed = results.Where(e => !Mesh.Stats(e).Cached).ToList();
        Assert.All(computed, e => Assert.Equal(added, e switch
        {
            ScalersTrained s => s.Target,
            TargetFinetuned f => f.Target,
            TargetEvaluated v => ModelSize.TryParse(Slug(v), out var size) ? size : null,
            _ => null,
        }));
        // The new size's scalers, its two fine-tunes and their four evaluations; everything else came from the records.
        Assert.Single(computed.OfType<ScalersTrained>());
        Assert.Equal(["scratch", "wave"], computed.OfType<TargetFinetuned>().Select(f => f.Method).Order());
        Assert.Equal(4, computed.OfType<TargetEvaluated>().Count());
        Assert.Contains(results, e => e is TemplatesDistilled && Mesh.Stats(e).Cached);
        var first = Mesh.Published<TargetEvaluated>().Where(e => e.RunId == deployment.FirstRunId)
            .GroupBy(e => e.Subject).ToDictionary(g => g.Key, g => Assert.Single(g.Select(e => e.Accuracy).Distinct()));
        foreach (var e in results.OfType<TargetEvaluated>().Where(e => Slug(e) != added.Slug && e.Subject != "teacher"))
            Assert.Equal(first[e.Subject], e.Accuracy);
        // The run still covers every branch: the teacher and 3 targets x 2 methods x (init, final).
        Assert.Equal(13, results.OfType<TargetEvaluated>().Select(e => e.Subject).Distinct().Count());
    }

    [Fact]
    public async Task A_duplicate_job_runs_once()
    {
        var job = new EvaluateModel(deployment.Registered.Digest, new DatasetRef(), $"duplicate-{Guid.NewGuid():N}") { RunId = Guid.NewGuid() };

        // The same message twice (a redelivery) and once more under a new id (a second publisher).
        Mesh.Publish(job);
        Mesh.Publish(job);
        Mesh.Publish(job with { Id = Guid.NewGuid() });
        await Mesh.WaitForAsync(() => Computed(job.Key).FirstOrDefault(), Patience, "the evaluation");
        await Mesh.Sidecar.WaitForIdleAsync(Patience);

        var computed = Assert.Single(Computed(job.Key));
        Assert.Equal(job.RunId, computed.RunId);
        var all = Mesh.Results().Where(e => Mesh.JobKeyOf(e) == job.Key).ToList();
        Assert.InRange(all.Count, 1, 3);   // the others were answered from the record, or found the job claimed
        Assert.All(all.Where(e => e != computed), e => Assert.True(Mesh.Stats(e).Cached));
        Assert.Equal(3, Mesh.Sidecar.Deliveries.Where(d => d.Topic == "jobs.evaluate" && d.Status == DeliveryStatus.Success)
            .Count(d => Mesh.Sidecar.Published.Any(m => m.Id == d.MessageId && Mesh.Decode(m) is EvaluateModel e && e.Key == job.Key)));
        Assert.Equal(1, Lease(job.Key).GetProperty("attempt").GetInt32());
    }

    JsonElement Lease(string jobKey) =>
        JsonDocument.Parse(Mesh.Sidecar.Snapshot(Mesh.Store)[$"lease/{jobKey}"]).RootElement.Clone();

    [Fact]
    public async Task Two_scaler_trainer_replicas_split_the_targets()
    {
        var templates = deployment.Templates;
        var runId = Guid.NewGuid();
        ModelSize[] targets = [new(1, 16, 1), new(1, 32, 2), new(2, 16, 1), new(2, 32, 2)];
        var jobs = targets.Select(t => new TrainScalers(deployment.Registered.Digest, templates.TemplatesDigest, templates.AuxScalersDigest, t,
            ScalerInit.Resized, new DatasetRef(Subset: 1000, SubsetSeed: 3), new TrainSettings(5, LearningRate: 3e-3, WeightDecay: 0), 1.0, Seed: 3)
        { RunId = runId }).ToList();

        foreach (var job in jobs) Mesh.Publish(job);
        await Mesh.WaitUntilAsync(() => jobs.All(j => Computed(j.Key).Count > 0), Patience, "four scaler sets");
        await Mesh.Sidecar.WaitForIdleAsync(Patience);

        var trained = jobs.Select(j => (ScalersTrained)Assert.Single(Computed(j.Key))).ToList();
        Assert.Equal(targets, trained.Select(s => s.Target));
        Assert.All(trained, s => Assert.True(s.Scalers > 0));
        var workers = trained.Select(s => s.Stats.Worker).ToList();
        output.WriteLine($"scalers trained by: {string.Join(", ", workers)}");
        Assert.Equal(["scalers-1", "scalers-2"], workers.Distinct().Order());
        // The sidecar offered the jobs to both replicas of the app-id; a busy one answered RETRY and the other took it.
        var offers = Mesh.Sidecar.Deliveries.Where(d => d.Topic == "jobs.scalers" && d.At >= Mesh.Sidecar.Published.First(m => Mesh.Decode(m) is TrainScalers s && s.RunId == runId).At).ToList();
        Assert.Equal(2, offers.Where(d => d.Status == DeliveryStatus.Success).Select(d => d.Replica).Distinct().Count());
    }

    [Fact]
    public async Task A_worker_killed_mid_job_leaves_a_job_another_completes()
    {
        const string config = """
            templates: { size: 16 }
            methods: [scratch]
            finetune: { epochs: 0.08, batch_size: 32, curve_points: 0 }
            targets: [2x48x3]
            """;

        var runId = (await Mesh.PutPipelineAsync("crash", Deployment.TeacherName, config))!.Value;
        var progress = await Mesh.WaitForAsync(() => Mesh.Published<StageProgress>().FirstOrDefault(p => p.RunId == runId && p.Stage == "finetune"),
            Patience, "the fine-tune to start");
        var victim = deployment.Replicas[progress.Worker];
        var survivor = deployment.Replicas.Single(r => r.Key.StartsWith("finetuner-") && r.Key != progress.Worker && deployment.Mesh.Hosts.Contains(r.Value));
        Assert.Equal(progress.Worker, Lease(progress.JobKey).GetProperty("worker").GetString());
        await Mesh.KillAsync(victim);
        // The dead worker's last word on its lease (unless the survivor has already taken the job over).
        var lease = Lease(progress.JobKey);
        DateTime? leaseEnd = lease.GetProperty("worker").GetString() == progress.Worker ? lease.GetProperty("expires_at").GetDateTime() : null;
        var run = await Mesh.WaitForRunAsync(runId, Patience);

        Assert.Equal("succeeded", run.Status);
        var finetuned = (TargetFinetuned)Assert.Single(Computed(progress.JobKey));
        Assert.Equal(survivor.Key, finetuned.Stats.Worker);
        Assert.Equal(runId, finetuned.RunId);
        Assert.Equal(2, Lease(progress.JobKey).GetProperty("attempt").GetInt32());
        // The victim never finished it, and the job came back only after its lease ran out (the watchdog published it again).
        Assert.DoesNotContain(Mesh.Published<StageProgress>(), p => p.JobKey == progress.JobKey && p.Worker == progress.Worker && p.Step == p.Steps);
        var published = Mesh.Sidecar.Published.Where(m => Mesh.Decode(m) is FinetuneTarget f && f.Key == progress.JobKey).ToList();
        Assert.True(published.Count >= 2, "the job was not published again");
        if (leaseEnd is { } end)
            Assert.True(published[1].At.UtcDateTime >= end.ToUniversalTime().AddMilliseconds(-50),
                $"the job was published again at {published[1].At:HH:mm:ss.fff}, before the dead worker's lease ran out at {end:HH:mm:ss.fff}");
        Assert.Equal(["2x48x3/scratch/final", "2x48x3/scratch/init"],
            Mesh.Published<TargetEvaluated>().Where(e => e.RunId == runId && e.Subject != "teacher").Select(e => e.Subject).Distinct().Order());
    }

    /// <summary>Stores a fresh untrained model through the test's own client and damages its third chunk in the state store.</summary>
    async Task<(string Digest, string Chunk)> StoreDamagedModelAsync(long seed)
    {
        var store = TestStore();
        var info = await store.PutAsync(new MemoryStream(Checkpoints.Untrained(new VitSpec { Depth = 2, Width = 48, Heads = 3 }, seed)), "vit");
        using var manifest = JsonDocument.Parse(Mesh.Sidecar.Snapshot(Mesh.Store)[$"artifact/{info.Digest}"]);
        var key = manifest.RootElement.GetProperty("chunks")[2].GetProperty("key").GetString()!;
        Mesh.Sidecar.Corrupt(Mesh.Store, key, bytes => { bytes[100] ^= 0x5a; return bytes; });
        return (info.Digest, key);
    }

    /// <summary>ChunkedArtifactStore over the product's DaprKeyValueStore, as a service holds it, with a cache folder of its own.</summary>
    ChunkedArtifactStore TestStore()
    {
        dapr ??= new DaprClientBuilder().UseGrpcEndpoint(Mesh.Sidecar.GrpcEndpoint).UseHttpEndpoint(Mesh.Sidecar.HttpEndpoint)
            .UseDaprApiToken(Mesh.DaprApiToken).Build();
        var kv = new DaprKeyValueStore(dapr, Options.Create(new DaprOptions { ChunkBytes = Deployment.ChunkBytes }));
        return new ChunkedArtifactStore(kv, Deployment.ChunkBytes, Path.Combine(Mesh.Root, "test-cache", Guid.NewGuid().ToString("N")[..8]));
    }

    [Fact]
    public async Task A_corrupt_artifact_chunk_is_detected_and_reported()
    {
        var (digest, chunk) = await StoreDamagedModelAsync(seed: 21);
        var (needed, _) = await StoreDamagedModelAsync(seed: 22);

        // Read directly: the damaged chunk is named, and the manifest is taken out so the producing stage can run again.
        var error = await Assert.ThrowsAsync<ArtifactCorruptException>(() => TestStore().GetFileAsync(digest));
        Assert.Equal(digest, error.Digest);
        Assert.Contains("chunk 3 of 8", error.Message);
        Assert.Contains(chunk, error.Message);
        Assert.DoesNotContain($"artifact/{digest}", Mesh.Sidecar.Snapshot(Mesh.Store).Keys);

        // A job that needs a damaged model fails for good; its first attempt is the one that found the damage.
        var job = new EvaluateModel(needed, new DatasetRef(), $"corrupt-{Guid.NewGuid():N}") { RunId = Guid.NewGuid() };
        Mesh.Publish(job);
        var failed = await Mesh.WaitForAsync(() => Mesh.Published<StageFailed>().FirstOrDefault(f => f.JobKey == job.Key), Patience, "the job to fail");

        Assert.Equal((job.RunId, "evaluate", 2), (failed.RunId, failed.Stage, failed.Attempts));
        Assert.Empty(Computed(job.Key));
        Assert.Contains(Mesh.Logs.Lines, l => l.Contains($"{job.Describe()} failed (attempt 1 of 2): ArtifactCorruptException") && l.Contains(needed));
        Assert.DoesNotContain($"artifact/{needed}", Mesh.Sidecar.Snapshot(Mesh.Store).Keys);
    }

    [Fact]
    public async Task A_job_whose_input_is_corrupt_fails_with_a_reason_that_says_corrupt()
    {
        var (needed, chunk) = await StoreDamagedModelAsync(seed: 23);
        var job = new EvaluateModel(needed, new DatasetRef(), $"corrupt-{Guid.NewGuid():N}") { RunId = Guid.NewGuid() };

        Mesh.Publish(job);
        var failed = await Mesh.WaitForAsync(() => Mesh.Published<StageFailed>().FirstOrDefault(f => f.JobKey == job.Key), Patience, "the job to fail");

        Assert.Contains("corrupt", failed.Reason, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(chunk, failed.Reason);
    }

    [Fact]
    public async Task A_job_that_keeps_failing_ends_as_StageFailed_and_in_the_dead_letter_topic()
    {
        var missing = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"never stored {Guid.NewGuid()}")));
        var job = new EvaluateModel(missing, new DatasetRef(), $"missing-{Guid.NewGuid():N}") { RunId = Guid.NewGuid() };

        Mesh.Publish(job);
        var failed = await Mesh.WaitForAsync(() => Mesh.Published<StageFailed>().FirstOrDefault(f => f.JobKey == job.Key), Patience, "the job to fail");
        var dead = await Mesh.WaitForAsync(() => Mesh.Sidecar.Published.FirstOrDefault(m => m.Topic == "jobs.evaluate.dead" && Mesh.Decode(m) is EvaluateModel e && e.Key == job.Key),
            Patience, "the dead letter");

        Assert.Equal((2, "evaluate", job.RunId), (failed.Attempts, failed.Stage, failed.RunId));   // WaveMesh:Worker:MaxAttempts = 2
        Assert.Contains($"Artifact {missing} is not in the store", failed.Reason);
        // The reason travels in StageFailed (publish metadata never reaches subscribers); the dead letter is marked as a
        // job failed for good by its CloudEvent type, which daprd does carry.
        Assert.Equal("io.wavemesh.job.failed", dead.CloudEvent().GetProperty("type").GetString());
        // Each attempt was its own delivery of the job (the retry is published again after RetryDelay).
        Assert.Equal(2, Mesh.Sidecar.Published.Count(m => m.Topic == "jobs.evaluate" && Mesh.Decode(m) is EvaluateModel e && e.Key == job.Key));
        Assert.Empty(Computed(job.Key));
        // The worker acknowledged every delivery and dead-lettered the job itself: the sidecar had nothing to dead-letter.
        Assert.DoesNotContain(Mesh.Sidecar.DeadLettered, m => Mesh.Decode(m) is EvaluateModel e && e.Key == job.Key);
    }
}
