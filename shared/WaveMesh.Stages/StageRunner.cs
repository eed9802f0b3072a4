using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Engine.Training;

namespace WaveMesh.Stages;

/// <summary>
/// Runs jobs on the stage units, exactly once per job key: a job whose result is recorded in the store (and whose
/// output artifacts still verify) is answered from that record, marked cached, without running again. Every
/// transport hosts its workers on this class.
/// </summary>
public sealed class StageRunner
{
    readonly StageContext context;
    readonly Dictionary<Type, IStageUnit> units;

    public StageRunner(StageContext context, IEnumerable<IStageUnit> units)
    {
        this.context = context;
        this.units = units.ToDictionary(u => u.JobType);
    }

    public static IStageUnit[] AllStages() => [new DistillStage(), new ScalerStage(), new FinetuneStage(), new EvaluateStage()];

    public StageContext Context => context;

    public IEnumerable<string> Stages => units.Values.Select(u => u.Stage);

    public bool CanRun(StageJob job) => units.ContainsKey(job.GetType());

    public static string RecordKey(StageJob job) => $"result/{job.Stage}/{job.Key}";

    /// <summary>The recorded result of <paramref name="job"/>, if its outputs are all still in the store.</summary>
    public async Task<IntegrationEvent?> TryCachedAsync(StageJob job, CancellationToken cancellation = default) =>
        (await LookupAsync(job, cancellation)).Cached;

    /// <summary>The usable recorded result, and whether a record exists whose outputs are gone (it must be replaced).</summary>
    async Task<(IntegrationEvent? Cached, bool Stale)> LookupAsync(StageJob job, CancellationToken cancellation)
    {
        var json = await context.Store.GetRecordAsync(RecordKey(job), cancellation);
        if (json is null) return (null, false);
        var recorded = (IntegrationEvent)ContractJson.Deserialize<Envelope>(json).Open();
        foreach (var digest in MessageTypes.Outputs(recorded))
            if (!await context.Store.ExistsAsync(digest, cancellation)) return (null, true);
        return (Stamp(recorded, job, cached: true), false);
    }

    public async Task<IntegrationEvent> RunAsync(StageJob job, ProgressSink? progress = null, CancellationToken cancellation = default)
    {
        if (!units.TryGetValue(job.GetType(), out var unit))
            throw new InvalidOperationException($"this worker runs {string.Join(", ", Stages)}, not {job.Stage}");
        var (cached, stale) = await LookupAsync(job, cancellation);
        if (cached is not null) return cached;

        var result = await unit.RunAsync(job, context, new Throttled(job, context.Worker, progress), cancellation);
        var key = RecordKey(job);
        var envelope = ContractJson.Serialize(Envelope.Of(result));
        // A record whose outputs had gone is replaced. Otherwise first write wins: if another worker finished the same
        // job meanwhile, both results are valid, and every caller gets the recorded one.
        if (stale) await context.Store.SetRecordAsync(key, envelope, cancellation);
        else if (!await context.Store.TryAddRecordAsync(key, envelope, cancellation))
        {
            var existing = await TryCachedAsync(job, cancellation);
            if (existing is not null) return existing;
            await context.Store.SetRecordAsync(key, envelope, cancellation);
        }
        return Stamp(result, job, cached: false);
    }

    static IntegrationEvent Stamp(IntegrationEvent e, StageJob job, bool cached)
    {
        var stamped = e with { Id = Guid.NewGuid(), CreatedAt = DateTime.UtcNow, RunId = job.RunId, CausationId = job.Id };
        if (!cached) return stamped;
        return stamped switch
        {
            TemplatesDistilled t => t with { Stats = t.Stats with { Cached = true } },
            ScalersTrained s => s with { Stats = s.Stats with { Cached = true } },
            TargetFinetuned f => f with { Stats = f.Stats with { Cached = true } },
            TargetEvaluated v => v with { Stats = v.Stats with { Cached = true } },
            _ => stamped,
        };
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
