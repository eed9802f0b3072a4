using Dapr;
using Dapr.Client;
using Grpc.Core;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;

namespace WaveMesh.Transport.Dapr;

/// <summary>
/// The shared key/value store on a Dapr state store, written for what daprd and its Redis store really do
/// (components-contrib state/redis, daprd pkg/api/grpc/grpc.go): versions are ETags, and an ETag mismatch is the only
/// conflict reported as <c>Aborted</c>. Redis reports a first-write conflict as a plain error (gRPC <c>Internal</c>) and
/// refuses every later write without an ETag to a key created by first-write, so create-if-absent checks first and
/// confirms a failure by reading again, and plain writes fall back to compare-and-swap.
/// </summary>
public sealed class DaprKeyValueStore(DaprClient dapr, IOptions<DaprOptions> options) : IKeyValueStore
{
    const int MaxSwapRounds = 16;
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

    public async Task SetAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellation = default)
    {
        try
        {
            // Most keys (chunks, records) were never created with first-write: a plain write replaces them.
            await dapr.SaveByteStateAsync(store, key, value, cancellationToken: cancellation);
            return;
        }
        catch (DaprException e) when (IsInternal(e))
        {
            // A key created with first-write refuses writes without an ETag: replace it at its current ETag instead.
        }
        for (int round = 0; round < MaxSwapRounds; round++)
        {
            var (bytes, etag) = await dapr.GetByteStateAndETagAsync(store, key, cancellationToken: cancellation);
            if (bytes.Length == 0 || string.IsNullOrEmpty(etag))
            {
                try
                {
                    await dapr.SaveByteStateAsync(store, key, value, cancellationToken: cancellation);
                    return;
                }
                catch (DaprException e) when (IsInternal(e)) { continue; }   // created by first-write meanwhile
            }
            else if (await dapr.TrySaveByteStateAsync(store, key, value, etag, cancellationToken: cancellation)) return;
        }
        throw new IOException($"state key '{key}' changed {MaxSwapRounds} times while it was being written");
    }

    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellation = default)
    {
        // Checking first keeps conflicts (and the errors Redis reports for them) to true races.
        if (await GetAsync(key, cancellation) is not null) return false;
        try
        {
            await dapr.SaveByteStateAsync(store, key, value, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: cancellation);
            return true;
        }
        catch (DaprException e) when (IsInternal(e) || e.InnerException is RpcException { StatusCode: StatusCode.Aborted })
        {
            // Redis answers a lost first-write race with a plain error: it was a conflict only if the key is there now.
            if (await GetAsync(key, cancellation) is not null) return false;
            throw;
        }
    }

    /// <remarks>With Redis a write at an ETag to a key that no longer exists succeeds and creates it again.</remarks>
    public Task<bool> TryReplaceAsync(string key, ReadOnlyMemory<byte> value, string version, CancellationToken cancellation = default) =>
        dapr.TrySaveByteStateAsync(store, key, value, version, cancellationToken: cancellation);

    public async Task<bool> DeleteAsync(string key, string? version = null, CancellationToken cancellation = default)
    {
        var (bytes, etag) = await dapr.GetByteStateAndETagAsync(store, key, cancellationToken: cancellation);
        if (bytes.Length == 0) return false;
        if (version is not null && version != etag) return false;
        return await dapr.TryDeleteStateAsync(store, key, etag, cancellationToken: cancellation);
    }

    static bool IsInternal(DaprException e) => e.InnerException is RpcException { StatusCode: StatusCode.Internal };
}
