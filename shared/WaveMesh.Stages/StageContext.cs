using WaveMesh.Artifacts;
using static TorchSharp.torch;

namespace WaveMesh.Stages;

/// <summary>Everything a stage needs besides its job: the artifact store, datasets, the device, a scratch folder and who it is.</summary>
public sealed class StageContext
{
    public required IArtifactStore Store { get; init; }
    /// <summary>Where job results and indexes are recorded; by default the artifact store's own records (every WaveMesh store keeps both).</summary>
    public IRecordStore Records
    {
        get => records ?? Store as IRecordStore ?? throw new InvalidOperationException($"{Store.GetType().Name} keeps no records: set {nameof(Records)}");
        init => records = value;
    }
    readonly IRecordStore? records;
    public required Datasets Datasets { get; init; }
    public Device Device { get; init; } = CPU;
    /// <summary>Worker name reported in events (host, process, replica).</summary>
    public string Worker { get; init; } = $"{Environment.MachineName}/{Environment.ProcessId}";
    /// <summary>Where stages write files before they enter the store.</summary>
    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "wavemesh-work");
}
