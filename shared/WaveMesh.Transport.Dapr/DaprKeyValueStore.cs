using Dapr;
using Dapr.Client;
using Grpc.Core;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;

namespace WaveMesh.Transport.Dapr;

/// <summary>The shared key/value store on a Dapr state store: versions are ETags; create-if-absent is first-write concurrency.</summary>
public sealed class DaprKeyValueStore(DaprClient dapr, IOptions<DaprOptions> options) : IKeyValueStore
{
    readonly string store = options.Value.StateStore;

    public int MaxValueBytes => options.Value.ChunkBytes;

    public async Task<ReadOnlyMemory<byte>?> GetAsync(string key, CancellationToken cancellation = default)
    {
        var bytes = await dapr.GetByteStateAsync(store, key, cancellationToken: cancellation);
        // Not a conditional expression: null would convert to an empty ReadOnlyMemory, not to a missing value.
        if (bytes.Length == 0) return null;
        return bytes;
    }

    public async Task<(ReadOnlyMemory<byte>? Value, string? Version)> GetVersionedAsync(string key, CancellationToken cancellation = default)
    {
        var (bytes, etag) = await dapr.GetByteStateAndETagAsync(store, key, cancellationToken: cancellation);
        if (bytes.Length == 0) return (null, null);
        return (bytes, etag);
    }

    public Task SetAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellation = default) =>
        dapr.SaveByteStateAsync(store, key, value, cancellationToken: cancellation);

    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellation = default)
    {
        try
        {
            await dapr.SaveByteStateAsync(store, key, value, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: cancellation);
            return true;
        }
        catch (DaprException e) when (e.InnerException is RpcException { StatusCode: StatusCode.Aborted })
        {
            return false;
        }
    }

    public Task<bool> TryReplaceAsync(string key, ReadOnlyMemory<byte> value, string version, CancellationToken cancellation = default) =>
        dapr.TrySaveByteStateAsync(store, key, value, version, cancellationToken: cancellation);

    public async Task<bool> DeleteAsync(string key, string? version = null, CancellationToken cancellation = default)
    {
        var (bytes, etag) = await dapr.GetByteStateAndETagAsync(store, key, cancellationToken: cancellation);
        if (bytes.Length == 0) return false;
        if (version is not null && version != etag) return false;
        return await dapr.TryDeleteStateAsync(store, key, etag, cancellationToken: cancellation);
    }
}
