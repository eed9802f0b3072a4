using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Workers;

/// <summary>
/// Hosts a stage worker on a broker: a job is claimed with a lease (so a duplicate delivery runs once), run in the
/// background on one of the replica's slots while the lease is renewed, and answered with its result event. A failure
/// is retried by publishing the job again, up to <see cref="WorkerOptions.MaxAttempts"/>; then it becomes
/// <see cref="StageFailed"/> and the job goes to the dead letters. Transport-neutral: the Dapr and MassTransit adapters and
/// the embedded mode's in-process bus call <see cref="OfferAsync"/>.
/// </summary>
public sealed class JobHost : IJobOffer, IAsyncDisposable
{
    readonly IJobRunner runner;
    readonly IEventBus bus;
    readonly IJobLeases leases;
    readonly IDeadLetters deadLetters;
    readonly WorkerOptions options;
    readonly ILogger<JobHost> log;
    readonly SemaphoreSlim slots;
    readonly CancellationTokenSource stopping = new();
    readonly List<Task> running = [];
    int disposed;

    public JobHost(IJobRunner runner, IEventBus bus, IJobLeases leases, IDeadLetters deadLetters, IOptions<WorkerOptions> options, ILogger<JobHost> log)
    {
        this.runner = runner;
        this.bus = bus;
        this.leases = leases;
        this.deadLetters = deadLetters;
        this.options = options.Value;
        this.log = log;
        slots = new SemaphoreSlim(this.options.Slots, this.options.Slots);
        Worker = runner.Worker;
    }

    public string Worker { get; }
    public int Running { get { lock (running) return running.Count(t => !t.IsCompleted); } }
    public IEnumerable<string> Stages => runner.Stages;

