using WaveMesh.Contracts;

namespace WaveMesh.Workers;

/// <summary>Receives a running job's progress reports (at most a few a second).</summary>
public delegate void ProgressSink(StageProgress progress);

/// <summary>
/// What a <see cref="JobHost"/> runs jobs on: the stages (WaveMesh.Stages' StageRunner implements it with the engine).
/// The port keeps workers, transports and the control plane free of the engine and libtorch.
/// </summary>
public interface IJobRunner
{
    /// <summary>Name reported in events and leases.</summary>
    string Worker { get; }

    IEnumerable<string> Stages { get; }

    bool CanRun(StageJob job);

    /// <summary>The recorded result of <paramref name="job"/> (marked cached), if it ran before and its outputs are still stored.</summary>
    Task<IntegrationEvent?> TryCachedAsync(StageJob job, CancellationToken cancellation = default);

    /// <summary>Runs <paramref name="job"/> once per job key and returns its result event; throws when the job failed.</summary>
    Task<IntegrationEvent> RunAsync(StageJob job, ProgressSink? progress = null, CancellationToken cancellation = default);
}

/// <summary>One line a person can act on about a failed job.</summary>
public static class Failures
{
    /// <summary>The exception's message, with its type when the message alone is not telling.</summary>
    public static string Reason(Exception e)
    {
        var inner = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : e;
        var message = inner.Message.ReplaceLineEndings(" ").Trim();
        return inner is ArgumentException or InvalidOperationException or IOException ? message : $"{inner.GetType().Name}: {message}";
    }
}
