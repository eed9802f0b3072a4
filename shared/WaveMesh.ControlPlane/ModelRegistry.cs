using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Pipeline;

namespace WaveMesh.ControlPlane;

/// <summary>The model served for (teacher, size): what it is, how it scored, which run promoted it and when.</summary>
public sealed record PromotedEntry(string TeacherDigest, string Method, double Accuracy, string ModelDigest, DateTime PromotedAt, Guid RunId);

/// <summary>One promotion decision for a (teacher, size): promoted, or rejected and why.</summary>
public sealed record PromotionRecord(Guid RunId, DateTime At, string TeacherDigest, string? Method, double? Accuracy, string? ModelDigest,
    bool Promoted, string? Reason);

/// <summary>A (teacher, size) of the registry: its promoted model, if any, and every decision taken for it, oldest first.</summary>
public sealed record ModelEntry(string Teacher, ModelSize Size, PromotedEntry? Promoted, List<PromotionRecord> History);

/// <summary>
/// The model registry: for every (teacher, size), the model its pipelines' promotion gate let through. Each run decides
/// each of its sizes once (a decision already recorded for that run is not taken again, so redelivered events and
/// restarts are harmless); the decision becomes a <see cref="ModelPromoted"/> or <see cref="PromotionRejected"/> event.
/// </summary>
public sealed class ModelRegistry(IRecordStore store)
{
    const string Index = "control/models";
    static string Name(string teacher, ModelSize size) => $"{teacher}/{size.Slug}";
    static string Key(string name) => $"control/model/{name}";

    readonly RecordFiles records = new(store);
    readonly SemaphoreSlim gate = new(1, 1);

    public Task<IReadOnlyList<ModelEntry>> AllAsync(CancellationToken ct = default) => records.AllAsync<ModelEntry>(Index, Key, ct);

    public Task<ModelEntry?> GetAsync(string teacher, ModelSize size, CancellationToken ct = default) =>
        records.GetAsync<ModelEntry>(Key(Name(teacher, size)), ct);

    /// <summary>
    /// Decides <paramref name="size"/> of run <paramref name="runId"/> given the run's choice (<see cref="Promotion.Choose"/>):
    /// the event to publish, or null when this run has decided it before or its candidate is the model already promoted.
    /// </summary>
    public async Task<IntegrationEvent?> DecideAsync(string teacher, string teacherDigest, Guid runId, ModelSize size,
        (PromotionCandidate? Candidate, string? Reason) choice, double tolerance, CancellationToken ct = default)
    {
        await gate.WaitAsync(ct);
        try
        {
            var entry = await GetAsync(teacher, size, ct) ?? new ModelEntry(teacher, size, null, []);
            if (entry.History.Any(h => h.RunId == runId)) return null;
            var now = DateTime.UtcNow;
            var (candidate, reason) = choice;
            IntegrationEvent? result;
            if (candidate is null)
            {
                entry.History.Add(new PromotionRecord(runId, now, teacherDigest, null, null, null, false, reason));
                result = new PromotionRejected(teacher, teacherDigest, size, null, null, null, reason!) { RunId = runId };
            }
            else
            {
                var current = entry.Promoted is { } p ? new PromotedModel(p.Method, p.Accuracy, p.ModelDigest) : null;
                var decision = Promotion.Decide(candidate, current, tolerance);
                entry.History.Add(new PromotionRecord(runId, now, teacherDigest, candidate.Method, candidate.Accuracy, candidate.ModelDigest,
                    decision.Promote, decision.Unchanged ? "already the promoted model" : decision.Reason));
                if (decision.Promote)
                {
                    entry = entry with { Promoted = new PromotedEntry(teacherDigest, candidate.Method, candidate.Accuracy, candidate.ModelDigest, now, runId) };
                    result = new ModelPromoted(teacher, teacherDigest, size, candidate.Method, candidate.Accuracy, candidate.ModelDigest, decision.Replaces)
                    {
                        RunId = runId,
                    };
                }
                else result = decision.Unchanged ? null
                    : new PromotionRejected(teacher, teacherDigest, size, candidate.Method, candidate.Accuracy, candidate.ModelDigest, decision.Reason!)
                    {
                        RunId = runId,
                    };
            }
            await records.PutAsync(Key(Name(teacher, size)), entry, ct);
            await records.AddToIndexAsync(Index, Name(teacher, size), ct);
            return result;
        }
        finally
        {
            gate.Release();
        }
    }
}
