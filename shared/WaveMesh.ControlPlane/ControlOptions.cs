namespace WaveMesh.ControlPlane;

/// <summary>Settings of the control service: API token, upload limit and how often stalled jobs are looked for.</summary>
public sealed class ControlOptions
{
    public const string Section = "WaveMesh:Control";

    /// <summary>Bearer token required by the mutating endpoints; none configured means open (development only).</summary>
    public string? ApiToken { get; set; }
    /// <summary>A file holding the token (a Docker or Kubernetes secret); wins over <see cref="ApiToken"/>.</summary>
    public string? ApiTokenFile { get; set; }
    public long MaxUploadBytes { get; set; } = 2L << 30;
    public string UploadDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "wavemesh-uploads");
    /// <summary>
    /// The control plane's own copies of data sets (name -> folder), registered as artifacts the first time a pipeline
    /// needs one that was not uploaded; Fashion-MNIST is looked for in Debian's folder when not named here.
    /// </summary>
    public Dictionary<string, string> DataPaths { get; set; } = [];
    public TimeSpan WatchdogInterval { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>A job nobody has claimed for this long is published again (a lost message).</summary>
    public TimeSpan UnclaimedAfter { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>A job whose result is recorded but whose result event has not arrived for this long gets it published again (a lost event).</summary>
    public TimeSpan ResultGrace { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>A job the sidecar dead-lettered (its worker kept refusing or failing the delivery) is offered again after this pause.</summary>
    public TimeSpan DeadLetterDelay { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How often one job is offered again from the dead letters before it ends as StageFailed.</summary>
    public int DeadLetterReoffers { get; set; } = 5;

    public string? ResolveToken()
    {
        if (!string.IsNullOrWhiteSpace(ApiTokenFile))
        {
            if (!File.Exists(ApiTokenFile)) throw new InvalidOperationException($"{Section}:ApiTokenFile {ApiTokenFile} does not exist");
            return File.ReadAllText(ApiTokenFile).Trim();
        }
        return string.IsNullOrWhiteSpace(ApiToken) ? null : ApiToken;
    }

    public IEnumerable<string> Problems()
    {
        if (MaxUploadBytes < 1024) yield return $"{Section}:MaxUploadBytes must be at least 1024";
        if (WatchdogInterval <= TimeSpan.Zero) yield return $"{Section}:WatchdogInterval must be positive";
        if (ResultGrace < TimeSpan.Zero) yield return $"{Section}:ResultGrace must not be negative";
        if (DeadLetterDelay < TimeSpan.Zero) yield return $"{Section}:DeadLetterDelay must not be negative";
        if (DeadLetterReoffers < 0) yield return $"{Section}:DeadLetterReoffers must not be negative";
        if (!string.IsNullOrWhiteSpace(ApiTokenFile) && !File.Exists(ApiTokenFile)) yield return $"{Section}:ApiTokenFile {ApiTokenFile} does not exist";
    }
}
