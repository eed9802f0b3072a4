using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Models;
using WaveMesh.Pipeline;

namespace WaveMesh.ControlPlane;

/// <summary>A promoted model as <c>GET /api/models</c> lists it.</summary>
public sealed record PromotedModelView(
    [property: JsonPropertyName("teacher")] string Teacher,
    [property: JsonPropertyName("teacher_digest")] string TeacherDigest,
    [property: JsonPropertyName("size")] string Size,
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("accuracy")] double Accuracy,
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("promoted_at")] DateTime PromotedAt)
{
    public static PromotedModelView Of(ModelEntry entry, PromotedEntry p) =>
        new(entry.Teacher, p.TeacherDigest, entry.Size.Slug, p.Method, p.Accuracy, p.ModelDigest, p.PromotedAt);
}

/// <summary>What <c>POST /api/models/{teacher}/{size}</c> answers: the run making the size, and where to poll it.</summary>
public sealed record OnDemandView(
    [property: JsonPropertyName("run_id")] Guid RunId,
    [property: JsonPropertyName("teacher")] string Teacher,
    [property: JsonPropertyName("size")] string Size,
    [property: JsonPropertyName("pipeline")] string Pipeline,
    [property: JsonPropertyName("run")] string Run,
    [property: JsonPropertyName("model")] string Model);

/// <summary>The model registry's REST API: promoted models, their files, their decisions, and sizes made on demand.</summary>
static class ModelRegistryApi
{
    public static void MapModelRegistry(this WebApplication app, RouteGroupBuilder api, RouteGroupBuilder write)
    {
        var models = app.Services.GetRequiredService<ModelRegistry>();
        var teachers = app.Services.GetRequiredService<TeacherRegistry>();
        var supervisor = app.Services.GetRequiredService<RunSupervisor>();
        var store = app.Services.GetRequiredService<IArtifactStore>();
        var runs = app.Services.GetRequiredService<RunStore>();

        api.MapGet("/models", async (CancellationToken ct) =>
            Results.Ok((await models.AllAsync(ct)).Where(e => e.Promoted is not null).Select(e => PromotedModelView.Of(e, e.Promoted!))
                .OrderBy(v => v.Teacher, StringComparer.Ordinal).ThenBy(v => v.Size, StringComparer.Ordinal).ToList()))
            .WithSummary("Every promoted model: one per (teacher, size)");

        api.MapGet("/models/{teacher}/{size}", async (string teacher, string size, string? format, CancellationToken ct) =>
        {
            if (format is not (null or "safetensors" or "tar" or "zip"))
                throw new ControlException(400, $"format '{format}' is not one of safetensors (the default), tar, zip");
            var entry = await models.GetAsync(teacher, ParseSize(size), ct);
            if (entry?.Promoted is not { } promoted)
                throw new ControlException(404, $"no model of size {size} is promoted for teacher {teacher}");
            var path = await store.GetFileAsync(promoted.ModelDigest, ct);
            var name = $"{teacher}-{size}-{promoted.Method}";
            return format is null or "safetensors"
                ? Results.File(path, "application/octet-stream", $"{name}.safetensors")
                : Results.File(HubArchive(path, name, format), format == "tar" ? "application/x-tar" : "application/zip", $"{name}.{format}");
        }).WithSummary("The promoted model of a size: safetensors with timm names, or (?format=tar|zip) a timm hub folder, config.json and model.safetensors");

        api.MapGet("/models/{teacher}/{size}/decisions", async (string teacher, string size, CancellationToken ct) =>
            await models.GetAsync(teacher, ParseSize(size), ct) is { } entry
                ? Results.Json(entry, ContractJson.Options)
                : throw new ControlException(404, $"nothing was decided for size {size} of teacher {teacher}"))
            .WithSummary("A size's promoted model and every promotion decision taken for it (promotions and rejections)");

        write.MapPost("/models/{teacher}/{size}", async (string teacher, string size, string? pipeline, CancellationToken ct) =>
        {
            var target = ParseSize(size);
            if ((await teachers.TeacherAsync(teacher, ct))?.Current is not { } current)
                throw new ControlException(404, $"teacher {teacher} is not registered (upload it with POST /api/teachers/{teacher})");
            var following = (await teachers.PipelinesAsync(ct)).Where(p => p.Teacher == teacher && (pipeline is null || p.Name == pipeline))
                .OrderByDescending(p => p.UpdatedAt).ToList();
            // The teacher's current templates: those distilled by the run of this version that succeeded last (they are in
            // the store, so only stage 2 runs, with that run's configuration); else the newest pipeline following the teacher.
            var latest = (await runs.ForTeacherAsync(current.Digest, ct))
                .Where(r => r.OnDemand is null && r.Status == RunOutcome.Succeeded)
                .Where(r => r.Events.Any(e => e.Type == nameof(TemplatesDistilled)))
                .Where(r => following.Any(p => p.Name == r.Pipeline))
                .MaxBy(r => r.StartedAt);
            var chosen = latest is null ? following.FirstOrDefault() : following.First(p => p.Name == latest.Pipeline) with { Config = latest.Config };
            if (chosen is null)
                throw new ControlException(pipeline is null ? 409 : 404, pipeline is null
                    ? $"no pipeline follows teacher {teacher}: its templates come from one (PUT /api/pipelines/{{name}})"
                    : $"pipeline {pipeline} does not follow teacher {teacher}");
            var templates = RunConfig.Parse(chosen.Config, $"pipeline {chosen.Name}").Pipeline.Templates;
            var problems = new List<string>();
            if (target.Width % target.Heads != 0) problems.Add($"heads ({target.Heads}) must divide the width ({target.Width})");
            if (target.Width % templates.Size != 0)
                problems.Add($"the width {target.Width} is not a multiple of the template size {templates.Size} of pipeline {chosen.Name}");
            if (problems.Count > 0) throw new ControlException(400, $"size {size} cannot be made from the templates: {string.Join("; ", problems)}");
            var runId = await supervisor.StartOnDemandAsync(chosen, target, ct);
            var view = new OnDemandView(runId, teacher, target.Slug, chosen.Name, $"/api/runs/{runId}", $"/api/models/{teacher}/{target.Slug}");
            return Results.Accepted(view.Run, view);
        }).WithSummary("Make a size nobody planned from the teacher's templates (stage 2 and an evaluation); poll the Location, then GET the model");
    }

