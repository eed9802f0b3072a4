namespace WaveMesh.Artifacts;

/// <summary>Thrown when an artifact's stored bytes no longer match its digest; the damaged object has been taken out of the store.</summary>
public sealed class ArtifactCorruptException : Exception
{
    /// <param name="digest">The digest that was asked for.</param>
    /// <param name="expectedSize">The size recorded when the artifact was stored.</param>
    /// <param name="actualSize">The size of the bytes that were found.</param>
    /// <param name="actualDigest">The hash of the bytes that were found; null when the size alone proved the damage.</param>
    /// <param name="movedTo">Where the damaged object now lies, when the store knows.</param>
    public ArtifactCorruptException(string digest, long expectedSize, long actualSize, string? actualDigest, string? movedTo)
        : base(Describe(digest, expectedSize, actualSize, actualDigest, movedTo))
    {
        Digest = digest;
        ExpectedSize = expectedSize;
        ActualSize = actualSize;
        ActualDigest = actualDigest;
        MovedTo = movedTo;
    }

    /// <summary>Damage found by a store that keeps artifacts in pieces: <paramref name="detail"/> says which and how.</summary>
    public ArtifactCorruptException(string digest, string detail)
        : base($"Artifact {digest} is corrupt: {detail}")
    {
        Digest = digest;
    }

    public string Digest { get; }

    public long ExpectedSize { get; }

    public long ActualSize { get; }

    public string? ActualDigest { get; }

    public string? MovedTo { get; }

    private static string Describe(string digest, long expectedSize, long actualSize, string? actualDigest, string? movedTo)
    {
        var found = actualSize != expectedSize
            ? $"found {actualSize} bytes instead of {expectedSize}"
            : $"found content hashing to {actualDigest ?? "an unknown value"}";
        var where = movedTo is null ? string.Empty : $" to {movedTo}";
        return $"Artifact {digest} is corrupt: {found}; the object was moved aside{where} so the stage that produced it can run again.";
    }
}
