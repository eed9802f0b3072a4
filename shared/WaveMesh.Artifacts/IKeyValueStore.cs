namespace WaveMesh.Artifacts;

/// <summary>
/// The few key/value operations WaveMesh needs from a shared store (a Dapr state store, Redis): plain reads and
/// writes, create-if-absent, and compare-and-swap on a version token (an ETag).
/// </summary>
public interface IKeyValueStore
{
    /// <summary>Largest value the store accepts in one write.</summary>
    int MaxValueBytes { get; }

    Task<ReadOnlyMemory<byte>?> GetAsync(string key, CancellationToken cancellation = default);
    Task<(ReadOnlyMemory<byte>? Value, string? Version)> GetVersionedAsync(string key, CancellationToken cancellation = default);
    Task SetAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellation = default);
    /// <summary>Writes only if the key does not exist; false when it does (first write wins).</summary>
    Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellation = default);
    /// <summary>Writes only if the key still has <paramref name="version"/>; false when someone wrote in between.</summary>
    Task<bool> TryReplaceAsync(string key, ReadOnlyMemory<byte> value, string version, CancellationToken cancellation = default);
    /// <summary>Deletes the key (optionally only at <paramref name="version"/>); false when it was not there or had changed.</summary>
    Task<bool> DeleteAsync(string key, string? version = null, CancellationToken cancellation = default);
}
