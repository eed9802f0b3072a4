using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Messaging;
using WaveMesh.Stages;
using WaveMesh.Testing;

namespace WaveMesh.Workers.Tests;

/// <summary>Collects what a job host publishes and dead-letters.</summary>
sealed class Recorder : IEventBus, IDeadLetters
{
    public List<object> Published { get; } = [];
    public List<(StageJob Job, string Reason)> DeadLettered { get; } = [];

    public Task PublishAsync(object message, CancellationToken cancellation = default)
    {
        lock (Published) Published.Add(message);
        return Task.CompletedTask;
    }

    public Task SendAsync(StageJob job, string reason, CancellationToken cancellation = default)
    {
        lock (DeadLettered) DeadLettered.Add((job, reason));
        return Task.CompletedTask;
    }

    public T[] OfType<T>() { lock (Published) return Published.OfType<T>().ToArray(); }

    public async Task<T> WaitFor<T>(Func<T, bool>? match = null, int timeoutMs = 10_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (DateTime.UtcNow < until)
        {
            var found = OfType<T>().FirstOrDefault(x => match?.Invoke(x) ?? true);
            if (found is not null) return found;
            await Task.Delay(20);
        }
        throw new TimeoutException($"no {typeof(T).Name} published");
    }
}

public sealed class Hosting_jobs_on_a_broker : IDisposable
{
    readonly TempFolder folder = new();
    readonly Recorder recorder = new();

    public void Dispose() => folder.Dispose();

    JobHost Host(IStageUnit unit, IJobLeases leases, int slots = 1, int maxAttempts = 3, string worker = "w1", TimeSpan? slotWait = null) =>
        new(new StageRunner(new StageContext { Store = folder.Store(), Datasets = new Datasets(), Worker = worker, WorkDirectory = folder.Path }, [unit]),
            recorder, leases, recorder,
            Options.Create(new WorkerOptions { Slots = slots, MaxAttempts = maxAttempts, RetryDelay = TimeSpan.FromMilliseconds(10),
                LeaseTtl = TimeSpan.FromSeconds(30), HeartbeatInterval = TimeSpan.FromSeconds(5), SlotWait = slotWait ?? TimeSpan.FromMinutes(10) }),
            NullLogger<JobHost>.Instance);

    static FakeUnit<EvaluateModel> Blocking(TaskCompletionSource gate) =>
        new(StageNames.Evaluate, async (job, context, _) =>
        {
            await gate.Task;
            return new TargetEvaluated(job.Key, job.ModelDigest, job.Subject, 0.5, 1, 10, new StageStats(0, 0, 0, false, context.Worker));
        });

    [Fact]
    public async Task Accepts_a_job_at_once_and_publishes_its_result_when_it_finishes()
    {
        var gate = new TaskCompletionSource();
        await using var host = Host(Blocking(gate), new InMemoryJobLeases());
        var job = Fakes.Evaluation();

        Assert.Equal(Offer.Accepted, await host.OfferAsync(job));
        Assert.Equal(1, host.Running);
        Assert.Empty(recorder.OfType<TargetEvaluated>());
        gate.SetResult();
        var result = await recorder.WaitFor<TargetEvaluated>();
        Assert.Equal(job.Key, result.JobKey);
    }

    [Fact]
    public async Task Runs_a_job_delivered_twice_once()
    {
        var gate = new TaskCompletionSource();
        var unit = Blocking(gate);
        var leases = new InMemoryJobLeases();
        await using var host = Host(unit, leases, slots: 2);
        var job = Fakes.Evaluation();

        Assert.Equal(Offer.Accepted, await host.OfferAsync(job));
        Assert.Equal(Offer.AlreadyHandled, await host.OfferAsync(job with { Id = Guid.NewGuid() }));
        gate.SetResult();
        await recorder.WaitFor<TargetEvaluated>();
        // A third delivery after it finished is answered from the record, not run.
        Assert.Equal(Offer.AlreadyHandled, await host.OfferAsync(job with { Id = Guid.NewGuid() }));
        Assert.Equal(1, unit.Runs);
    }

    [Fact]
    public async Task Two_replicas_sharing_leases_run_a_job_once()
    {
        var gate = new TaskCompletionSource();
        var leases = new InMemoryJobLeases();
        var a = Blocking(gate);
        var b = Blocking(gate);
        await using var first = Host(a, leases, worker: "a");
        await using var second = Host(b, leases, worker: "b");
        var job = Fakes.Evaluation();

        var offers = await Task.WhenAll(first.OfferAsync(job), second.OfferAsync(job with { Id = Guid.NewGuid() }));
        gate.SetResult();
        await recorder.WaitFor<TargetEvaluated>();

        Assert.Single(offers, Offer.Accepted);
        Assert.Equal(1, a.Runs + b.Runs);
    }

