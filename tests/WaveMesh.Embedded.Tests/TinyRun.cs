using System.Collections.Concurrent;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Pipeline;
using WaveMesh.Stages;
using WaveMesh.Testing;

namespace WaveMesh.Embedded.Tests;

/// <summary>The tiny configuration of these tests, and one embedded run of it with every event it published.</summary>
static class TinyRun
{
    public static readonly string Config = TinyPipeline.WithTeacher();

    /// <summary>The same configuration with one more target size.</summary>
    public static string ConfigWith(string extraTarget) => TinyPipeline.WithTeacher(extraTarget);

    /// <summary>Fashion-MNIST is read once per test process; every run still has its own store.</summary>
    static readonly Datasets Shared = new();

    // One libtorch thread: the machine's other training job would otherwise fight these tests for both cores.
    static TinyRun() => TorchSharp.torch.set_num_threads(1);

    /// <summary>Runs <paramref name="yaml"/> to its end on the store in <paramref name="folder"/>, as <c>wavemesh run</c> does (on other <paramref name="stages"/> when given).</summary>
    public static async Task<Outcome> RunAsync(string yaml, string folder, IEnumerable<IStageUnit>? stages = null)
    {
        var config = RunConfig.Parse(yaml, "tiny.yaml");
        var context = new StageContext
        {
            Store = new FileArtifactStore(Path.Combine(folder, "store")),
            Datasets = Shared,
            Worker = "embedded-test",
            WorkDirectory = Path.Combine(folder, "work"),
        };
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        var started = DateTime.UtcNow;
        await using var host = new EmbeddedHost(context, stages);
        var failures = new ConcurrentQueue<string>();
        host.Failed += (message, e) => failures.Enqueue($"{message.GetType().Name}: {e}");
        var events = new ConcurrentQueue<IntegrationEvent>();
        var runId = Guid.NewGuid();
        var seenAll = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var _ = host.Events.Subscribe<IntegrationEvent>((e, _) =>
        {
            events.Enqueue(e);
            if (e is RunCompleted && e.RunId == runId) seenAll.TrySetResult();
            return Task.CompletedTask;
        });

        var teacher = await host.PrepareTeacherAsync(config.Teacher, config.Pipeline, runId, timeout.Token);
        var state = await host.RunAsync(config.Pipeline, teacher, timeout.Token);
        // RunCompleted is published after every result, and this subscription keeps publication order.
        await seenAll.Task.WaitAsync(timeout.Token);
        var seconds = (DateTime.UtcNow - started).TotalSeconds;
        return new Outcome(config, state, [.. events], [.. failures],
            RunReportBuilder.Build(state, started, seconds, "tiny.yaml"), seconds);
    }

    public static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }
}

/// <summary>What one run produced: its state, every event in publication order, handler failures and the report.</summary>
sealed record Outcome(RunConfig Config, RunState State, IReadOnlyList<IntegrationEvent> Events, IReadOnlyList<string> HandlerFailures,
    Reporting.RunReport Report, double Seconds)
{
    /// <summary>Result events of stages (not progress, teacher announcements or the run's end).</summary>
    public IEnumerable<IntegrationEvent> Results => Events.Where(MessageTypes.IsResult);

    public static StageStats Stats(IntegrationEvent e) => MessageTypes.Stats(e) ?? throw new ArgumentException(e.GetType().Name);

    /// <summary>Accuracy of every evaluated subject (teacher, size/method/phase).</summary>
    public IReadOnlyDictionary<string, double> Accuracies => Events.OfType<TargetEvaluated>().ToDictionary(v => v.Subject, v => v.Accuracy);
}

/// <summary>A fresh folder per test, removed afterwards.</summary>
sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wavemesh-embedded-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>The tiny configuration run once on a fresh store; tests that run again start from a copy of that store.</summary>
public sealed class FirstRun : IAsyncLifetime
{
    readonly TempFolder folder = new();

    internal Outcome Outcome { get; private set; } = null!;

    /// <summary>A new folder holding a copy of the first run's store.</summary>
    internal TempFolder CopyOfStore()
    {
        var copy = new TempFolder();
        TinyRun.CopyFolder(System.IO.Path.Combine(folder.Path, "store"), System.IO.Path.Combine(copy.Path, "store"));
        return copy;
    }

    public async Task InitializeAsync() => Outcome = await TinyRun.RunAsync(TinyRun.Config, folder.Path);

    public Task DisposeAsync()
    {
        folder.Dispose();
        return Task.CompletedTask;
    }
}
