using System.Globalization;
using System.Net;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WaveMesh.Contracts;
using WaveMesh.Dapr.Sidecar;
using WaveMesh.Hosting;
using WaveMesh.Messaging;
using WaveMesh.Pipeline;
using WaveMesh.StageHosting;
using WaveMesh.Workers;

namespace WaveMesh.TransportBench;

/// <summary>One stage worker: a real ASP.NET Core host wired by WaveMesh.StageHosting (AddStageWorker, MapStageWorker) around an instant unit.</summary>
public sealed record WorkerApp(string Stage, string AppId, WebApplication App)
{
    public JobHost JobHost => App.Services.GetRequiredService<JobHost>();
    public Uri BaseAddress => new(App.Urls.First());
}

/// <summary>
/// A private WaveMesh deployment in this process on one transport: an orchestrator (the product's transport wiring, a
/// PipelineController and an event handler) and one worker per stage, each its own host with its own bus connection.
/// </summary>
public abstract class BenchMesh : IAsyncDisposable
{
    public static readonly IReadOnlyDictionary<string, string> AppIds = new Dictionary<string, string>
    {
        [StageNames.Distill] = "distiller",
        [StageNames.Scalers] = "scaler-trainer",
        [StageNames.Finetune] = "finetuner",
        [StageNames.Evaluate] = "evaluator",
    };

    protected BenchMesh(string name, string root)
    {
        Name = name;
        Root = root;
        Directory.CreateDirectory(root);
    }

    public string Name { get; }
    public string Root { get; }
    public Probe Probe { get; } = new();
    public WebApplication? Control { get; private set; }
    public Dictionary<string, WorkerApp> Workers { get; } = [];
    public int Slots { get; private set; }

    public IEventBus ControlBus => Control!.Services.GetRequiredService<IEventBus>();
    public PipelineController Controller => Control!.Services.GetRequiredService<PipelineController>();

    /// <summary>Settings every host of this deployment gets (transport, broker, store).</summary>
    protected abstract Dictionary<string, string?> Common(string host);
    protected virtual Task AfterStartAsync(string appId, WebApplication app, string? stage) => Task.CompletedTask;
    protected virtual void BeforeStop(string appId) { }
    protected virtual void MapExtra(WebApplication app, string? stage) { }
    /// <summary>Deliveries a worker answered "busy" (all slots taken) so far.</summary>
    public abstract long SlotWaits { get; }
    public abstract string Describe { get; }

    public async Task StartControlAsync()
    {
        var probe = Probe;
        Control = await StartHostAsync("control", Common("control"), b =>
        {
            b.AddWaveMeshTransport([], consumeEvents: true);
            b.Services.AddSingleton(sp => new PipelineController(sp.GetRequiredService<IEventBus>()));
            b.Services.AddSingleton<IEventHandler>(sp => new BenchEventHandler(sp.GetRequiredService<PipelineController>(), probe));
        }, app =>
        {
            app.UseWaveMeshTransport();
            app.MapEventHandler();
        });
        await AfterStartAsync("control", Control, null);
    }

    public async Task StartWorkersAsync(int slots)
    {
        Slots = slots;
        var units = FakeStages.All(Probe);
        foreach (var (stage, unit) in units)
        {
            var appId = AppIds[stage];
            var settings = Common(appId);
            settings["WaveMesh:Worker:Slots"] = slots.ToString(CultureInfo.InvariantCulture);
            settings["WaveMesh:Worker:Threads"] = "1";
            settings["WaveMesh:Worker:Device"] = "cpu";
            settings["WaveMesh:Worker:Name"] = $"{appId}-bench";
            settings["WaveMesh:Worker:WorkDirectory"] = Path.Combine(Root, appId, "work");
            var app = await StartHostAsync(appId, settings, b => b.AddStageWorker(unit), a =>
            {
                MapExtra(a, stage);
                a.MapStageWorker();
            });
            await AfterStartAsync(appId, app, stage);
            Workers[stage] = new WorkerApp(stage, appId, app);
        }
    }

    public async Task StopWorkersAsync()
    {
        foreach (var w in Workers.Values)
        {
            BeforeStop(w.AppId);
            await StopHostAsync(w.App);
        }
        Workers.Clear();
    }

    static async Task StopHostAsync(WebApplication app)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await app.StopAsync(timeout.Token); } catch (OperationCanceledException) { }
        await app.DisposeAsync();
    }

    async Task<WebApplication> StartHostAsync(string name, Dictionary<string, string?> settings, Action<WebApplicationBuilder> add, Action<WebApplication> map)
    {
        var content = Path.Combine(Root, name);
        Directory.CreateDirectory(content);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [],
            ApplicationName = typeof(BenchMesh).Assembly.GetName().Name,
            ContentRootPath = content,
            EnvironmentName = "Production",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        add(builder);
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }

    public virtual async ValueTask DisposeAsync()
    {
        await StopWorkersAsync();
        if (Control is not null)
        {
            BeforeStop("control");
            await StopHostAsync(Control);
        }
        GC.SuppressFinalize(this);
    }
}

