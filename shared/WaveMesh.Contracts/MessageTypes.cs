namespace WaveMesh.Contracts;

/// <summary>Every message type by name: topic names on the brokers and type tags in stored envelopes.</summary>
public static class MessageTypes
{
    public static readonly IReadOnlyList<Type> Events =
    [
        typeof(TeacherChanged), typeof(TemplatesDistilled), typeof(ScalersTrained), typeof(TargetFinetuned),
        typeof(TargetEvaluated), typeof(StageFailed), typeof(StageProgress), typeof(RunCompleted),
        typeof(ModelPromoted), typeof(PromotionRejected),
    ];

    public static readonly IReadOnlyList<Type> Jobs = [typeof(DistillTemplates), typeof(TrainScalers), typeof(FinetuneTarget), typeof(EvaluateModel)];

    static readonly Dictionary<string, Type> ByName = Events.Concat(Jobs).ToDictionary(t => t.Name, StringComparer.Ordinal);

    public static Type? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>The key of the job an event reports on (a result, a failure or progress); null for events about no one job.</summary>
    public static string? JobKey(IntegrationEvent e) => e switch
    {
        StageResult r => r.JobKey,
        StageFailed f => f.JobKey,
        StageProgress p => p.JobKey,
        _ => null,
    };

    /// <summary>Whether an event is a stage's result (not progress, a failure, a teacher announcement or a run's end).</summary>
    public static bool IsResult(IntegrationEvent e) => e is StageResult;

    /// <summary>How a result was produced: steps, time, worker, whether it was answered from the record; null for other events.</summary>
    public static StageStats? Stats(IntegrationEvent e) => (e as StageResult)?.Stats;

    /// <summary>Artifact digests an event names as its outputs (what must still exist for a cached result to be reused).</summary>
    public static IEnumerable<string> Outputs(IntegrationEvent e) => (e as StageResult)?.Outputs() ?? [];
}

/// <summary>A message with its type name, for stores and transports that keep JSON.</summary>
public sealed record Envelope(string Type, string Json)
{
    public static Envelope Of(object message) => new(message.GetType().Name, ContractJson.Serialize(message));

    public object Open() => ContractJson.Deserialize(Json, MessageTypes.Find(Type)
        ?? throw new System.Text.Json.JsonException($"unknown message type '{Type}'"));
}
