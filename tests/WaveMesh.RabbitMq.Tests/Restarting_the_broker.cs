using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.RabbitMq.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WaveMesh.RabbitMq.Tests;

[Trait("Category", "Integration")]
public sealed class Restarting_the_broker(ITestOutputHelper output) : IAsyncLifetime
{
    Deployment deployment = null!;

    public async Task InitializeAsync() => deployment = await Deployment.StartAsync(output);
    public async Task DisposeAsync()
    {
        if (deployment is not null) await deployment.DisposeAsync();
    }

    [Fact]
    public async Task Services_reconnect_after_a_broker_restart_in_the_middle_of_a_run_and_the_run_completes()
    {
        await deployment.StartAllAsync();
        var runId = await deployment.StartRunAsync(TinyConfigs.WaveOnly(distillEpochs: 0.03));
        var progress = await deployment.Events.WaitForAsync<StageProgress>(p => p.RunId == runId && p.Stage == StageNames.Distill,
            TimeSpan.FromMinutes(1), "distillation under way");

        // The distillation is running: the broker goes away under every service (the result is likely to be ready while
        // it is away), and comes back.
        deployment.Log($"restarting RabbitMQ at step {progress.Step} of {progress.Steps} of the distillation");
        var restarted = Stopwatch.StartNew();
        await RestartRabbitMqAsync();
        deployment.Log($"RabbitMQ restarted in {restarted.Elapsed.TotalSeconds:F1} s");
        await Servers.WaitForRabbitMqAsync(TimeSpan.FromSeconds(60));
        Assert.True(await Servers.BrokerUptimeAsync() < restarted.Elapsed, "the broker was not restarted");

        var run = await deployment.WaitForRunAsync(runId, TimeSpan.FromMinutes(3));
        var distilled = deployment.Events.All<TemplatesDistilled>().FirstOrDefault(t => t.RunId == runId);
        deployment.Log($"the distillation's result was made at {distilled?.CreatedAt:HH:mm:ss.fff}");

        // Delivery is at least once: a result published while the broker went away can arrive twice with the same
        // event id. One event counted once; a job that really ran twice makes two events with two ids.
        var events = deployment.Events.Events.Where(e => e.RunId == runId).DistinctBy(e => e.Id).ToList();
        Assert.True(run.Status == RunOutcome.Succeeded, $"run {run.Status}: {string.Join("; ", events.OfType<StageFailed>().Select(f => f.Reason))}");
        Assert.Equal(RunOutcome.Succeeded, Assert.Single(events.OfType<RunCompleted>()).Outcome);
        var branch = Assert.Single(Results.Branches(events));
        Assert.Equal("1x16x1/wave", branch.Key);
        Assert.True(branch.Value.Init is >= 0 and <= 1 && branch.Value.Final is >= 0 and <= 1, $"{branch.Value}");
        var computed = Results.Of(events).Where(e => !Results.Stats(e).Cached).ToList();
        Assert.Equal(computed.Count, computed.Select(Results.JobKey).Distinct().Count());   // nothing ran twice
        Assert.Single(events.OfType<TemplatesDistilled>(), t => !t.Stats.Cached);
    }

    /// <summary>scripts/services.sh restart-rabbitmq of this repository (found by walking up to WaveMesh.sln).</summary>
    static async Task RestartRabbitMqAsync()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "WaveMesh.sln"))) root = root.Parent;
        Assert.True(root is not null, $"no WaveMesh.sln above {AppContext.BaseDirectory}");
        var script = Path.Combine(root!.FullName, "scripts", "services.sh");
        using var process = Process.Start(new ProcessStartInfo("bash", [script, "restart-rabbitmq"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = root.FullName,
        })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"{script} restart-rabbitmq exited with {process.ExitCode}: {await stdout} {await stderr}");
    }
}
