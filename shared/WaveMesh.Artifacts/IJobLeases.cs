namespace WaveMesh.Artifacts;

/// <summary>Who holds a job, until when, and how many times it has been claimed.</summary>
public sealed record JobLease(string JobKey, string Worker, DateTime ExpiresAt, int Attempt, string ClaimId)
{
    public bool IsLive(DateTime now) => ExpiresAt > now;
}

/// <summary>
/// Claims on jobs shared by every replica of every worker, so that a job delivered twice runs once and a job whose
/// worker died can be taken over once its lease runs out. Implementations need compare-and-swap (Dapr ETags, Redis).
/// </summary>
public interface IJobLeases
{
    /// <summary>A new lease for <paramref name="worker"/>, or null while another worker's lease is live.</summary>
    Task<JobLease?> TryClaimAsync(string jobKey, string worker, TimeSpan ttl, CancellationToken cancellation = default);

    /// <summary>Extends a lease this worker holds; false when it was lost (taken over after expiring).</summary>
    Task<bool> RenewAsync(JobLease lease, TimeSpan ttl, CancellationToken cancellation = default);

    /// <summary>Ends a lease early (the job finished or will be retried); keeps the attempt count.</summary>
    Task ReleaseAsync(JobLease lease, CancellationToken cancellation = default);

    Task<JobLease?> GetAsync(string jobKey, CancellationToken cancellation = default);

    /// <summary>Whether some worker holds a live lease on the job now (by this store's clock).</summary>
    Task<bool> IsHeldAsync(string jobKey, CancellationToken cancellation = default);
}
