using System.Text.Json;

namespace WaveMesh.Services.Tests.Hosting;

/// <summary>
/// A run as GET /api/runs/{id} shows it, read loosely (camelCase or snake_case; a list of outstanding jobs and failures,
/// or a ledger of jobs with their states), so these tests follow the API's meaning rather than one revision of its shape.
/// </summary>
public sealed class RunView(JsonElement json)
{
    public JsonElement Json { get; } = json;

    static bool TryGet(JsonElement e, string name, out JsonElement value)
    {
        var plain = name.Replace("_", "", StringComparison.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            if (string.Equals(p.Name.Replace("_", "", StringComparison.Ordinal), plain, StringComparison.OrdinalIgnoreCase))
            {
                value = p.Value;
                return true;
            }
        }
        value = default;
        return false;
    }

    static string? Text(JsonElement e, string name) => TryGet(e, name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    IEnumerable<JsonElement> Jobs => TryGet(Json, "jobs", out var jobs) && jobs.ValueKind == JsonValueKind.Array ? jobs.EnumerateArray() : [];

    public Guid RunId => TryGet(Json, "run_id", out var id) ? id.GetGuid() : Guid.Empty;

    /// <summary>running, succeeded or failed.</summary>
    public string Status => Text(Json, "status") ?? throw new InvalidOperationException($"no status in {Json}");

    /// <summary>Jobs not finished yet.</summary>
    public IReadOnlyList<string> Outstanding =>
        TryGet(Json, "outstanding", out var o) && o.ValueKind == JsonValueKind.Array
            ? o.EnumerateArray().Select(x => x.ToString()).ToList()
            : Jobs.Where(j => Text(j, "status") is "queued" or "running").Select(j => Text(j, "description") ?? j.ToString()).ToList();

    /// <summary>One line per failed job (what failed and why).</summary>
    public IReadOnlyList<string> Failures =>
        TryGet(Json, "failures", out var f) && f.ValueKind == JsonValueKind.Array
            ? f.EnumerateArray().Select(x => x.ToString()).ToList()
            : Jobs.Where(j => Text(j, "status") == "failed").Select(j => $"{Text(j, "description")}: {Text(j, "error")}").ToList();

    /// <summary>Every accuracy the run reports for a (target, method) branch: (target, method, init, final).</summary>
    public IReadOnlyList<(string Target, string Method, double? Init, double? Final)> Branches
    {
        get
        {
            if (TryGet(Json, "branches", out var b) && b.ValueKind == JsonValueKind.Array)
                return b.EnumerateArray().Select(x => (Text(x, "target") ?? "", Text(x, "method") ?? "", Number(x, "accuracy_at_init"), Number(x, "accuracy_final"))).ToList();
            // A ledger of jobs: the evaluations of each (target, method), by phase.
            return Jobs.Where(j => Text(j, "stage") == "evaluate" && Text(j, "phase") is "init" or "final" && Text(j, "target") is not null)
                .GroupBy(j => (Target: Text(j, "target")!, Method: Text(j, "method") ?? ""))
                .Select(g => (g.Key.Target, g.Key.Method, Accuracy(g, "init"), Accuracy(g, "final")))
                .ToList();
        }
    }

    static double? Accuracy(IEnumerable<JsonElement> jobs, string phase) =>
        jobs.Where(j => Text(j, "phase") == phase && TryGet(j, "results", out var r) && r.ValueKind == JsonValueKind.Object)
            .Select(j => { TryGet(j, "results", out var r); return Number(r, "accuracy"); })
            .FirstOrDefault(a => a is not null);

    static double? Number(JsonElement e, string name) => TryGet(e, name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    public override string ToString() => Json.ToString();
}
