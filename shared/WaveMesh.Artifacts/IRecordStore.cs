namespace WaveMesh.Artifacts;

/// <summary>
/// Small JSON records under string keys (job results, teacher versions, runs and their events, the ledger): mutable,
/// addressed by name, unlike the content-addressed artifacts of <see cref="IArtifactStore"/>. The stores of WaveMesh
/// keep both side by side (one folder, one key/value store), but whoever reads or writes records asks for this.
/// </summary>
public interface IRecordStore
{
    /// <summary>
    /// Stores a small JSON record (a job result, a name) unless the key already has one: first write wins.
    /// Returns false, keeping the existing value, when the key exists.
    /// </summary>
    Task<bool> TryAddRecordAsync(string key, string json, CancellationToken cancellation = default);

    /// <summary>Stores a small JSON record, replacing any value the key had.</summary>
    Task SetRecordAsync(string key, string json, CancellationToken cancellation = default);

    /// <summary>The JSON text stored under the key, exactly as it was given, or null.</summary>
    Task<string?> GetRecordAsync(string key, CancellationToken cancellation = default);

    /// <summary>Removes the record; returns whether there was one.</summary>
    Task<bool> DeleteRecordAsync(string key, CancellationToken cancellation = default);
}