/// <summary>MassTransit on the real RabbitMQ (a unique queue and exchange prefix) and Redis for records and leases.</summary>
public sealed class RabbitMqMesh(string root, Servers servers) : BenchMesh("rabbitmq", root)
{
    public string Prefix { get; } = "wmbench-" + Guid.NewGuid().ToString("N")[..10];
    public string KeyPrefix => Prefix + ":";

    public override long SlotWaits => Probe.SlowConsumes;
    public override string Describe => $"MassTransit 8.5 on RabbitMQ {servers.RabbitMqAddress} (queue prefix {Prefix}), records and leases in Redis {servers.Redis}";

    protected override Dictionary<string, string?> Common(string host) => new()
    {
        ["WaveMesh:Transport"] = "rabbitmq",
        ["WaveMesh:RabbitMq:Host"] = servers.RabbitMqHost,
        ["WaveMesh:RabbitMq:Port"] = servers.RabbitMqPort.ToString(CultureInfo.InvariantCulture),
        ["WaveMesh:RabbitMq:Username"] = servers.RabbitMqUser,
        ["WaveMesh:RabbitMq:Password"] = servers.RabbitMqPassword,
        ["WaveMesh:RabbitMq:QueuePrefix"] = Prefix,
        ["WaveMesh:Redis:Configuration"] = servers.Redis,
        ["WaveMesh:Redis:KeyPrefix"] = KeyPrefix,
        ["WaveMesh:Dapr:CacheDirectory"] = Path.Combine(Root, host, "cache"),
        // No sidecar: with the rabbitmq transport, artifacts, records and leases then go straight to Redis.
        ["DAPR_GRPC_ENDPOINT"] = "",
        ["DAPR_HTTP_ENDPOINT"] = "",
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "",
    };

    protected override Task AfterStartAsync(string appId, WebApplication app, string? stage)
    {
        if (stage is not null) app.Services.GetRequiredService<IBus>().ConnectConsumeObserver(new DeliveryObserver(Probe, stage));
        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        try
        {
            int n = await servers.DeleteBrokerEntitiesAsync(Prefix);
            long k = await servers.DeleteRedisKeysAsync(KeyPrefix);
            Log.Line($"rabbitmq: removed {n} queues/exchanges and {k} Redis keys of {Prefix}");
        }
        catch (Exception e) { Log.Line($"rabbitmq: clean-up of {Prefix} failed: {e.Message}"); }
    }
}

/// <summary>
/// Dapr through the fake daprd of the tests (tools/WaveMesh.Dapr.Sidecar): the real Dapr SDK (DaprClient over gRPC,
/// Dapr.AspNetCore subscriptions) in every host, but pub/sub and state are the fake's in-memory ones, in this process.
/// </summary>
public sealed class DaprMesh : BenchMesh
{
    public const string DaprApiToken = "bench-dapr-token";
    public const string AppApiToken = "bench-app-token";

    DaprMesh(string root, TestSidecar sidecar, TimeSpan retry) : base("dapr", root)
    {
        Sidecar = sidecar;
        Retry = retry;
    }

    public TestSidecar Sidecar { get; }
    public TimeSpan Retry { get; }

    public static async Task<DaprMesh> StartAsync(string root, TimeSpan deliveryRetry)
    {
        var sidecar = await TestSidecar.StartAsync(new TestSidecarOptions
        {
            DaprApiToken = DaprApiToken,
            AppId = "wavemesh-bench",
            // dapr/resiliency.yaml deliveryRetry: constant 5 s, 6 retries, then the dead-letter topic.
            InboundRetryInterval = deliveryRetry,
            MaxBodySizeBytes = 16 * 1024 * 1024,
        });
        return new DaprMesh(root, sidecar, deliveryRetry);
    }

    public override long SlotWaits => Sidecar.Deliveries.Count(d => d.Status == DeliveryStatus.Retry);
    public override string Describe => $"Dapr SDK against the in-process fake daprd (tools/WaveMesh.Dapr.Sidecar; in-memory pub/sub and state; RETRY redelivered after {Retry.TotalSeconds:0.###} s)";

    protected override Dictionary<string, string?> Common(string host) => new(Sidecar.ClientConfiguration(AppApiToken))
    {
        ["WaveMesh:Transport"] = "dapr",
        ["WaveMesh:Dapr:PubSub"] = "pubsub",
        ["WaveMesh:Dapr:StateStore"] = "statestore",
        ["WaveMesh:Dapr:CacheDirectory"] = Path.Combine(Root, host, "cache"),
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "",
    };

    protected override void MapExtra(WebApplication app, string? stage)
    {
        if (stage is null) return;
        var probe = Probe;
        // Stamps the moment the sidecar's delivery of a job reaches the worker's HTTP pipeline.
        app.Use(async (HttpContext http, RequestDelegate next) =>
        {
            if (HttpMethods.IsPost(http.Request.Method) && http.Request.Path.StartsWithSegments("/dapr")
                && (http.Request.Path.Value ?? "").StartsWith("/dapr/jobs.", StringComparison.Ordinal))
                probe.Delivered(stage);
            await next(http);
        });
    }

    protected override Task AfterStartAsync(string appId, WebApplication app, string? stage) =>
        Sidecar.AddAppAsync(appId, new Uri(app.Urls.First()), AppApiToken);

    protected override void BeforeStop(string appId) => Sidecar.RemoveApp(appId);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Sidecar.DisposeAsync();
    }
}
