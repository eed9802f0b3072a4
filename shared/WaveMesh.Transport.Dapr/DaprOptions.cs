namespace WaveMesh.Transport.Dapr;

/// <summary>Names of the Dapr components WaveMesh uses and how artifacts are cut into state values.</summary>
public sealed class DaprOptions
{
    public const string Section = "WaveMesh:Dapr";

    public string PubSub { get; set; } = "pubsub";
    public string StateStore { get; set; } = "statestore";
    /// <summary>Largest state value an artifact chunk may be; well under daprd's default 4 MB message limit.</summary>
    public int ChunkBytes { get; set; } = 1 << 20;
    /// <summary>Local folder where fetched artifacts are kept (and verified again on every read).</summary>
    public string CacheDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "wavemesh-artifacts");

    public IEnumerable<string> Problems()
    {
        if (string.IsNullOrWhiteSpace(PubSub)) yield return $"{Section}:PubSub must name a pub/sub component";
        if (string.IsNullOrWhiteSpace(StateStore)) yield return $"{Section}:StateStore must name a state store component";
        if (ChunkBytes < 4096 || ChunkBytes > 3_500_000) yield return $"{Section}:ChunkBytes must be between 4096 and 3500000 (got {ChunkBytes})";
    }
}
