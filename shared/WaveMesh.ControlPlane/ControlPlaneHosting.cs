using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Hosting;
using WaveMesh.Messaging;
using WaveMesh.Observability;
using WaveMesh.Pipeline;
using WaveMesh.Workers;

namespace WaveMesh.ControlPlane;

/// <summary>Wiring of the control service: the teacher registry, the run store and supervisor, the REST API, event subscriptions, restore on start and the watchdog loop.</summary>
public static class ControlPlaneHosting
{
    public static WebApplicationBuilder AddControlPlane(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ControlOptions>().Bind(builder.Configuration.GetSection(ControlOptions.Section))
            .Validate(o => !o.Problems().Any(), $"invalid {ControlOptions.Section} settings").ValidateOnStart();
        builder.AddWaveMeshTransport([], consumeEvents: true);
        builder.Services.AddOpenApi();
        builder.Services.AddSingleton<RunLedger>();
        builder.Services.AddSingleton(sp => new LedgerFeed(sp.GetRequiredService<RunLedger>()));
        builder.Services.AddSingleton(sp => new LedgerPersistence(sp.GetRequiredService<RunLedger>(), sp.GetRequiredService<IRecordStore>()));
        // Everything the control plane publishes is seen by the ledger first (jobs are "queued" from that moment).
        builder.Services.AddSingleton(sp => new ObservedBus(sp.GetRequiredService<IEventBus>(), sp.GetRequiredService<RunLedger>()));
        builder.Services.AddSingleton(sp => new PipelineController(sp.GetRequiredService<ObservedBus>()));
        builder.Services.AddSingleton(sp => new ResultRecords(sp.GetRequiredService<IRecordStore>(), sp.GetRequiredService<IArtifactStore>()));
        builder.Services.AddSingleton(sp => new JobWatchdog(sp.GetRequiredService<IJobLeases>(), sp.GetRequiredService<ResultRecords>(),
            sp.GetRequiredService<ObservedBus>()) { ResultGrace = sp.GetRequiredService<IOptions<ControlOptions>>().Value.ResultGrace });
        builder.Services.AddSingleton(sp => new TeacherRegistry(sp.GetRequiredService<IArtifactStore>(), sp.GetRequiredService<IRecordStore>(),
            sp.GetRequiredService<DatasetRegistry>(), sp.GetRequiredService<IOptions<ControlOptions>>(), sp.GetRequiredService<ILogger<TeacherRegistry>>()));
        builder.Services.AddSingleton(sp => new DatasetRegistry(sp.GetRequiredService<IArtifactStore>(), sp.GetRequiredService<IRecordStore>(),
            sp.GetRequiredService<IOptions<ControlOptions>>(), sp.GetRequiredService<ILogger<DatasetRegistry>>()));
        builder.Services.AddSingleton(sp => new RunStore(sp.GetRequiredService<IRecordStore>()));
        builder.Services.AddSingleton(sp => new ModelRegistry(sp.GetRequiredService<IRecordStore>()));
        builder.Services.AddSingleton(sp =>
        {
            var controller = sp.GetRequiredService<PipelineController>();
            var supervisor = new RunSupervisor(sp.GetRequiredService<TeacherRegistry>(), sp.GetRequiredService<DatasetRegistry>(), sp.GetRequiredService<RunStore>(),
                sp.GetRequiredService<ModelRegistry>(), sp.GetRequiredService<ResultRecords>(), sp.GetRequiredService<ObservedBus>(), controller,
                sp.GetRequiredService<JobWatchdog>(), sp.GetRequiredService<RunLedger>(), sp.GetRequiredService<IOptions<ControlOptions>>(),
                sp.GetRequiredService<ILogger<RunSupervisor>>());
            // Every size of a run is decided before the run is announced complete.
            controller.BeforeCompletion = supervisor.PromoteAsync;
            return supervisor;
        });
        builder.Services.AddSingleton<IEventHandler>(sp => sp.GetRequiredService<RunSupervisor>());
        builder.Services.AddHostedService<ControlLoop>();
        // /health (readiness) says 503 until the ledger is loaded and unfinished runs are restored, as the API does.
        builder.Services.AddHealthChecks().AddCheck<RunLedgerReadiness>("run-ledger", tags: ["ready"]);
        return builder;
    }

