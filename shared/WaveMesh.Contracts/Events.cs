namespace WaveMesh.Contracts;

/// <summary>Something that happened, with its id, the run (correlation) it belongs to, the message that caused it and a schema version.</summary>
public abstract record IntegrationEvent
{
    public Guid Id { get; init; } = Guid.NewGuid();
    public DateTime CreatedAt { get; init; } = DateTime.UtcNow;
    public Guid RunId { get; init; }
    public Guid? CausationId { get; init; }
    public int SchemaVersion { get; init; } = 1;
}

/// <summary>A new teacher version exists: the pipelines that follow it start.</summary>
public sealed record TeacherChanged(string TeacherDigest, string Name, ModelFamily Family, ModelSize Size) : IntegrationEvent;

/// <summary>
/// A stage's answer to one job: the job's key, how it was produced (<see cref="StageStats"/>), and the artifacts it
/// names as outputs, which must all still be stored for the recorded answer to be reused. Adding a result type is
/// deriving from this record and listing it in <see cref="MessageTypes.Events"/>.
/// </summary>
public abstract record StageResult(string JobKey, StageStats Stats) : IntegrationEvent
{
    /// <summary>Digests of the artifacts this result produced.</summary>
    public abstract IReadOnlyList<string> Outputs();
}

public sealed record TemplatesDistilled(string JobKey, string TeacherDigest, string TemplatesDigest, string AuxScalersDigest,
    double AuxAccuracy, long TemplateParameters, StageStats Stats) : StageResult(JobKey, Stats)
{
    public override IReadOnlyList<string> Outputs() => [TemplatesDigest, AuxScalersDigest];
}

public sealed record ScalersTrained(string JobKey, string TemplatesDigest, ModelSize Target, string ScalersDigest, string ModelDigest,
    long Scalers, StageStats Stats) : StageResult(JobKey, Stats)
{
    public override IReadOnlyList<string> Outputs() => [ScalersDigest, ModelDigest];
}

public sealed record TargetFinetuned(string JobKey, ModelSize Target, string Method, string InitModelDigest, string ModelDigest,
    long Parameters, IReadOnlyList<CurvePoint> Curve, StageStats Stats) : StageResult(JobKey, Stats)
{
    public override IReadOnlyList<string> Outputs() => [InitModelDigest, ModelDigest];
}

/// <summary>Accuracy of a stored model; <see cref="Subject"/> is an <see cref="EvaluationSubject"/> or <see cref="EvaluationSubject.Teacher"/>.</summary>
public sealed record TargetEvaluated(string JobKey, string ModelDigest, string Subject, double Accuracy, double Loss, int Examples,
    StageStats Stats) : StageResult(JobKey, Stats)
{
    public override IReadOnlyList<string> Outputs() => [];
}

/// <summary>A job failed for good (after its retries); <see cref="Reason"/> is one line for a person.</summary>
public sealed record StageFailed(string JobKey, string Stage, string Description, string Reason, int Attempts) : IntegrationEvent;

/// <summary>Live progress of a running job.</summary>
public sealed record StageProgress(string JobKey, string Stage, string Description, int Step, int Steps, double Loss,
    double ExamplesPerSecond, double ElapsedSeconds, string Worker) : IntegrationEvent;

/// <summary>
/// The model of <see cref="Size"/> that passed its pipeline's promotion gate is now the one served for
/// (<see cref="Teacher"/>, <see cref="Size"/>); <see cref="Replaced"/> is the digest of the model it replaced, if any.
/// </summary>
public sealed record ModelPromoted(string Teacher, string TeacherDigest, ModelSize Size, string Method, double Accuracy, string ModelDigest,
    string? Replaced) : IntegrationEvent;

/// <summary>A size's best candidate was not promoted; <see cref="Reason"/> is one line for a person (the promoted model, if any, stays).</summary>
public sealed record PromotionRejected(string Teacher, string TeacherDigest, ModelSize Size, string? Method, double? Accuracy, string? ModelDigest,
    string Reason) : IntegrationEvent;

/// <summary>Every job of a run has ended; <see cref="Outcome"/> is one of <see cref="RunOutcome"/>.</summary>
public sealed record RunCompleted(string Outcome, int Jobs, int Failed) : IntegrationEvent;

public static class RunOutcome
{
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}
