using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Control;
using WaveMesh.Distiller;
using WaveMesh.Evaluator;
using WaveMesh.Finetuner;
using WaveMesh.ScalerTrainer;
using WaveMesh.Services.Tests.Hosting;
using WaveMesh.Testing;
using Xunit.Abstractions;

namespace WaveMesh.Services.Tests;

/// <summary>
/// What a deployment under a real daprd must survive (issue 10): workers with one slot each and more parallel jobs
/// than slots, and a control service restarted mid-run whose sidecar comes up after it. The test sidecar follows
/// daprd: retries go to the same replica and end in the dead-letter topic, and the sidecar answers nothing while it
/// is down (tools/WaveMesh.Dapr.Sidecar/README.md).
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class Running_on_daprd_semantics(ITestOutputHelper output) : IAsyncLifetime
{
    Mesh mesh = null!;
    static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    public async Task InitializeAsync() => mesh = await Mesh.StartAsync(Deployment.ChunkBytes);

    public async Task DisposeAsync()
    {
        foreach (var line in mesh.Logs.Lines.Where(l => l.Contains(" Warning ") || l.Contains(" Error ")).TakeLast(30)) output.WriteLine(line);
        await mesh.DisposeAsync();
    }

    /// <summary>A control service whose watchdog would only step in after an hour: anything that finishes did so without it.</summary>
    Dictionary<string, string?> PatientControl(string name = "control")
    {
        var settings = mesh.ControlSettings(name, unclaimedAfter: TimeSpan.FromHours(1));
        return settings;
    }

    async Task StartWorkersAsync()
    {
        await mesh.StartWorkerAsync<DistillerService>("distiller", "distiller-1");
        await mesh.StartWorkerAsync<ScalerTrainerService>("scaler-trainer", "scalers-1");
        await mesh.StartWorkerAsync<FinetunerService>("finetuner", "finetuner-1");
        await mesh.StartWorkerAsync<EvaluatorService>("evaluator", "evaluator-1");
    }

    [Fact]
    public async Task With_one_slot_per_worker_and_more_jobs_than_slots_every_target_is_evaluated_once_without_the_watchdog()
    {
        await mesh.StartControlAsync(PatientControl());
        await StartWorkersAsync();
        ModelSize[] targets = [new(1, 16, 1), new(2, 16, 1), new(1, 32, 2), new(2, 48, 3)];

        var clock = Stopwatch.StartNew();
        await mesh.UploadTeacherAsync("fmnist-tiny", Checkpoints.TrainedTeacher);
        var runId = await mesh.PutPipelineAsync("busy", "fmnist-tiny", Deployment.Config(targets)) ?? throw new InvalidOperationException("no run started");
        var run = await mesh.WaitForRunAsync(runId, Patience);
        var wall = clock.Elapsed;

        Assert.Equal("succeeded", run.Status);
        Assert.Empty(mesh.Published<StageFailed>());
        // Every target and method evaluated before and after stage 3, each evaluation computed exactly once.
        var evaluations = mesh.Published<TargetEvaluated>().Where(e => e.RunId == runId).ToList();
        foreach (var target in targets)
        foreach (var method in new[] { "wave", "scratch" })
        foreach (var phase in new[] { "init", "final" })
            Assert.Single(evaluations, e => e.Subject == $"{target.Slug}/{method}/{phase}" && !e.Stats.Cached);
        var results = mesh.Results(runId);
        Assert.All(results.GroupBy(Mesh.JobKeyOf), g => Assert.Single(g, e => !Mesh.Stats(e).Cached));
        // No job waited for the watchdog or went through a dead-letter topic: busy replicas held their deliveries.
        Assert.DoesNotContain(mesh.Logs.Lines, l => l.Contains("published again") || l.Contains("dead-lettered by a sidecar"));
        Assert.DoesNotContain(mesh.Sidecar.DeadLettered, m => m.Topic.StartsWith("jobs.", StringComparison.Ordinal));

        double stageSeconds = results.Sum(e => Mesh.Stats(e).Seconds);
        output.WriteLine($"{results.Count} jobs on 4 one-slot workers: wall {wall.TotalSeconds:F1} s, sum of stage times {stageSeconds:F1} s " +
                         $"(wall / sum = {wall.TotalSeconds / stageSeconds:F2})");
    }

    [Fact]
    public async Task A_control_service_restarted_mid_run_whose_sidecar_comes_up_later_loses_no_run_and_finishes_the_open_one()
    {
        var control = await mesh.StartControlAsync(PatientControl());
        await StartWorkersAsync();
        await mesh.UploadTeacherAsync("fmnist-tiny", Checkpoints.TrainedTeacher);
        var finished = await mesh.PutPipelineAsync("first", "fmnist-tiny", Deployment.Config(new ModelSize(1, 16, 1))) ?? throw new InvalidOperationException();
        await mesh.WaitForRunAsync(finished, Patience);
        var open = await mesh.PutPipelineAsync("second", "fmnist-tiny", Deployment.Config(new ModelSize(2, 32, 2))) ?? throw new InvalidOperationException();
        // Mid-run: the templates are reused, the new size's scalers are on their way.
        await mesh.WaitForAsync(() => mesh.Published<ScalersTrained>().FirstOrDefault(s => s.RunId == open), Patience, "the open run's scalers");

        await mesh.KillAsync(control);
        mesh.Sidecar.BecomeUnavailable();
        var restarted = await mesh.StartAsync<ControlServiceHost>("control", "control-2", PatientControl("control-2"), register: false);
        await mesh.WaitUntilAsync(() => mesh.Logs.Lines.Any(l => l.Contains("[control-2]") && l.Contains("loading the run ledger failed")),
            TimeSpan.FromMinutes(1), "the restarted control service to find its sidecar down");
        mesh.UseControl(restarted);
        // Meanwhile the API says it is starting, instead of answering from an empty ledger.
        using (var starting = await mesh.ControlApi.GetAsync($"/api/runs/{finished}"))
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, starting.StatusCode);
        // ... and its readiness probe says so too (a load balancer keeps traffic away).
        using (var probe = await mesh.ControlApi.GetAsync("/health"))
        {
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, probe.StatusCode);
            Assert.Equal("Unhealthy", await probe.Content.ReadAsStringAsync());
        }
        mesh.Sidecar.BecomeAvailable();
        await mesh.Sidecar.AddAppAsync("control", restarted.BaseAddress, Mesh.AppApiToken);

        var resumed = await mesh.WaitForRunAsync(open, Patience);
        Assert.Equal("succeeded", resumed.Status);
        var runs = await mesh.RunsAsync();
        Assert.Contains(runs, r => r.RunId == finished && r.Status == "succeeded");
        Assert.Contains(runs, r => r.RunId == open);
        Assert.Contains(mesh.Logs.Lines, l => l.Contains("[control-2]") && l.Contains("restored"));
    }
}