    public static WebApplication MapControlPlane(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<TeacherRegistry>();
        var supervisor = app.Services.GetRequiredService<RunSupervisor>();
        // Until the ledger is loaded and runs are restored, the API would answer from an empty ledger (a 404 for a run
        // that exists): say "starting" instead.
        app.Use(async (http, next) =>
        {
            if (!supervisor.IsReady && http.Request.Path.StartsWithSegments("/api"))
            {
                http.Response.Headers.RetryAfter = "1";
                var detail = supervisor.StartupProblem is { } problem
                    ? $"the control service is starting and cannot load its run ledger yet: {problem}"
                    : "the control service is starting: its run ledger is being loaded";
                await Results.Problem(detail, statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(http);
                return;
            }
            await next();
        });
        app.UseWaveMeshTransport();
        app.MapEventHandler();
        app.MapDeadLetterHandler(supervisor.HandleDeadLetterAsync);
        app.MapOpenApi();
        app.MapLedgerApi(app.Services.GetRequiredService<RunLedger>(), app.Services.GetRequiredService<LedgerFeed>());
        app.MapDashboard(registry: true);
        var token = app.Services.GetRequiredService<IOptions<ControlOptions>>().Value.ResolveToken();
        var api = app.MapGroup("/api").AddEndpointFilter(async (ctx, next) =>
        {
            try { return await next(ctx); }
            catch (ControlException e) { return Results.Problem(e.Message, statusCode: e.Status); }
        });
        var write = api.MapGroup("").AddEndpointFilter(async (ctx, next) =>
        {
            // Mutating endpoints need the bearer token when one is configured.
            if (token is not null && ctx.HttpContext.Request.Headers.Authorization.ToString() != $"Bearer {token}")
                return Results.Problem("a bearer token is required (Authorization: Bearer <token>)", statusCode: StatusCodes.Status401Unauthorized);
            return await next(ctx);
        });

        write.MapPost("/teachers/{name}", async (string name, HttpContext http, int? heads, CancellationToken ct) =>
        {
            var limit = app.Services.GetRequiredService<IOptions<ControlOptions>>().Value.MaxUploadBytes;
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit;
            var result = await supervisor.StartRunsAsync(await registry.UploadAsync(name, http.Request.Body, http.Request.ContentLength,
                http.Request.Headers["X-Content-SHA256"].FirstOrDefault(), heads, ct), ct);
            return result.Changed ? Results.Created($"/api/teachers/{name}", result) : Results.Ok(result);
        }).WithSummary("Upload a teacher checkpoint (safetensors, timm names) as the next version of a named teacher");

        write.MapPost("/teachers/{name}/versions", async (string name, TeacherArtifact body, CancellationToken ct) =>
        {
            var result = await supervisor.StartRunsAsync(await registry.RegisterAsync(name, body.Digest, body.Heads, ct), ct);
            return result.Changed ? Results.Created($"/api/teachers/{name}", result) : Results.Ok(result);
        }).WithSummary("Register an artifact already in the store as the next version of a teacher");

        write.MapPut("/pipelines/{name}", async (string name, PipelineBody body, CancellationToken ct) =>
        {
            var pipeline = await registry.PutPipelineAsync(name, body.Teacher, body.Config, ct);
            var run = await supervisor.StartRunAsync(pipeline, ct);
            return Results.Ok(new { pipeline, run });
        }).WithSummary("Create or change a pipeline (which teacher it follows and its run configuration in YAML)");

        var datasets = app.Services.GetRequiredService<DatasetRegistry>();
        write.MapPut("/datasets/{name}", async (string name, HttpContext http, CancellationToken ct) =>
        {
            var limit = app.Services.GetRequiredService<IOptions<ControlOptions>>().Value.MaxUploadBytes;
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit;
            var (record, changed) = await datasets.UploadAsync(name, http.Request.Body, http.Request.ContentLength,
                http.Request.Headers["X-Content-SHA256"].FirstOrDefault(), ct);
            return changed ? Results.Created($"/api/datasets/{name}", record) : Results.Ok(record);
        }).WithSummary("Register a data set (a tar, plain or gzipped, of its files) as the archive jobs fetch by digest");
        api.MapGet("/datasets", async (CancellationToken ct) => Results.Ok(await datasets.AllAsync(ct)));
        api.MapGet("/datasets/{name}", async (string name, CancellationToken ct) =>
            await datasets.GetAsync(name, ct) is { } d ? Results.Ok(d) : Results.Problem($"data set {name} is not registered", statusCode: StatusCodes.Status404NotFound));

        api.MapGet("/teachers", async (CancellationToken ct) => Results.Ok(await registry.TeachersAsync(ct)));
        api.MapGet("/teachers/{name}", async (string name, CancellationToken ct) =>
            await registry.TeacherAsync(name, ct) is { } t ? Results.Ok(t) : Results.NotFound());
        api.MapGet("/pipelines", async (CancellationToken ct) => Results.Ok(await registry.PipelinesAsync(ct)));
        app.MapModelRegistry(api, write);
        app.MapTeacherReport(api);
        return app;
    }

    /// <summary>Body of a registration of an existing artifact.</summary>
    public sealed record TeacherArtifact(string Digest, int? Heads = null);

    /// <summary>Body of a pipeline definition.</summary>
    public sealed record PipelineBody(string Teacher, string Config);

    /// <summary>
    /// At start-up, waits for the store (a sidecar may come up after its app), loads the ledger and restores every
    /// unfinished run, retrying each step until it succeeds; only then are events handled. Then looks for stalled jobs
    /// at the configured interval.
    /// </summary>
    sealed class RunLedgerReadiness(RunSupervisor supervisor) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(supervisor.IsReady
                ? HealthCheckResult.Healthy("run ledger loaded")
                : HealthCheckResult.Unhealthy(supervisor.StartupProblem ?? "the run ledger is being loaded"));
    }

    sealed class ControlLoop(RunSupervisor supervisor, LedgerPersistence ledger, IOptions<ControlOptions> options, ILogger<ControlLoop> log) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await UntilDone("loading the run ledger", ledger.LoadAsync, stoppingToken);
            await UntilDone("restoring unfinished runs", supervisor.RestoreAsync, stoppingToken);
            supervisor.MarkReady();
            using var timer = new PeriodicTimer(options.Value.WatchdogInterval);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try { await supervisor.WatchOnceAsync(stoppingToken); }
                catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "watchdog pass failed"); }
            }
        }

        async Task UntilDone(string what, Func<CancellationToken, Task> step, CancellationToken ct)
        {
            var delay = TimeSpan.FromMilliseconds(250);
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    await step(ct);
                    supervisor.StartupProblem = null;
                    if (attempt > 1) log.LogInformation("{What}: done after {Attempts} attempts", what, attempt);
                    return;
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    var reason = e.GetBaseException().Message.ReplaceLineEndings(" ");
                    supervisor.StartupProblem = $"{what} failed (attempt {attempt}): {reason}";
                    log.LogWarning("{What} failed (attempt {Attempt}), trying again in {Delay}: {Reason}", what, attempt, delay, reason);
                    await Task.Delay(delay, ct);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                }
            }
        }
    }
}
