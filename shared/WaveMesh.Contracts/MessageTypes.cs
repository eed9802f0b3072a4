namespace WaveMesh.Contracts;

/// <summary>Every message type by name: topic names on the brokers and type tags in stored envelopes.</summary>
public static class MessageTypes
{
    public static readonly IReadOnlyList<Type> Events =
    [
        typeof(TeacherChanged), typeof(TemplatesDistilled), typeof(ScalersTrained), typeof(TargetFinetuned),
        typeof(TargetEvaluated), typeof(StageFailed), typeof(StageProgress), typeof(RunCompleted),
    ];

    public static readonly IReadOnlyList<Type> Jobs = [typeof(DistillTemplates), typeof(TrainScalers), typeof(FinetuneTarget), typeof(EvaluateModel)];

    static readonly Dictionary<string, Type> ByName = Events.Concat(Jobs).ToDictionary(t => t.Name, StringComparer.Ordinal);

    public static Type? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>Artifact digests an event names as its outputs (what must still exist for a cached result to be reused).</summary>
    public static IEnumerable<string> Outputs(IntegrationEvent e) => e switch
    {
        TemplatesDistilled t => [t.TemplatesDigest, t.AuxScalersDigest],
        ScalersTrained s => [s.ScalersDigest, s.ModelDigest],
        TargetFinetuned f => [f.InitModelDigest, f.ModelDigest],
        _ => [],
    };
}

/// <summary>A message with its type name, for stores and transports that keep JSON.</summary>
public sealed record Envelope(string Type, string Json)
{
    public static Envelope Of(object message) => new(message.GetType().Name, ContractJson.Serialize(message));

    public object Open() => ContractJson.Deserialize(Json, MessageTypes.Find(Type)
        ?? throw new System.Text.Json.JsonException($"unknown message type '{Type}'"));
}
