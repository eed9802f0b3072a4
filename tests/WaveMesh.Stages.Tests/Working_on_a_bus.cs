using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Messaging;
using WaveMesh.Testing;
using WaveMesh.Workers;

namespace WaveMesh.Stages.Tests;

/// <summary>Stage runners behind a <see cref="JobHost"/> on the in-process bus, as the embedded mode runs them.</summary>
public sealed class Working_on_a_bus : IAsyncLifetime
{
    readonly TempFolder folder = new();
    readonly InProcessBus bus = new();
    readonly ConcurrentQueue<IntegrationEvent> seen = new();
    readonly ConcurrentDictionary<Guid, TaskCompletionSource> markers = new();
    readonly TaskCompletionSource<IntegrationEvent> ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly List<JobHost> hosts = [];

    public Working_on_a_bus()
    {
        bus.Subscribe<IntegrationEvent>((e, _) =>
        {
            seen.Enqueue(e);
            if (e is RunCompleted && markers.TryGetValue(e.RunId, out var marker)) marker.TrySetResult();
            if (e is StageFailed or TargetEvaluated or TargetFinetuned) ended.TrySetResult(e);
            return Task.CompletedTask;
        });
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var host in hosts) await host.DisposeAsync();
        await bus.DisposeAsync();
        folder.Dispose();
    }

    /// <summary>A one-attempt job host on the bus (retries are the broker tests' subject).</summary>
    JobHost Host(IEnumerable<IStageUnit> units)
    {
        var host = new JobHost(new StageRunner(folder.Context(), units), bus, new InMemoryJobLeases(), new NoDeadLetters(),
            Options.Create(new WorkerOptions { MaxAttempts = 1 }), NullLogger<JobHost>.Instance);
        hosts.Add(host);
        return host;
    }

    sealed class NoDeadLetters : IDeadLetters
    {
        public Task SendAsync(StageJob job, string reason, CancellationToken cancellation = default) => Task.CompletedTask;
    }

    /// <summary>Offers the job and waits for the event that ends it.</summary>
    async Task Run(JobHost host, StageJob job)
    {
        Assert.Equal(Offer.Accepted, await host.OfferAsync(job));
        await ended.Task.WaitAsync(TimeSpan.FromMinutes(1));
    }

    /// <summary>Every event the subscriber had received before a marker published now (one queue, so in order).</summary>
    async Task<List<IntegrationEvent>> Received()
    {
        var id = Guid.NewGuid();
        var marker = markers[id] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await bus.PublishAsync(new RunCompleted("marker", 0, 0) { RunId = id });
        await marker.Task.WaitAsync(TimeSpan.FromMinutes(1));
        return seen.Where(e => e is not RunCompleted).ToList();
    }

    [Fact]
    public async Task Publishes_the_result_event_of_a_job_it_runs()
    {
        var job = Fakes.Evaluation();

        await Run(Host([Fakes.Evaluator(0.8)]), job);

        var result = Assert.IsType<TargetEvaluated>(Assert.Single(await Received()));
        Assert.Equal(job.Key, result.JobKey);
        Assert.Equal(0.8, result.Accuracy);
        Assert.Equal(job.RunId, result.RunId);
        Assert.Equal(job.Id, result.CausationId);
    }

    [Fact]
    public async Task Publishes_StageFailed_with_a_one_line_reason_when_a_job_fails()
    {
        var unit = new FakeUnit<EvaluateModel>(StageNames.Evaluate,
            (_, _, _) => throw new InvalidOperationException("cannot read the model:\nthe header is cut short\r\n"));
        var job = Fakes.Evaluation();

        await Run(Host([unit]), job);

        var failed = Assert.IsType<StageFailed>(Assert.Single(await Received()));
        Assert.Equal("cannot read the model: the header is cut short", failed.Reason);
        Assert.Equal(job.Key, failed.JobKey);
        Assert.Equal(StageNames.Evaluate, failed.Stage);
        Assert.Equal(job.Describe(), failed.Description);
        Assert.Equal(1, failed.Attempts);
        Assert.Equal(job.RunId, failed.RunId);
        Assert.Equal(job.Id, failed.CausationId);
        Assert.Null(await folder.Store().GetRecordAsync(ResultRecords.Key(job)));
    }

    [Fact]
    public async Task Publishes_StageFailed_naming_a_missing_input_of_a_real_stage()
    {
        var job = Fakes.Finetune() with { Method = "wave", Init = new InitSource(InitSource.Model, Fakes.ModelDigest) };

        await Run(Host(StageRunner.AllStages()), job);

        var failed = Assert.IsType<StageFailed>(Assert.Single(await Received(), e => e is not StageProgress));
        Assert.Contains(Fakes.ModelDigest, failed.Reason);
        Assert.DoesNotContain('\n', failed.Reason);
        Assert.Equal(StageNames.Finetune, failed.Stage);
    }

    [Fact]
    public async Task Publishes_progress_before_the_result()
    {
        var unit = new FakeUnit<EvaluateModel>(StageNames.Evaluate, (job, _, progress) =>
        {
            progress.Report(new Engine.Training.StepReport("evaluate", 1, 2, 0.5, 10, TimeSpan.FromSeconds(1)));
            progress.Report(new Engine.Training.StepReport("evaluate", 2, 2, 0.4, 10, TimeSpan.FromSeconds(2)));
            return Task.FromResult<IntegrationEvent>(new TargetEvaluated(job.Key, job.ModelDigest, job.Subject, 0.5, 1, 10, new StageStats(2, 1, 1, false, "w")));
        });
        var job = Fakes.Evaluation();

        await Run(Host([unit]), job);

        var events = await Received();
        Assert.Equal(3, events.Count);
        Assert.Equal([1, 2], events.Take(2).Cast<StageProgress>().Select(p => p.Step));
        Assert.IsType<TargetEvaluated>(events[2]);
    }

    [Theory]
    [InlineData("ArgumentException", "bad size", "bad size")]
    [InlineData("IOException", "disk full", "disk full")]
    [InlineData("NullReferenceException", "oops", "NullReferenceException: oops")]
    [InlineData("AggregateException(FormatException)", "two\nlines", "FormatException: two lines")]
    public void Explains_a_failure_in_one_line_naming_the_type_when_the_message_alone_is_not_telling(string type, string message, string expected)
    {
        Exception e = type switch
        {
            "ArgumentException" => new ArgumentException(message),
            "IOException" => new IOException(message),
            "NullReferenceException" => new NullReferenceException(message),
            _ => new AggregateException(new FormatException(message)),
        };

        Assert.Equal(expected, Failures.Reason(e));
    }
}
