using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.FileProviders;

namespace WaveMesh.Observability;

/// <summary>The ledger over HTTP: runs, one run, lineage of an artifact, server-sent events, and the dashboard.</summary>
public static class LedgerApi
{
    public static IEndpointRouteBuilder MapLedgerApi(this IEndpointRouteBuilder app, RunLedger ledger, LedgerFeed feed)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/runs", () => Results.Json(ledger.Summaries(), LedgerJson.Options))
            .WithSummary("Every run, newest first, with counts of its jobs by state");
        api.MapGet("/runs/{id:guid}", (Guid id) => ledger.Json(id) is { } json ? Results.Text(json, "application/json") : Results.NotFound())
            .WithSummary("One run: every job with its state, worker, times, live progress, loss curve and results");
        api.MapGet("/lineage/{digest}", (string digest) => Results.Json(ledger.Lineage(digest), LedgerJson.Options))
            .WithSummary("The jobs an artifact came from (up to its teacher) and the jobs that used it (down to evaluations)");
        api.MapGet("/events", async (HttpContext http, Guid? run, CancellationToken ct) =>
        {
            // Listening starts before the client hears it is connected: a change made right after is not missed.
            using var changes = feed.Subscribe();
            http.Response.Headers.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            await http.Response.WriteAsync(": connected\n\n", ct);
            await http.Response.Body.FlushAsync(ct);
            await foreach (var id in changes.Reader.ReadAllAsync(ct))
            {
                if (run is { } only && only != id) continue;
                if (ledger.Json(id) is not { } json) continue;
                await http.Response.WriteAsync($"event: run\ndata: {json}\n\n", ct);
                await http.Response.Body.FlushAsync(ct);
            }
        }).WithSummary("Server-sent events: the whole run each time it changes (event 'run'); ?run= narrows to one run");
        return app;
    }

    /// <summary>Serves the dashboard (index.html, app.js, style.css, embedded in this library) at /.</summary>
    /// <param name="registry">Whether the host serves the model registry API (the control plane), so the page shows its panel.</param>
    public static WebApplication MapDashboard(this WebApplication app, bool registry = false)
    {
        var files = new EmbeddedFileProvider(typeof(LedgerApi).Assembly, "dashboard");
        app.MapGet("/", () => Serve(files, "index.html"));
        // What this host offers beyond the ledger, so the page asks only for what exists.
        app.MapGet("/dashboard/features.json", () => Results.Json(new { registry }));
        app.MapGet("/dashboard/{file}", (string file) => Serve(files, file));
        return app;
    }

    static IResult Serve(IFileProvider files, string name)
    {
        var file = files.GetFileInfo(name);
        if (!file.Exists) return Results.NotFound();
        var type = Path.GetExtension(name) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            ".css" => "text/css; charset=utf-8",
            ".svg" => "image/svg+xml",
            _ => "application/octet-stream",
        };
        return Results.Stream(file.CreateReadStream(), type);
    }
}
