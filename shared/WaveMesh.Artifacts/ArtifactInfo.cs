namespace WaveMesh.Artifacts;

/// <summary>What the store knows about one artifact: its digest, size, kind, metadata and when it was first stored.</summary>
/// <param name="Digest">Lower-case hex SHA-256 of the bytes.</param>
/// <param name="Size">Length of the bytes.</param>
/// <param name="Kind">A short word such as "vit", "templates" or "scalers".</param>
/// <param name="Metadata">Free-form string pairs given by the producer.</param>
/// <param name="CreatedAt">UTC time of the first successful write.</param>
public sealed record ArtifactInfo(
    string Digest,
    long Size,
    string Kind,
    IReadOnlyDictionary<string, string> Metadata,
    DateTime CreatedAt);
