namespace WaveMesh.Artifacts;

/// <summary>Thrown when an artifact is read that the store does not hold.</summary>
public sealed class ArtifactNotFoundException : Exception
{
    public ArtifactNotFoundException(string digest)
        : base($"Artifact {digest} is not in the store.")
    {
        Digest = digest;
    }

    public string Digest { get; }
}
