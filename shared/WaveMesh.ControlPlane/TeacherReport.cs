using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WaveMesh.Contracts;

namespace WaveMesh.ControlPlane;

/// <summary>One size and method of a teacher version: its newest final accuracy (at the pipeline's budget) and the run that measured it.</summary>
public sealed record SizeAccuracy(
    [property: JsonPropertyName("size")] string Size,
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("accuracy")] double Accuracy,
    [property: JsonPropertyName("run_id")] Guid RunId,
    [property: JsonPropertyName("evaluated_at")] DateTime EvaluatedAt);

/// <summary>One version of a teacher: its own accuracy, accuracy against size for each method, and the models it had promoted.</summary>
public sealed record VersionReport(
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("registered_at")] DateTime RegisteredAt,
    [property: JsonPropertyName("teacher_accuracy")] double? TeacherAccuracy,
    [property: JsonPropertyName("accuracy")] IReadOnlyList<SizeAccuracy> Accuracy,
    [property: JsonPropertyName("promoted")] IReadOnlyList<PromotedModelView> Promoted);

/// <summary><c>GET /api/teachers/{name}/report</c>: every version side by side, and the model promoted now for each size.</summary>
public sealed record TeacherReportView(
    [property: JsonPropertyName("teacher")] string Teacher,
    [property: JsonPropertyName("versions")] IReadOnlyList<VersionReport> Versions,
    [property: JsonPropertyName("promoted")] IReadOnlyList<PromotedModelView> Promoted);

/// <summary>Builds a teacher's report from its records, its runs and the registry, with no I/O.</summary>
public static class TeacherReport
{
    public static TeacherReportView Build(TeacherRecord teacher, IEnumerable<RunRecord> runs, IEnumerable<ModelEntry> models)
    {
        var all = runs.ToList();
        var entries = models.Where(m => m.Teacher == teacher.Name).OrderBy(m => m.Size.Depth).ThenBy(m => m.Size.Width).ThenBy(m => m.Size.Heads).ToList();
        var versions = teacher.Versions.Select(v =>
        {
            var label = TeacherVersion.Label(teacher.Name, v.Version);
            var evaluations = all.Where(r => r.Teacher.TeacherDigest == v.Digest && r.Teacher.Name == label)
                .SelectMany(r => r.Events.Where(e => e.Type == nameof(TargetEvaluated)).Select(e => (Run: r.RunId, Event: (TargetEvaluated)e.Open())))
                .ToList();
            double? teacherAccuracy = evaluations.Where(x => x.Event.Subject == EvaluationSubject.Teacher)
                .OrderByDescending(x => x.Event.CreatedAt).Select(x => (double?)x.Event.Accuracy).FirstOrDefault();
            var accuracy = evaluations
                .Select(x => (x.Run, x.Event, Subject: EvaluationSubject.TryParse(x.Event.Subject)))
                .Where(x => x.Subject is { Phase: EvaluationSubject.Final })
                .GroupBy(x => (x.Subject!.Target, x.Subject.Method))
                .Select(g => g.OrderByDescending(x => x.Event.CreatedAt).First())
                .OrderBy(x => x.Subject!.Target.Depth).ThenBy(x => x.Subject!.Target.Width).ThenBy(x => x.Subject!.Target.Heads)
                .ThenBy(x => x.Subject!.Method, StringComparer.Ordinal)
                .Select(x => new SizeAccuracy(x.Subject!.Target.Slug, x.Subject.Method, x.Event.Accuracy, x.Run, x.Event.CreatedAt))
                .ToList();
            // Models this version had promoted: the current one, or the last it promoted before a later version replaced it.
            var promoted = entries.Select(e => e.Promoted is { } p && p.TeacherDigest == v.Digest
                    ? PromotedModelView.Of(e, p)
                    : e.History.Where(h => h.Promoted && h.TeacherDigest == v.Digest).OrderByDescending(h => h.At)
                        .Select(h => new PromotedModelView(e.Teacher, h.TeacherDigest, e.Size.Slug, h.Method!, h.Accuracy!.Value, h.ModelDigest!, h.At))
                        .FirstOrDefault())
                .OfType<PromotedModelView>().ToList();
            return new VersionReport(v.Version, v.Digest, v.RegisteredAt, teacherAccuracy, accuracy, promoted);
        }).ToList();
        var current = entries.Where(e => e.Promoted is not null).Select(e => PromotedModelView.Of(e, e.Promoted!)).ToList();
        return new TeacherReportView(teacher.Name, versions, current);
    }

    public static void MapTeacherReport(this WebApplication app, RouteGroupBuilder api)
    {
        var teachers = app.Services.GetRequiredService<TeacherRegistry>();
        var runs = app.Services.GetRequiredService<RunStore>();
        var models = app.Services.GetRequiredService<ModelRegistry>();
        api.MapGet("/teachers/{name}/report", async (string name, CancellationToken ct) =>
        {
            var teacher = await teachers.TeacherAsync(name, ct) ?? throw new ControlException(404, $"teacher {name} is not registered");
            var versionRuns = new List<RunRecord>();
            foreach (var digest in teacher.Versions.Select(v => v.Digest).Distinct()) versionRuns.AddRange(await runs.ForTeacherAsync(digest, ct));
            return Results.Ok(Build(teacher, versionRuns, await models.AllAsync(ct)));
        }).WithSummary("Every version of a teacher side by side: accuracy against size for each method, and the promoted model per size");
    }
}
