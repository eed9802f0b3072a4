using WaveMesh.Contracts;

namespace WaveMesh.ControlPlane;

/// <summary>One registered version of a teacher.</summary>
public sealed record TeacherVersion(int Version, string Digest, DateTime RegisteredAt, long Bytes, ModelFamily Family, ModelSize Size)
{
    /// <summary>How runs, logs and messages name this version of <paramref name="teacher"/>: "NAME vN".</summary>
    public static string Label(string teacher, int version) => $"{teacher} v{version}";
}

/// <summary>A named teacher and its versions, newest last.</summary>
public sealed record TeacherRecord(string Name, List<TeacherVersion> Versions)
{
    public TeacherVersion? Current => Versions.Count == 0 ? null : Versions[^1];
}

/// <summary>A pipeline: the teacher it follows and its configuration (the run configuration's YAML; its teacher section is not used).</summary>
public sealed record PipelineRecord(string Name, string Teacher, string Config, DateTime UpdatedAt);

/// <summary>
/// A run as persisted: what started it and every event it has received, enough to rebuild it after a restart.
/// <paramref name="OnDemand"/> is the one size of a run asked for on demand (stage 2 and an evaluation only);
/// <paramref name="Data"/> the data set its jobs use, by digest (fixed when the run starts, so a restored run's jobs keep
/// their keys even if the data set is registered again meanwhile).
/// </summary>
public sealed record RunRecord(Guid RunId, string Pipeline, DateTime StartedAt, TeacherChanged Teacher, string Config, List<Envelope> Events, string Status,
    ModelSize? OnDemand = null, DatasetRef? Data = null)
{
    public const string Running = "running";
}

/// <summary>What registering a teacher version did.</summary>
public sealed record RegisterResult(string Teacher, int Version, string Digest, bool Changed, IReadOnlyList<Guid> StartedRuns);
