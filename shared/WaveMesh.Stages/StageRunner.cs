using System.Diagnostics;
using Microsoft.Extensions.Logging;
using WaveMesh.Contracts;
using WaveMesh.Engine.Training;
using WaveMesh.Workers;

namespace WaveMesh.Stages;

/// <summary>
/// Runs jobs on the stage units, exactly once per job key: a job whose result is recorded in the store (and whose
/// output artifacts still verify) is answered from that record (<see cref="ResultRecords"/>), marked cached, without
/// running again. Every worker, on a broker or embedded, runs its jobs through a <see cref="JobHost"/> on this class.
/// </summary>
public sealed class StageRunner : IJobRunner
{
    readonly StageContext context;
    readonly Dictionary<Type, IStageUnit> units;
    readonly ResultRecords records;

    public StageRunner(StageContext context, IEnumerable<IStageUnit> units)
    {
        this.context = context;
        this.units = units.ToDictionary(u => u.JobType);
        records = new ResultRecords(context.Records, context.Store);
    }

    public static IStageUnit[] AllStages() => [new DistillStage(), new ScalerStage(), new FinetuneStage(), new EvaluateStage()];

    public StageContext Context => context;

    /// <summary>Where each job's memory before and after is logged (debug level); none by default.</summary>
    public ILogger? Log { get; init; }

    public string Worker => context.Worker;

    public IEnumerable<string> Stages => units.Values.Select(u => u.Stage);

    public bool CanRun(StageJob job) => units.ContainsKey(job.GetType());

    /// <summary>The recorded result of <paramref name="job"/>, if its outputs are all still in the store.</summary>
    public Task<IntegrationEvent?> TryCachedAsync(StageJob job, CancellationToken cancellation = default) =>
        records.TryCachedAsync(job, cancellation);

    public async Task<IntegrationEvent> RunAsync(StageJob job, ProgressSink? progress = null, CancellationToken cancellation = default)
    {
        if (!units.TryGetValue(job.GetType(), out var unit))
            throw new InvalidOperationException($"this worker runs {string.Join(", ", Stages)}, not {job.Stage}");
        var (cached, stale) = await records.LookupAsync(job, cancellation);
        if (cached is not null) return cached;
        // Reading the process's memory costs a /proc read: only when someone listens.
        var before = Log?.IsEnabled(LogLevel.Debug) == true ? NativeHeap.Snapshot() : (MemorySnapshot?)null;
        IntegrationEvent result;
        try
        {
            result = await unit.RunAsync(job, context, new Throttled(job, context.Worker, progress), cancellation);
        }
        finally
        {
            // Nothing a job leaves behind is held for the next one.
            NativeHeap.Release();
            if (before is { } b) Log!.LogDebug("{Job}: {Before} before, {After} after", job.Describe(), b, NativeHeap.Snapshot());
        }
        return await records.RecordAsync(job, result, stale, cancellation);
    }

    /// <summary>Turns the engine's per-step reports into at most a few <see cref="StageProgress"/> events a second.</summary>
    sealed class Throttled(StageJob job, string worker, ProgressSink? sink) : IProgress<StepReport>
    {
        readonly Stopwatch sinceLast = Stopwatch.StartNew();

        public void Report(StepReport r)
        {
            if (sink is null) return;
            if (r.Step < r.Steps && r.Step > 1 && sinceLast.ElapsedMilliseconds < 500) return;
            sinceLast.Restart();
            sink(new StageProgress(job.Key, job.Stage, job.Describe(), r.Step, r.Steps, r.Loss, r.ExamplesPerSecond,
                r.Elapsed.TotalSeconds, worker) { RunId = job.RunId, CausationId = job.Id });
        }
    }
}
