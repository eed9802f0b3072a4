using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.ControlPlane;
using WaveMesh.Messaging;
using WaveMesh.Observability;
using WaveMesh.Pipeline;
using WaveMesh.Testing;
using WaveMesh.Workers;
using Xunit.Abstractions;

namespace WaveMesh.Services.Tests;

/// <summary>The control plane's run supervisor and run store on a file store, without hosts: what one event costs.</summary>
public sealed class Recording_run_events(ITestOutputHelper output) : IDisposable
{
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    sealed class DroppingBus : IEventBus
    {
        public Task PublishAsync(object message, CancellationToken cancellation = default) => Task.CompletedTask;
    }

    const string Config = """
        templates: { size: 16 }
        auxiliary: 2x32x2
        targets: [1x16x1]
        """;

    (RunSupervisor Supervisor, RunStore Runs) Control(FileArtifactStore store)
    {
        var options = Options.Create(new ControlOptions { UploadDirectory = Path.Combine(folder.Path, "uploads") });
        var bus = new DroppingBus();
        var registry = new TeacherRegistry(store, store, options, NullLogger<TeacherRegistry>.Instance);
        var runs = new RunStore(store);
        var results = new ResultRecords(store, store);
        var supervisor = new RunSupervisor(registry, runs, new ModelRegistry(store), results, bus, new PipelineController(bus),
            new JobWatchdog(new InMemoryJobLeases(), results, bus), new RunLedger(), options, NullLogger<RunSupervisor>.Instance);
        supervisor.MarkReady();
        return (supervisor, runs);
    }

    static async Task<Guid> StartRun(FileArtifactStore store, RunSupervisor supervisor)
    {
        var registry = new TeacherRegistry(store, store, Options.Create(new ControlOptions()), NullLogger<TeacherRegistry>.Instance);
        await registry.PutPipelineAsync("p", "t", Config, CancellationToken.None);
        var version = new TeacherVersion(1, Fakes.ModelDigest, DateTime.UtcNow, 1, new ModelFamily(), new ModelSize(2, 32, 2));
        var started = await supervisor.StartRunsAsync(new Registration("t", version, Changed: true));
        return Assert.Single(started.StartedRuns);
    }

    /// <summary>A result of no job the run waits for: recorded with the run, ignored by its coordinator.</summary>
    static TargetEvaluated Unrelated(Guid run, int i) =>
        new($"job-{i}", Fakes.ModelDigest, $"1x16x1/scratch/final", 0.5, 0.1, 10, new StageStats(1, 0.1, 10, false, "w")) { RunId = run };

    static StageProgress Progress(Guid run, int i) => new("distill-job", StageNames.Distill, "distill", i, 2000, 0.5, 100, i, "w") { RunId = run };

    [Fact]
    public async Task Handling_the_two_thousandth_event_of_a_run_costs_what_the_first_did()
    {
        var store = new FileArtifactStore(Path.Combine(folder.Path, "store"));
        var (supervisor, runs) = Control(store);
        var run = await StartRun(store, supervisor);
        // Warm up code paths (JIT, file system) on events that are not measured.
        for (int i = 0; i < 50; i++) await supervisor.HandleAsync(Progress(run, i));

        var seconds = new double[2000];
        for (int i = 0; i < seconds.Length; i++)
        {
            IntegrationEvent e = i % 2 == 0 ? Progress(run, i) : Unrelated(run, i);
            var clock = Stopwatch.StartNew();
            await supervisor.HandleAsync(e);
            seconds[i] = clock.Elapsed.TotalSeconds;
        }

        static double Median(IEnumerable<double> xs) { var s = xs.Order().ToArray(); return s[s.Length / 2]; }
        double first = Median(seconds.Take(100)), last = Median(seconds.TakeLast(100));
        output.WriteLine($"median per-event handling: first hundred {first * 1e3:F3} ms, last hundred {last * 1e3:F3} ms ({last / first:F2}x)");
        Assert.True(last <= 2 * first, $"the last hundred events took {last * 1e3:F3} ms each (median), the first {first * 1e3:F3} ms");
        // Every recorded event is there, once, in order.
        var recorded = (await runs.GetAsync(run))!.Events.Select(x => (IntegrationEvent)x.Open()).ToList();
        Assert.Equal(1000, recorded.Count);
        Assert.Equal(Enumerable.Range(0, 1000).Select(k => $"job-{2 * k + 1}"), recorded.Cast<TargetEvaluated>().Select(v => v.JobKey));
    }

    [Fact]
    public async Task A_redelivered_event_is_recorded_once_even_by_a_restarted_control_plane()
    {
        var store = new FileArtifactStore(Path.Combine(folder.Path, "store"));
        var (supervisor, runs) = Control(store);
        var run = await StartRun(store, supervisor);
        var events = Enumerable.Range(0, 250).Select(i => Unrelated(run, i)).ToList();
        foreach (var e in events) await supervisor.HandleAsync(e);
        await supervisor.HandleAsync(events[10]);

        // A new process on the same store: it learns the run's events from the store, not from memory.
        var again = new RunStore(store, RunStore.DefaultSegmentSize);
        Assert.False(await again.AppendAsync(events[0]));
        Assert.False(await again.AppendAsync(events[249]));
        Assert.True(await again.AppendAsync(Unrelated(run, 250)));

        var recorded = (await again.GetAsync(run))!.Events.Select(x => ((TargetEvaluated)x.Open()).JobKey).ToList();
        Assert.Equal(Enumerable.Range(0, 251).Select(i => $"job-{i}"), recorded);
        Assert.Equal(recorded, (await runs.GetAsync(run))!.Events.Select(x => ((TargetEvaluated)x.Open()).JobKey));
    }
}
