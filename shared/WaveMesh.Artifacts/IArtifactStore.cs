namespace WaveMesh.Artifacts;

/// <summary>A content-addressed store for artifact files: written once, addressed by the SHA-256 of their bytes, verified when read.</summary>
/// <remarks>Transport-neutral: a local folder (embedded), or chunks in any key/value store (a Dapr state store, Redis).</remarks>
public interface IArtifactStore
{
    /// <summary>
    /// Stores the bytes of a local file; the digest is the lower-case hex SHA-256 of the bytes. Idempotent: identical
    /// content stored again returns the existing artifact's info (the first write's kind and metadata win).
    /// The source file is not modified or moved.
    /// </summary>
    Task<ArtifactInfo> PutFileAsync(
        string path,
        string kind,
        IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellation = default);

    /// <summary>Stores everything from the current position of <paramref name="content"/> to its end; see <see cref="PutFileAsync"/>.</summary>
    Task<ArtifactInfo> PutAsync(
        Stream content,
        string kind,
        IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellation = default);

    /// <summary>
    /// Path of a local file holding the artifact's bytes, verified against the digest on every call (the hash is recomputed).
    /// </summary>
    /// <exception cref="ArtifactNotFoundException">No artifact has this digest.</exception>
    /// <exception cref="ArtifactCorruptException">The stored bytes no longer match the digest.</exception>
    Task<string> GetFileAsync(string digest, CancellationToken cancellation = default);

    /// <summary>
    /// A read stream over the artifact. It hashes while it is read and throws <see cref="ArtifactCorruptException"/>
    /// when the end is reached and the hash differs; a stream that is not read to the end is not verified.
    /// </summary>
    /// <exception cref="ArtifactNotFoundException">No artifact has this digest.</exception>
    Task<Stream> OpenReadAsync(string digest, CancellationToken cancellation = default);

    /// <summary>The artifact's info, or null when there is no artifact with this digest.</summary>
    Task<ArtifactInfo?> GetInfoAsync(string digest, CancellationToken cancellation = default);

    /// <summary>Whether an artifact with this digest is stored (its bytes are not verified here).</summary>
    Task<bool> ExistsAsync(string digest, CancellationToken cancellation = default);
}
