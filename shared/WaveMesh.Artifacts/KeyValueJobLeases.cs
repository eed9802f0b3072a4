using System.Text.Json;

namespace WaveMesh.Artifacts;

/// <summary>Job leases in a shared key/value store; claims, renewals and releases are compare-and-swap on the record's version.</summary>
public sealed class KeyValueJobLeases(IKeyValueStore kv, TimeProvider? clock = null) : IJobLeases
{
    readonly TimeProvider time = clock ?? TimeProvider.System;
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    static string Key(string jobKey) => $"lease/{jobKey}";
    DateTime Now => time.GetUtcNow().UtcDateTime;

    async Task<(JobLease? Lease, string? Version)> Read(string jobKey, CancellationToken ct)
    {
        var (bytes, version) = await kv.GetVersionedAsync(Key(jobKey), ct);
        return (bytes is { } b ? JsonSerializer.Deserialize<JobLease>(b.Span, Json) : null, version);
    }

    Task<bool> Replace(JobLease lease, string version, CancellationToken ct) =>
        kv.TryReplaceAsync(Key(lease.JobKey), JsonSerializer.SerializeToUtf8Bytes(lease, Json), version, ct);

    public async Task<JobLease?> TryClaimAsync(string jobKey, string worker, TimeSpan ttl, CancellationToken cancellation = default)
    {
        var (current, version) = await Read(jobKey, cancellation);
        if (current is not null && current.IsLive(Now)) return null;
        var lease = new JobLease(jobKey, worker, Now + ttl, (current?.Attempt ?? 0) + 1, Guid.NewGuid().ToString("N"));
        bool won = current is null || version is null
            ? await kv.TryCreateAsync(Key(jobKey), JsonSerializer.SerializeToUtf8Bytes(lease, Json), cancellation)
            : await Replace(lease, version, cancellation);
        return won ? lease : null;
    }

    public async Task<bool> RenewAsync(JobLease lease, TimeSpan ttl, CancellationToken cancellation = default)
    {
        var (current, version) = await Read(lease.JobKey, cancellation);
        if (current is null || version is null || current.ClaimId != lease.ClaimId) return false;
        return await Replace(current with { ExpiresAt = Now + ttl }, version, cancellation);
    }

    public async Task ReleaseAsync(JobLease lease, CancellationToken cancellation = default)
    {
        var (current, version) = await Read(lease.JobKey, cancellation);
        if (current is null || version is null || current.ClaimId != lease.ClaimId) return;
        await Replace(current with { ExpiresAt = DateTime.MinValue }, version, cancellation);
    }

    public async Task<JobLease?> GetAsync(string jobKey, CancellationToken cancellation = default) => (await Read(jobKey, cancellation)).Lease;

    public async Task<bool> IsHeldAsync(string jobKey, CancellationToken cancellation = default) =>
        (await Read(jobKey, cancellation)).Lease is { } lease && lease.IsLive(Now);
}