    /// <summary>
    /// The model as a timm hub folder named <paramref name="name"/> (<see cref="TimmHub"/>) in a tar or zip archive, built
    /// in memory; 409 for a model that records no input normalisation (made before models recorded it).
    /// </summary>
    static byte[] HubArchive(string model, string name, string format)
    {
        var folder = Path.Combine(Path.GetTempPath(), "wavemesh-hub", Guid.NewGuid().ToString("N"));
        try
        {
            try { TimmHub.Export(model, folder); }
            catch (SpecException e) { throw new ControlException(409, $"{e.Message.Replace(model, "the model")}; use the safetensors file"); }
            using var archive = new MemoryStream();
            var files = new[] { TimmHub.ConfigFile, TimmHub.WeightsFile };
            if (format == "tar")
            {
                using var tar = new TarWriter(archive, TarEntryFormat.Ustar, leaveOpen: true);
                foreach (var file in files) tar.WriteEntry(Path.Combine(folder, file), $"{name}/{file}");
            }
            else
            {
                using var zip = new ZipArchive(archive, ZipArchiveMode.Create, leaveOpen: true);
                foreach (var file in files) zip.CreateEntryFromFile(Path.Combine(folder, file), $"{name}/{file}", CompressionLevel.Fastest);
            }
            return archive.ToArray();
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A size written LxDxH with positive parts, else a 400 saying how to write one.</summary>
    static ModelSize ParseSize(string text) =>
        ModelSize.TryParse(text, out var size) && size is { Depth: > 0, Width: > 0, Heads: > 0 }
            ? size
            : throw new ControlException(400, $"'{text}' is not a size: write depth x width x heads with positive numbers, e.g. 2x64x2");
}
