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

    static DatasetRegistry Datasets(FileArtifactStore store, IOptions<ControlOptions> options) =>
        new(store, store, options, NullLogger<DatasetRegistry>.Instance);

    static TeacherRegistry Registry(FileArtifactStore store, IOptions<ControlOptions> options) =>
        new(store, store, Datasets(store, options), options, NullLogger<TeacherRegistry>.Instance);

    (RunSupervisor Supervisor, RunStore Runs) Control(FileArtifactStore store)
    {
        var options = Options.Create(new ControlOptions { UploadDirectory = Path.Combine(folder.Path, "uploads") });
        var bus = new DroppingBus();
        var registry = Registry(store, options);
        var runs = new RunStore(store);
        var results = new ResultRecords(store, store);
        var supervisor = new RunSupervisor(registry, Datasets(store, options), runs, new ModelRegistry(store), results, bus, new PipelineController(bus),
            new JobWatchdog(new InMemoryJobLeases(), results, bus), new RunLedger(), options, NullLogger<RunSupervisor>.Instance);
        supervisor.MarkReady();
        return (supervisor, runs);
    }

    static async Task<Guid> StartRun(FileArtifactStore store, RunSupervisor supervisor)
    {
        var registry = Registry(store, Options.Create(new ControlOptions()));
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
        var registry = Registry(store, Options.Create(new ControlOptions()));
        await registry.PutPipelineAsync("late", "t", Config, CancellationToken.None);
        var version = new TeacherVersion(1, Fakes.ModelDigest, DateTime.UtcNow, 1, new ModelFamily(), new ModelSize(2, 32, 2));
        var started = await supervisor.StartRunsAsync(new Registration("t", version, Changed: true));
        var late = Assert.Single(started.StartedRuns);
        // Half progress, half results that are recorded with the run.
        IntegrationEvent Event(Guid run, int i) => i % 2 == 0 ? Progress(run, i) : Unrelated(run, i);
        async Task<double> Timed(IntegrationEvent e)
        {
            var clock = Stopwatch.StartNew();
            await supervisor.HandleAsync(e);
            return clock.Elapsed.TotalSeconds;
        }

        // 2,000 events into one run; the first hundred timed.
        const int Events = 2000, Window = 200;   // a window of 200 events spans whole segments of 100 recorded events
        var firstOfLate = new double[Window];
        for (int i = 0; i < Events; i++)
        {
            var t = await Timed(Event(late, i));
            if (i < Window) firstOfLate[i] = t;
        }

        // Then the events after the two thousandth of that run, each beside the first events of a fresh run, so that
        // both windows meet the same load from whatever else the machine runs.
        await registry.PutPipelineAsync("early", "t", Config, CancellationToken.None);
        var again = await supervisor.StartRunsAsync(new Registration("t", version, Changed: true));
        var ofEarly = new List<Guid>();
        foreach (var id in again.StartedRuns)
            if ((await runs.GetAsync(id))!.Pipeline == "early") ofEarly.Add(id);
        var early = Assert.Single(ofEarly);
        var lastOfLate = new double[Window];
        var firstOfEarly = new double[Window];
        for (int i = 0; i < Window; i++)
        {
            firstOfEarly[i] = await Timed(Event(early, i));
            lastOfLate[i] = await Timed(Event(late, Events + i));
        }

        static double Median(IEnumerable<double> xs) { var s = xs.Order().ToArray(); return s[s.Length / 2]; }
        double first = Median(firstOfEarly), last = Median(lastOfLate);
        output.WriteLine($"median per-event handling, measured side by side: events 1-{Window} of a run {first * 1e3:F3} ms, " +
            $"events {Events + 1}-{Events + Window} of another {last * 1e3:F3} ms ({last / first:F2}x); " +
            $"that run's own first {Window}, timed earlier: {Median(firstOfLate) * 1e3:F3} ms");
        Assert.True(last <= 2 * first,
            $"events {Events + 1}-{Events + Window} of a run took {last * 1e3:F3} ms each (median), events 1-{Window} of a run {first * 1e3:F3} ms");
        // Every recorded event is there, once, in order.
        var recorded = (await runs.GetAsync(late))!.Events.Select(x => (IntegrationEvent)x.Open()).ToList();
        Assert.Equal((Events + Window) / 2, recorded.Count);
        Assert.Equal(Enumerable.Range(0, (Events + Window) / 2).Select(k => $"job-{2 * k + 1}"), recorded.Cast<TargetEvaluated>().Select(v => v.JobKey));
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

    /// <summary>A record store that notes every key read.</summary>
    sealed class ReadLog(IRecordStore inner) : IRecordStore
    {
        public List<string> Keys { get; } = [];
        public Task<bool> TryAddRecordAsync(string key, string json, CancellationToken cancellation = default) => inner.TryAddRecordAsync(key, json, cancellation);
        public Task SetRecordAsync(string key, string json, CancellationToken cancellation = default) => inner.SetRecordAsync(key, json, cancellation);
        public Task<bool> DeleteRecordAsync(string key, CancellationToken cancellation = default) => inner.DeleteRecordAsync(key, cancellation);
        public Task<string?> GetRecordAsync(string key, CancellationToken cancellation = default)
        {
            lock (Keys) Keys.Add(key);
            return inner.GetRecordAsync(key, cancellation);
        }
    }

    static RunRecord NewRun(string teacherDigest) => new(Guid.NewGuid(), "p", DateTime.UtcNow,
        new TeacherChanged(teacherDigest, "t v1", new ModelFamily(), new ModelSize(2, 32, 2)), Config, [], RunRecord.Running);

    [Fact]
    public async Task A_teacher_version_s_runs_are_found_without_reading_any_other_run()
    {
        var store = new FileArtifactStore(Path.Combine(folder.Path, "store"));
        var runs = new RunStore(store);
        var mine = NewRun(new string('a', 64));
        var other = NewRun(new string('b', 64));
        await runs.CreateAsync(mine);
        await runs.CreateAsync(other);
        await runs.AppendAsync(Unrelated(mine.RunId, 1));
        var reads = new ReadLog(store);

        var found = await new RunStore(reads).ForTeacherAsync(mine.Teacher.TeacherDigest);

        Assert.Equal(mine.RunId, Assert.Single(found).RunId);
        Assert.DoesNotContain(reads.Keys, key => key.Contains(other.RunId.ToString(), StringComparison.Ordinal));
        Assert.Single(found[0].Events);
        Assert.Empty(await runs.ForTeacherAsync(new string('c', 64)));
    }

    [Fact]
    public async Task Runs_recorded_before_the_teacher_index_existed_are_indexed_once()
    {
        var store = new FileArtifactStore(Path.Combine(folder.Path, "store"));
        var old = NewRun(new string('d', 64));
        // As an older control plane wrote it: the header and the list of all runs, no index by teacher.
        await store.SetRecordAsync($"control/run/{old.RunId}", ContractJson.Serialize(old));
        await store.SetRecordAsync("control/runs", ContractJson.Serialize(new List<string> { old.RunId.ToString() }));
        var runs = new RunStore(store);

        var found = await runs.ForTeacherAsync(old.Teacher.TeacherDigest);
        var newer = NewRun(old.Teacher.TeacherDigest);
        await runs.CreateAsync(newer);

        Assert.Equal(old.RunId, Assert.Single(found).RunId);
        Assert.Equal([old.RunId, newer.RunId], (await new RunStore(store).ForTeacherAsync(old.Teacher.TeacherDigest)).Select(r => r.RunId));
        Assert.NotNull(await store.GetRecordAsync("control/runs/teacher-index-built"));
    }
}
