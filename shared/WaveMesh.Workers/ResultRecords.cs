using WaveMesh.Artifacts;
using WaveMesh.Contracts;

namespace WaveMesh.Workers;

/// <summary>
/// The recorded result of each job, kept in the store under its job key: what makes a stage run once per job key. A
/// record counts only while every artifact it names is still in the store. Torch-free, so the control plane reads
/// results without the engine.
/// </summary>
public sealed class ResultRecords(IRecordStore records, IArtifactStore artifacts)
{
    public static string Key(StageJob job) => $"result/{job.Stage}/{job.Key}";

    /// <summary>The recorded result of <paramref name="job"/>, stamped for this job and marked cached, if its outputs are all still in the store.</summary>
    public async Task<IntegrationEvent?> TryCachedAsync(StageJob job, CancellationToken cancellation = default) =>
        (await LookupAsync(job, cancellation)).Cached;

    /// <summary>The usable recorded result, and whether a record exists whose outputs are gone (it must be replaced).</summary>
    public async Task<(IntegrationEvent? Cached, bool Stale)> LookupAsync(StageJob job, CancellationToken cancellation = default)
    {
        var json = await records.GetRecordAsync(Key(job), cancellation);
        if (json is null) return (null, false);
        var recorded = (IntegrationEvent)ContractJson.Deserialize<Envelope>(json).Open();
        foreach (var digest in MessageTypes.Outputs(recorded))
            if (!await artifacts.ExistsAsync(digest, cancellation)) return (null, true);
        return (Stamp(recorded, job, cached: true), false);
    }

    /// <summary>Whether a result of <paramref name="job"/> is recorded at all (its outputs unchecked).</summary>
    public async Task<bool> ExistsAsync(StageJob job, CancellationToken cancellation = default) =>
        await records.GetRecordAsync(Key(job), cancellation) is not null;

    /// <summary>
    /// Records a fresh <paramref name="result"/> and returns what callers get: a stale record is replaced; otherwise the
    /// first write wins, and if another worker finished the same job meanwhile, both results are valid and every caller
    /// gets the recorded one.
    /// </summary>
    public async Task<IntegrationEvent> RecordAsync(StageJob job, IntegrationEvent result, bool stale, CancellationToken cancellation = default)
    {
        var key = Key(job);
        var envelope = ContractJson.Serialize(Envelope.Of(result));
        if (stale) await records.SetRecordAsync(key, envelope, cancellation);
        else if (!await records.TryAddRecordAsync(key, envelope, cancellation))
        {
            if (await TryCachedAsync(job, cancellation) is { } existing) return existing;
            await records.SetRecordAsync(key, envelope, cancellation);
        }
        return Stamp(result, job, cached: false);
    }

    /// <summary>A result as an answer to <paramref name="job"/>: new id and time, the job's run and causation, and whether it came from the record.</summary>
    static IntegrationEvent Stamp(IntegrationEvent e, StageJob job, bool cached)
    {
        var stamped = e with { Id = Guid.NewGuid(), CreatedAt = DateTime.UtcNow, RunId = job.RunId, CausationId = job.Id };
        return cached && stamped is StageResult result ? result with { Stats = result.Stats with { Cached = true } } : stamped;
    }
}
