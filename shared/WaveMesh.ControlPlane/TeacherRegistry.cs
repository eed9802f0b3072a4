using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Models;
using WaveMesh.Pipeline;
using WaveMesh.Safetensors;

namespace WaveMesh.ControlPlane;

/// <summary>A request the control plane refuses; the message says why (it becomes a 4xx answer).</summary>
public sealed class ControlException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// Teachers and pipelines: uploads (streamed, size-limited, digest-checked), checkpoint validation, and the records of
/// every teacher version and pipeline definition. Starts nothing: what a new version or pipeline starts is the
/// <see cref="RunSupervisor"/>'s business.
/// </summary>
public sealed class TeacherRegistry(IArtifactStore store, IRecordStore recordStore, DatasetRegistry datasets, IOptions<ControlOptions> options, ILogger<TeacherRegistry> log)
{
    readonly RecordFiles records = new(recordStore);
    readonly SemaphoreSlim gate = new(1, 1);
    readonly ControlOptions o = options.Value;

    const string TeachersIndex = "control/teachers";
    const string PipelinesIndex = "control/pipelines";
    static string TeacherKey(string name) => $"control/teacher/{name}";
    static string PipelineKey(string name) => $"control/pipeline/{name}";

    public Task<IReadOnlyList<TeacherRecord>> TeachersAsync(CancellationToken ct = default) => records.AllAsync<TeacherRecord>(TeachersIndex, TeacherKey, ct);

    public Task<TeacherRecord?> TeacherAsync(string name, CancellationToken ct = default) => records.GetAsync<TeacherRecord>(TeacherKey(name), ct);

    public Task<IReadOnlyList<PipelineRecord>> PipelinesAsync(CancellationToken ct = default) => records.AllAsync<PipelineRecord>(PipelinesIndex, PipelineKey, ct);

