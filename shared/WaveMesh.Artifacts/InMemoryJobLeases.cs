namespace WaveMesh.Artifacts;

/// <summary>Leases for workers in one process (tests, a single-machine deployment).</summary>
public sealed class InMemoryJobLeases(TimeProvider? clock = null) : IJobLeases
{
    readonly Dictionary<string, JobLease> leases = new(StringComparer.Ordinal);
    readonly TimeProvider time = clock ?? TimeProvider.System;
    long version;

    DateTime Now => time.GetUtcNow().UtcDateTime;

    public Task<JobLease?> TryClaimAsync(string jobKey, string worker, TimeSpan ttl, CancellationToken cancellation = default)
    {
        lock (leases)
        {
            leases.TryGetValue(jobKey, out var current);
            if (current is not null && current.IsLive(Now)) return Task.FromResult<JobLease?>(null);
            var lease = new JobLease(jobKey, worker, Now + ttl, (current?.Attempt ?? 0) + 1, (++version).ToString());
            leases[jobKey] = lease;
            return Task.FromResult<JobLease?>(lease);
        }
    }

    public Task<bool> RenewAsync(JobLease lease, TimeSpan ttl, CancellationToken cancellation = default)
    {
        lock (leases)
        {
            if (!leases.TryGetValue(lease.JobKey, out var current) || current.ClaimId != lease.ClaimId) return Task.FromResult(false);
            leases[lease.JobKey] = current with { ExpiresAt = Now + ttl };
            return Task.FromResult(true);
        }
    }

    public Task ReleaseAsync(JobLease lease, CancellationToken cancellation = default)
    {
        lock (leases)
        {
            if (leases.TryGetValue(lease.JobKey, out var current) && current.ClaimId == lease.ClaimId)
                leases[lease.JobKey] = current with { ExpiresAt = DateTime.MinValue, ClaimId = (++version).ToString() };
        }
        return Task.CompletedTask;
    }

    public Task<JobLease?> GetAsync(string jobKey, CancellationToken cancellation = default)
    {
        lock (leases) return Task.FromResult(leases.GetValueOrDefault(jobKey));
    }

    public Task<bool> IsHeldAsync(string jobKey, CancellationToken cancellation = default)
    {
        lock (leases) return Task.FromResult(leases.TryGetValue(jobKey, out var lease) && lease.IsLive(Now));
    }
}
