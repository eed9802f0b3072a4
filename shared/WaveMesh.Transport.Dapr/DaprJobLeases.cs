using System.Text.Json;
using Dapr.Client;
using Microsoft.Extensions.Options;
using WaveMesh.Workers;

namespace WaveMesh.Transport.Dapr;

/// <summary>Job leases in the Dapr state store; claims, renewals and releases are compare-and-swap on the record's ETag.</summary>
public sealed class DaprJobLeases(DaprClient dapr, IOptions<DaprOptions> options, TimeProvider? clock = null) : IJobLeases
{
    readonly string store = options.Value.StateStore;
    readonly TimeProvider time = clock ?? TimeProvider.System;
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    static string Key(string jobKey) => $"lease/{jobKey}";
    DateTime Now => time.GetUtcNow().UtcDateTime;

    async Task<(JobLease? Lease, string ETag)> Read(string jobKey, CancellationToken ct)
    {
        var (bytes, etag) = await dapr.GetByteStateAndETagAsync(store, Key(jobKey), cancellationToken: ct);
        return (bytes.Length == 0 ? null : JsonSerializer.Deserialize<JobLease>(bytes.Span, Json), etag);
    }

    Task<bool> Write(JobLease lease, string etag, CancellationToken ct) =>
        dapr.TrySaveByteStateAsync(store, Key(lease.JobKey), JsonSerializer.SerializeToUtf8Bytes(lease, Json), etag, cancellationToken: ct);

    public async Task<JobLease?> TryClaimAsync(string jobKey, string worker, TimeSpan ttl, CancellationToken cancellation = default)
    {
        var (current, etag) = await Read(jobKey, cancellation);
        if (current is not null && current.IsLive(Now)) return null;
        var lease = new JobLease(jobKey, worker, Now + ttl, (current?.Attempt ?? 0) + 1, Guid.NewGuid().ToString("N"));
        if (current is null)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(lease, Json);
            var created = await DaprState.TryCreateAsync(dapr, store, Key(jobKey), bytes, cancellation);
            return created ? lease : null;
        }
        return await Write(lease, etag, cancellation) ? lease : null;
    }

    public async Task<bool> RenewAsync(JobLease lease, TimeSpan ttl, CancellationToken cancellation = default)
    {
        var (current, etag) = await Read(lease.JobKey, cancellation);
        if (current is null || current.ClaimId != lease.ClaimId) return false;
        return await Write(current with { ExpiresAt = Now + ttl }, etag, cancellation);
    }

    public async Task ReleaseAsync(JobLease lease, CancellationToken cancellation = default)
    {
        var (current, etag) = await Read(lease.JobKey, cancellation);
        if (current is null || current.ClaimId != lease.ClaimId) return;
        await Write(current with { ExpiresAt = DateTime.MinValue }, etag, cancellation);
    }

    public async Task<JobLease?> GetAsync(string jobKey, CancellationToken cancellation = default) => (await Read(jobKey, cancellation)).Lease;
}