    /// <summary>
    /// Streams an uploaded checkpoint to a local file (refusing more than the configured size), checks the digest the
    /// client claims, validates it as a ViT checkpoint, and only then stores and registers it: a file that fails any
    /// check never reaches the store, nor the distiller. A checkpoint that a pipeline following <paramref name="name"/>
    /// could not use (input, classes or patch size other than its data set's and family's) is refused with 400 naming
    /// every problem of every such pipeline, before it is stored: see <see cref="Compatibility"/>.
    /// </summary>
    public async Task<Registration> UploadAsync(string name, Stream body, long? length, string? claimedSha256, int? heads, CancellationToken ct)
    {
        CheckName(name, "teacher");
        var temp = await Upload.ReceiveAsync(body, length, claimedSha256, o, ".safetensors", ct);
        try
        {
            var (family, size) = Validate(temp, heads);
            await CheckPipelinesAsync(name, family, size, ct);
            var info = await store.PutFileAsync(temp, "vit", new Dictionary<string, string> { [MetadataKeys.Teacher] = name }, ct);
            return await AddVersionAsync(name, info.Digest, info.Size, family, size, ct);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>
    /// Registers an artifact already in the store as the next version of <paramref name="name"/>, after validating it
    /// (<c>POST /api/teachers/{name}/versions</c>). The same compatibility checks as an upload: a checkpoint that a
    /// pipeline following <paramref name="name"/> could not use is refused with 400 naming every problem, and nothing is
    /// registered (the artifact stays in the store, as it was; no run starts).
    /// </summary>
    public async Task<Registration> RegisterAsync(string name, string digest, int? heads, CancellationToken ct)
    {
        CheckName(name, "teacher");
        if (!ArtifactDigest.IsValid(digest)) throw new ControlException(400, $"'{digest}' is not a SHA-256 digest");
        if (!await store.ExistsAsync(digest, ct)) throw new ControlException(404, $"artifact {digest} is not in the store");
        var path = await store.GetFileAsync(digest, ct);
        var (family, size) = Validate(path, heads);
        await CheckPipelinesAsync(name, family, size, ct);
        return await AddVersionAsync(name, digest, new FileInfo(path).Length, family, size, ct);
    }

    /// <summary>
    /// Creates or changes a pipeline after checking its name, its teacher's name, its configuration (every problem of it,
    /// the template rules for the auxiliary model and the targets included), and that its teacher's current version, if
    /// it has one, fits its data set and family (<see cref="Compatibility"/>); any problem is a 400 naming each one, and
    /// nothing is stored.
    /// </summary>
    public async Task<PipelineRecord> PutPipelineAsync(string name, string teacher, string config, CancellationToken ct)
    {
        CheckName(name, "pipeline");
        CheckName(teacher, "teacher");
        PipelineDefinition definition;
        try { definition = RunConfig.Parse(config, $"pipeline {name}").Pipeline; }
        catch (ConfigException e) { throw new ControlException(400, e.Message); }
        if ((await TeacherAsync(teacher, ct))?.Current is { } current && Compatibility.Problems(current.Family, current.Size, definition) is { Count: > 0 } problems)
            throw new ControlException(400, Compatibility.Describe(name, TeacherVersion.Label(teacher, current.Version), problems));
        await datasets.CheckAvailableAsync(definition.Data, ct);   // a data set nobody can provide is refused now, not when a run starts
        var record = new PipelineRecord(name, teacher, config, DateTime.UtcNow);
        await records.PutAsync(PipelineKey(name), record, ct);
        await records.AddToIndexAsync(PipelinesIndex, name, ct);
        return record;
    }

    /// <summary>
    /// Refuses (400, every problem named) a teacher version that a pipeline following <paramref name="name"/> could not
    /// use, before it is stored or registered: on an upload and on a registration of an artifact alike. The problems
    /// of every such pipeline are in the one message, joined with "; ".
    /// </summary>
    async Task CheckPipelinesAsync(string name, ModelFamily family, ModelSize size, CancellationToken ct)
    {
        var refusals = new List<string>();
        var label = TeacherVersion.Label(name, ((await TeacherAsync(name, ct))?.Versions.Count ?? 0) + 1);   // the version it would become
        foreach (var pipeline in (await PipelinesAsync(ct)).Where(p => p.Teacher == name))
        {
            PipelineDefinition definition;
            try { definition = RunConfig.Parse(pipeline.Config, $"pipeline {pipeline.Name}").Pipeline; }
            catch (ConfigException) { continue; }   // stored configurations were valid when stored
            if (Compatibility.Problems(family, size, definition) is { Count: > 0 } problems)
                refusals.Add(Compatibility.Describe(pipeline.Name, label, problems));
        }
        if (refusals.Count > 0) throw new ControlException(400, string.Join("; ", refusals));
    }

    static (ModelFamily, ModelSize) Validate(string path, int? heads)
    {
        try
        {
            using var file = SafetensorsFile.Open(path);
            var spec = VitCheckpoint.SpecOf(file, heads);
            VitLayout.Check(spec, file.Tensors.ToDictionary(t => t.Name, t => t.Shape));
            return (ModelMapping.Family(spec), ModelMapping.Size(spec));
        }
        catch (Exception e) when (e is SafetensorsFormatException or CheckpointMismatchException or SpecException)
        {
            throw new ControlException(400, $"not a valid ViT checkpoint: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    async Task<Registration> AddVersionAsync(string name, string digest, long bytes, ModelFamily family, ModelSize size, CancellationToken ct)
    {
        await gate.WaitAsync(ct);
        try
        {
            var record = await TeacherAsync(name, ct) ?? new TeacherRecord(name, []);
            if (record.Current?.Digest == digest)
            {
                log.LogInformation("teacher {Name} v{Version} registered again with the same digest: nothing to do", name, record.Current.Version);
                return new Registration(name, record.Current, false);
            }
            var version = new TeacherVersion(record.Versions.Count + 1, digest, DateTime.UtcNow, bytes, family, size);
            record.Versions.Add(version);
            await records.PutAsync(TeacherKey(name), record, ct);
            await records.AddToIndexAsync(TeachersIndex, name, ct);
            log.LogInformation("teacher {Name} v{Version} = {Digest}", name, version.Version, digest);
            return new Registration(name, version, true);
        }
        finally
        {
            gate.Release();
        }
    }

    static void CheckName(string name, string what)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 100 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ControlException(400, $"{what} name '{name}' must be 1-100 letters, digits, '-', '_' or '.'");
    }
}

/// <summary>A teacher version as registered: new (<paramref name="Changed"/>) or the current one again.</summary>
public sealed record Registration(string Teacher, TeacherVersion Version, bool Changed);
