namespace WaveMesh.Contracts;

/// <summary>Topic of every message type on a pub/sub broker: one per job stage, one per event type.</summary>
public static class Topics
{
    static readonly Dictionary<Type, string> ByType = new()
    {
        [typeof(DistillTemplates)] = Job(StageNames.Distill),
        [typeof(TrainScalers)] = Job(StageNames.Scalers),
        [typeof(FinetuneTarget)] = Job(StageNames.Finetune),
        [typeof(EvaluateModel)] = Job(StageNames.Evaluate),
    };

    public static string Job(string stage) => $"jobs.{stage}";

    /// <summary>The stage whose jobs are of <paramref name="jobType"/> (distill, scalers, finetune or evaluate).</summary>
    public static string StageOf(Type jobType) => ByType.TryGetValue(jobType, out var topic) ? topic["jobs.".Length..]
        : throw new ArgumentException($"{jobType.Name} is not a job type", nameof(jobType));

    /// <summary>Where messages a subscriber gave up on go.</summary>
    public static string DeadLetter(string topic) => $"{topic}.dead";

    public static string Of(Type messageType) => ByType.TryGetValue(messageType, out var topic) ? topic : Kebab(messageType.Name);

    public static Type? TypeOf(string topic) => MessageTypes.Events.Concat(MessageTypes.Jobs).FirstOrDefault(t => Of(t) == topic);

    static string Kebab(string name)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) sb.Append('-');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }
}
