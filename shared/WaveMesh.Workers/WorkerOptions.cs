namespace WaveMesh.Workers;

/// <summary>How a stage worker takes jobs: its slots (jobs at once, e.g. GPUs), lease timing and retry bounds.</summary>
public sealed class WorkerOptions
{
    public const string Section = "WaveMesh:Worker";

    /// <summary>Jobs this replica runs at once.</summary>
    public int Slots { get; set; } = 1;
    /// <summary>cpu, cuda or cuda:N.</summary>
    public string Device { get; set; } = "cpu";
    /// <summary>libtorch CPU threads (0: its default).</summary>
    public int Threads { get; set; }
    /// <summary>Name reported in events and leases; default host/process.</summary>
    public string? Name { get; set; }
    /// <summary>A lease not renewed for this long is considered dead and its job is taken over.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(60);
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);
    /// <summary>
    /// How long a delivered job may wait for a free slot while the replica holds its delivery; then it is published
    /// again (to the back of its queue, for any replica). Keep it under the broker's consumer timeout (RabbitMQ: 30 min).
    /// </summary>
    public TimeSpan SlotWait { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>Attempts of a failing job before it ends as StageFailed and goes to the dead-letter topic.</summary>
    public int MaxAttempts { get; set; } = 3;
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>Folder of the local artifact cache and scratch files.</summary>
    public string WorkDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "wavemesh-worker");
    /// <summary>Default dataset folders by dataset name (e.g. fashion-mnist).</summary>
    public Dictionary<string, string> DataPaths { get; set; } = [];

    public IEnumerable<string> Problems()
    {
        if (Slots < 1) yield return $"{Section}:Slots must be at least 1 (got {Slots})";
        if (MaxAttempts < 1) yield return $"{Section}:MaxAttempts must be at least 1 (got {MaxAttempts})";
        if (LeaseTtl <= HeartbeatInterval) yield return $"{Section}:LeaseTtl ({LeaseTtl}) must be longer than HeartbeatInterval ({HeartbeatInterval})";
        if (Threads < 0) yield return $"{Section}:Threads must be 0 or positive";
        if (SlotWait <= TimeSpan.Zero) yield return $"{Section}:SlotWait must be positive (got {SlotWait})";
    }
}
