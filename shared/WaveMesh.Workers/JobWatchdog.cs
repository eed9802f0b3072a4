using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Workers;

/// <summary>
/// Re-publishes outstanding jobs that nobody is running any more: their lease expired (the worker died) or no worker
/// ever claimed them for longer than a lease's lifetime. Jobs whose result is recorded but whose result event has not
/// reached the orchestrator within a grace period (the event was lost) get that result published again; within the
/// grace the event is most likely on its way, and publishing it again would only duplicate it.
/// Run by the orchestrator, which knows which jobs are outstanding.
/// </summary>
public sealed class JobWatchdog(IJobLeases leases, ResultRecords results, IEventBus bus, TimeProvider? clock = null)
{
    readonly TimeProvider time = clock ?? TimeProvider.System;
    readonly Dictionary<string, DateTime> firstSeen = new(StringComparer.Ordinal);
    readonly Dictionary<string, DateTime> finishedSeen = new(StringComparer.Ordinal);
    /// <summary>The dead claim each job was last re-offered for: one re-offer per dead worker, not one per pass.</summary>
    readonly Dictionary<string, string> reofferedFor = new(StringComparer.Ordinal);

    /// <summary>How long a finished job may stay outstanding before its recorded result is published again.</summary>
    public TimeSpan ResultGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Checks every outstanding job once; returns the jobs it published again.</summary>
    /// <param name="runTrace">The trace of the jobs' run: what is published again is published in it, so a run stays one trace.</param>
    public async Task<IReadOnlyList<StageJob>> CheckAsync(IEnumerable<StageJob> outstanding, TimeSpan unclaimedAfter, CancellationToken cancellation = default,
        System.Diagnostics.ActivityContext runTrace = default)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var republished = new List<StageJob>();
        var current = new HashSet<string>(StringComparer.Ordinal);
        foreach (var job in outstanding)
        {
            var key = job.Key;
            current.Add(key);
            if (await results.TryCachedAsync(job, cancellation) is { } done)
            {
                finishedSeen.TryAdd(key, now);
                if (now - finishedSeen[key] >= ResultGrace)
                {
                    finishedSeen[key] = now;
                    using var activity = Reoffer("watchdog publishes the recorded result", job, runTrace);
                    await bus.PublishAsync(done, cancellation);
                }
                continue;
            }
            var lease = await leases.GetAsync(key, cancellation);
            if (lease is not null && lease.IsLive(now)) { firstSeen.Remove(key); continue; }
            // A dead worker's lease is re-offered at once, but once per claim: until a new worker claims the job, the
            // re-offer is an unclaimed job like any other.
            bool expired = lease is not null && lease.ExpiresAt != DateTime.MinValue
                && !(reofferedFor.TryGetValue(key, out var claim) && claim == lease.ClaimId);
            firstSeen.TryAdd(key, now);
            if (expired || now - firstSeen[key] >= unclaimedAfter)
            {
                firstSeen[key] = now;
                if (lease is not null) reofferedFor[key] = lease.ClaimId;
                using var activity = Reoffer(expired ? "watchdog re-offers a job whose worker died" : "watchdog re-offers an unclaimed job", job, runTrace);
                await bus.PublishAsync(job with { Id = Guid.NewGuid() }, cancellation);
                republished.Add(job);
            }
        }
        foreach (var gone in firstSeen.Keys.Where(k => !current.Contains(k)).ToList()) firstSeen.Remove(gone);
        foreach (var gone in finishedSeen.Keys.Where(k => !current.Contains(k)).ToList()) finishedSeen.Remove(gone);
        foreach (var gone in reofferedFor.Keys.Where(k => !current.Contains(k)).ToList()) reofferedFor.Remove(gone);
        return republished;
    }

    static System.Diagnostics.Activity? Reoffer(string name, StageJob job, System.Diagnostics.ActivityContext runTrace)
    {
        var activity = Telemetry.Source.StartActivity(name, System.Diagnostics.ActivityKind.Producer, runTrace);
        activity?.SetTag(Telemetry.Tags.Job, job.Describe());
        activity?.SetTag(Telemetry.Tags.JobKey, job.Key);
        activity?.SetTag(Telemetry.Tags.RunId, job.RunId.ToString());
        return activity;
    }
}