    [Fact]
    public async Task Holds_a_delivery_while_every_slot_is_taken_and_starts_it_when_one_frees()
    {
        var first = new TaskCompletionSource();
        var second = new TaskCompletionSource();
        var unit = new FakeUnit<EvaluateModel>(StageNames.Evaluate, async (job, context, _) =>
        {
            await (job.Subject == "a/wave/final" ? first.Task : second.Task);
            return new TargetEvaluated(job.Key, job.ModelDigest, job.Subject, 0.5, 1, 10, new StageStats(0, 0, 0, false, context.Worker));
        });
        await using var host = Host(unit, new InMemoryJobLeases(), slots: 1);

        Assert.Equal(Offer.Accepted, await host.OfferAsync(Fakes.Evaluation("a/wave/final")));
        var waiting = host.OfferAsync(Fakes.Evaluation("b/wave/final"));
        // The second delivery is held, not answered, while the only slot runs the first job.
        Assert.False(await Task.WhenAny(waiting, Task.Delay(200)) == waiting);
        first.SetResult();
        Assert.Equal(Offer.Accepted, await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        second.SetResult();
        await recorder.WaitFor<TargetEvaluated>(e => e.Subject == "b/wave/final");
        Assert.Equal(2, unit.Runs);
    }

    [Fact]
    public async Task Publishes_a_job_again_when_no_slot_frees_within_the_slot_wait()
    {
        var gate = new TaskCompletionSource();
        await using var host = Host(Blocking(gate), new InMemoryJobLeases(), slots: 1, slotWait: TimeSpan.FromMilliseconds(100));
        var late = Fakes.Evaluation("b/wave/final");

        Assert.Equal(Offer.Accepted, await host.OfferAsync(Fakes.Evaluation("a/wave/final")));
        Assert.Equal(Offer.HandedBack, await host.OfferAsync(late));

        var again = Assert.Single(recorder.OfType<EvaluateModel>());
        Assert.Equal(late.Key, again.Key);
        Assert.NotEqual(late.Id, again.Id);
        gate.SetResult();
    }

    [Fact]
    public async Task Answers_a_job_another_worker_holds_without_waiting_for_a_slot()
    {
        var gate = new TaskCompletionSource();
        var leases = new InMemoryJobLeases();
        await using var busy = Host(Blocking(gate), leases, slots: 1, worker: "a");
        var job = Fakes.Evaluation("a/wave/final");
        Assert.Equal(Offer.Accepted, await busy.OfferAsync(job));

        // Same worker, slot taken, job held by itself: answered at once instead of holding the delivery.
        Assert.Equal(Offer.AlreadyHandled, await busy.OfferAsync(job with { Id = Guid.NewGuid() }).WaitAsync(TimeSpan.FromSeconds(5)));
        gate.SetResult();
        await recorder.WaitFor<TargetEvaluated>();
    }

    [Fact]
    public async Task A_stopping_worker_gives_back_a_delivery_that_waits_for_a_slot()
    {
        var gate = new TaskCompletionSource();
        var host = Host(Blocking(gate), new InMemoryJobLeases(), slots: 1);
        Assert.Equal(Offer.Accepted, await host.OfferAsync(Fakes.Evaluation("a/wave/final")));
        var waiting = host.OfferAsync(Fakes.Evaluation("b/wave/final"));

        var stopping = host.DisposeAsync().AsTask();
        Assert.Equal(Offer.Busy, await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        gate.SetResult();
        await stopping;
    }

    [Fact]
    public async Task Retries_a_failing_job_then_reports_it_failed_and_dead_letters_it()
    {
        var unit = new FakeUnit<EvaluateModel>(StageNames.Evaluate, (_, _, _) => throw new InvalidOperationException("model file is empty"));
        var leases = new InMemoryJobLeases();
        await using var host = Host(unit, leases, maxAttempts: 3);
        var job = Fakes.Evaluation();

        // Each retry comes back through the bus: offer every republished job, as a broker would deliver it.
        Assert.Equal(Offer.Accepted, await host.OfferAsync(job));
        for (int attempt = 2; attempt <= 3; attempt++)
        {
            var again = await recorder.WaitFor<EvaluateModel>(j => recorder.OfType<EvaluateModel>().Length >= attempt - 1);
            Assert.Equal(job.Key, again.Key);
            await Task.Delay(20);
            Assert.Equal(Offer.Accepted, await host.OfferAsync(recorder.OfType<EvaluateModel>()[attempt - 2]));
        }

        var failed = await recorder.WaitFor<StageFailed>();
        Assert.Equal(3, failed.Attempts);
        Assert.Equal("model file is empty", failed.Reason);
        Assert.Equal(job.RunId, failed.RunId);
        Assert.Equal(3, unit.Runs);
        var dead = Assert.Single(recorder.DeadLettered);
        Assert.Equal(job.Key, dead.Job.Key);
        Assert.Equal(2, recorder.OfType<EvaluateModel>().Length);
    }

    [Fact]
    public async Task Rejects_a_job_of_another_stage()
    {
        await using var host = Host(Fakes.Evaluator(), new InMemoryJobLeases());
        Assert.Equal(Offer.Rejected, await host.OfferAsync(Fakes.Finetune()));
    }
}

public sealed class Watching_for_stalled_jobs : IDisposable
{
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task Publishes_again_a_job_whose_worker_stopped_renewing_its_lease()
    {
        var clock = new Clock();
        var leases = new InMemoryJobLeases(clock);
        var recorder = new Recorder();
        var watchdog = new JobWatchdog(leases, new ResultRecords(folder.Store(), folder.Store()), recorder, clock);
        var job = Fakes.Evaluation();
        Assert.NotNull(await leases.TryClaimAsync(job.Key, "dead-worker", TimeSpan.FromSeconds(30)));

        Assert.Empty(await watchdog.CheckAsync([job], TimeSpan.FromMinutes(10)));
        clock.Now += TimeSpan.FromSeconds(31);
        var again = await watchdog.CheckAsync([job], TimeSpan.FromMinutes(10));

        Assert.Equal(job.Key, Assert.Single(again).Key);
        Assert.Equal(job.Key, Assert.Single(recorder.OfType<EvaluateModel>()).Key);
        // Once per dead worker: the next pass, before anyone claimed the re-offer, publishes nothing more.
        clock.Now += TimeSpan.FromSeconds(1);
        Assert.Empty(await watchdog.CheckAsync([job], TimeSpan.FromMinutes(10)));
        Assert.Single(recorder.OfType<EvaluateModel>());
        // The next worker can claim it, as the second attempt.
        var lease = await leases.TryClaimAsync(job.Key, "live-worker", TimeSpan.FromSeconds(30));
        Assert.Equal(2, lease!.Attempt);
        // If that worker dies too, its own dead claim is re-offered at once.
        Assert.Empty(await watchdog.CheckAsync([job], TimeSpan.FromMinutes(10)));
        clock.Now += TimeSpan.FromSeconds(31);
        Assert.Equal(job.Key, Assert.Single(await watchdog.CheckAsync([job], TimeSpan.FromMinutes(10))).Key);
        Assert.Equal(2, recorder.OfType<EvaluateModel>().Count());
    }

    [Fact]
    public async Task Publishes_again_a_job_nobody_claimed_for_too_long_and_leaves_live_ones_alone()
    {
        var clock = new Clock();
        var leases = new InMemoryJobLeases(clock);
        var recorder = new Recorder();
        var watchdog = new JobWatchdog(leases, new ResultRecords(folder.Store(), folder.Store()), recorder, clock);
        var lost = Fakes.Evaluation("lost/wave/final");
        var running = Fakes.Evaluation("running/wave/final");
        await leases.TryClaimAsync(running.Key, "w", TimeSpan.FromMinutes(5));

        Assert.Empty(await watchdog.CheckAsync([lost, running], TimeSpan.FromMinutes(2)));
        clock.Now += TimeSpan.FromMinutes(3);
        var again = await watchdog.CheckAsync([lost, running], TimeSpan.FromMinutes(2));

        Assert.Equal(lost.Key, Assert.Single(again).Key);
    }

    [Fact]
    public async Task Publishes_the_recorded_result_of_a_job_that_finished_but_whose_event_was_lost()
    {
        var store = folder.Store();
        var recorder = new Recorder();
        var runner = new StageRunner(new StageContext { Store = store, Datasets = new Datasets(), WorkDirectory = folder.Path }, [Fakes.Evaluator(0.8)]);
        var job = Fakes.Evaluation();
        await runner.RunAsync(job);
        var clock = new Clock();
        var watchdog = new JobWatchdog(new InMemoryJobLeases(clock), new ResultRecords(store, store), recorder, clock) { ResultGrace = TimeSpan.FromSeconds(30) };

        // Within the grace the result event is most likely on its way: publishing it again would duplicate it.
        Assert.Empty(await watchdog.CheckAsync([job], TimeSpan.FromMinutes(1)));
        clock.Now += TimeSpan.FromSeconds(20);
        Assert.Empty(await watchdog.CheckAsync([job], TimeSpan.FromMinutes(1)));
        Assert.Empty(recorder.OfType<TargetEvaluated>());
        clock.Now += TimeSpan.FromSeconds(11);
        Assert.Empty(await watchdog.CheckAsync([job], TimeSpan.FromMinutes(1)));
        Assert.Equal(0.8, Assert.Single(recorder.OfType<TargetEvaluated>()).Accuracy);
    }
}