    /// <summary>
    /// Takes a delivered job: answered from its recorded result when it is done, left alone while another worker holds
    /// its lease, else started on a free slot. While every slot is busy the delivery is held (up to
    /// <see cref="WorkerOptions.SlotWait"/>), so the broker, which gives a replica only as many unanswered deliveries as
    /// its prefetch allows, keeps the other jobs in the queue for whichever replica frees a slot first.
    /// </summary>
    public async Task<Offer> OfferAsync(StageJob job, CancellationToken cancellation = default)
    {
        if (!runner.CanRun(job)) return Offer.Rejected;
        if (await AlreadyHandledAsync(job, cancellation)) return Offer.AlreadyHandled;
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellation, stopping.Token);
        try
        {
            if (!await slots.WaitAsync(options.SlotWait, wait.Token))
            {
                log.LogInformation("{Worker}: no free slot for {Job} within {Wait}; published again", Worker, job.Describe(), options.SlotWait);
                await bus.PublishAsync(job with { Id = Guid.NewGuid() }, cancellation);
                return Offer.HandedBack;
            }
        }
        catch (OperationCanceledException)
        {
            return Offer.Busy;
        }
        // A slot freed by the stop itself (its job cancelled) is not for a new job: a stopping worker takes none.
        if (stopping.IsCancellationRequested)
        {
            slots.Release();
            return Offer.Busy;
        }
        JobLease? lease;
        try
        {
            // Done or taken elsewhere while this delivery waited for the slot?
            lease = await AlreadyHandledAsync(job, cancellation) ? null : await leases.TryClaimAsync(job.Key, Worker, options.LeaseTtl, cancellation);
        }
        catch
        {
            slots.Release();
            throw;
        }
        if (lease is null)
        {
            slots.Release();
            return Offer.AlreadyHandled;
        }
        // The job runs in the background under the trace of the delivery that brought it.
        var parent = System.Diagnostics.Activity.Current?.Context ?? default;
        var task = Task.Run(() => RunAsync(job, lease, parent));
        lock (running)
        {
            running.RemoveAll(t => t.IsCompleted);
            running.Add(task);
        }
        return Offer.Accepted;
    }

    /// <summary>True when the job's result is recorded (and is published again) or another worker holds a live lease on it.</summary>
    async Task<bool> AlreadyHandledAsync(StageJob job, CancellationToken cancellation)
    {
        if (await runner.TryCachedAsync(job, cancellation) is { } done)
        {
            await bus.PublishAsync(done, cancellation);
            return true;
        }
        return await leases.IsHeldAsync(job.Key, cancellation);
    }

    async Task RunAsync(StageJob job, JobLease lease, System.Diagnostics.ActivityContext parent)
    {
        using var activity = Telemetry.Source.StartActivity($"{job.Stage} job", System.Diagnostics.ActivityKind.Consumer, parent);
        activity?.SetTag(Telemetry.Tags.Job, job.Describe());
        activity?.SetTag(Telemetry.Tags.JobKey, job.Key);
        activity?.SetTag(Telemetry.Tags.RunId, job.RunId.ToString());
        activity?.SetTag(Telemetry.Tags.Worker, Worker);
        activity?.SetTag(Telemetry.Tags.Attempt, lease.Attempt);
        var stage = new KeyValuePair<string, object?>("stage", job.Stage);
        Telemetry.QueueLag.Record(Math.Max(0, (DateTime.UtcNow - job.CreatedAt).TotalSeconds), stage);
        Telemetry.JobsInFlight.Add(1, stage);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string outcome = "failed";
        using var heartbeatStop = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token);
        var heartbeat = Heartbeat(lease, heartbeatStop.Token);
        try
        {
            log.LogInformation("{Worker} runs {Job} (attempt {Attempt})", Worker, job.Describe(), lease.Attempt);
            var result = await runner.RunAsync(job, p =>
            {
                Telemetry.ReportRate(job.Stage, p.ElapsedSeconds > 0 ? p.Step / p.ElapsedSeconds : 0, p.ExamplesPerSecond);
                _ = bus.PublishAsync(p);
            }, stopping.Token);
            outcome = "succeeded";
            await bus.PublishAsync(result);
            await heartbeatStop.CancelAsync();
            await heartbeat;
            await leases.ReleaseAsync(lease);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Shutting down: the lease expires and another replica takes the job over.
        }
        catch (Exception e)
        {
            await heartbeatStop.CancelAsync();
            await heartbeat;
            var reason = Failures.Reason(e);
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, reason);
            log.LogWarning("{Worker}: {Job} failed (attempt {Attempt} of {Max}): {Reason}", Worker, job.Describe(), lease.Attempt, options.MaxAttempts, reason);
            await leases.ReleaseAsync(lease);
            if (lease.Attempt < options.MaxAttempts)
            {
                await Task.Delay(options.RetryDelay, stopping.Token).ContinueWith(_ => { });
                if (!stopping.IsCancellationRequested) await bus.PublishAsync(job with { Id = Guid.NewGuid() });
            }
            else
            {
                await bus.PublishAsync(new StageFailed(job.Key, job.Stage, job.Describe(), reason, lease.Attempt) { RunId = job.RunId, CausationId = job.Id });
                await deadLetters.SendAsync(job, reason);
            }
        }
        finally
        {
            Telemetry.JobsInFlight.Add(-1, stage);
            Telemetry.ClearRate(job.Stage);
            Telemetry.StageDuration.Record(clock.Elapsed.TotalSeconds, stage, new KeyValuePair<string, object?>("outcome", outcome));
            slots.Release();
        }
    }

    async Task Heartbeat(JobLease lease, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(options.HeartbeatInterval, stop);
                if (!await leases.RenewAsync(lease, options.LeaseTtl, stop))
                    log.LogWarning("{Worker} lost the lease of {Job}; another worker may be running it", Worker, lease.JobKey);
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { log.LogWarning(e, "heartbeat of {Job} failed", lease.JobKey); }
    }

    /// <summary>Stops taking jobs and abandons running ones (their leases expire and other replicas take them over). Safe to call more than once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1) return;
        await stopping.CancelAsync();
        Task[] all;
        lock (running) all = [.. running];
        try { await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(30)); } catch { /* abandoned on purpose */ }
    }
}
