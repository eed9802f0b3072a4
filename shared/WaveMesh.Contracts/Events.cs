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

public sealed record TemplatesDistilled(string JobKey, string TeacherDigest, string TemplatesDigest, string AuxScalersDigest,
    double AuxAccuracy, long TemplateParameters, StageStats Stats) : IntegrationEvent;

public sealed record ScalersTrained(string JobKey, string TemplatesDigest, ModelSize Target, string ScalersDigest, string ModelDigest,
    long Scalers, StageStats Stats) : IntegrationEvent;

public sealed record TargetFinetuned(string JobKey, ModelSize Target, string Method, string InitModelDigest, string ModelDigest,
    long Parameters, IReadOnlyList<CurvePoint> Curve, StageStats Stats) : IntegrationEvent;

public sealed record TargetEvaluated(string JobKey, string ModelDigest, string Subject, double Accuracy, double Loss, int Examples,
    StageStats Stats) : IntegrationEvent;

/// <summary>A job failed for good (after its retries); <see cref="Reason"/> is one line for a person.</summary>
public sealed record StageFailed(string JobKey, string Stage, string Description, string Reason, int Attempts) : IntegrationEvent;

/// <summary>Live progress of a running job.</summary>
public sealed record StageProgress(string JobKey, string Stage, string Description, int Step, int Steps, double Loss,
    double ExamplesPerSecond, double ElapsedSeconds, string Worker) : IntegrationEvent;

/// <summary>Every job of a run has ended; <see cref="Outcome"/> is one of <see cref="RunOutcome"/>.</summary>
public sealed record RunCompleted(string Outcome, int Jobs, int Failed) : IntegrationEvent;

public static class RunOutcome
{
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}
