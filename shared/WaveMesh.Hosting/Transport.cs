using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using WaveMesh.Artifacts;
using WaveMesh.Messaging;
using WaveMesh.Transport.Dapr;
using WaveMesh.Transport.MassTransit;
using WaveMesh.Transport.Redis;
using WaveMesh.Workers;

namespace WaveMesh.Hosting;

/// <summary>
/// The broker and the artifact store a service uses, chosen at start-up: WaveMesh:Transport is dapr (pub/sub and state
/// through the sidecar) or rabbitmq (MassTransit); with rabbitmq, artifacts go through the Dapr state store when a
/// sidecar is configured (WaveMesh:Artifacts:Store=dapr) and straight to Redis otherwise. inprocess puts the control
/// plane and the stage workers in one process (<c>wavemesh serve</c>): an in-process bus, in-memory leases and a file
/// store under WaveMesh:Store.
/// </summary>
public static class Transport
{
    public const string Key = "WaveMesh:Transport";
    public const string StoreKey = "WaveMesh:Artifacts:Store";
    public const string Dapr = "dapr";
    public const string RabbitMq = "rabbitmq";
    public const string Redis = "redis";
    public const string InProcess = "inprocess";
    /// <summary>The folder of the in-process transport's file store.</summary>
    public const string FileStoreKey = "WaveMesh:Store";
    public static readonly string[] Known = [Dapr, RabbitMq, InProcess];

    public static string Selected(IConfiguration configuration)
    {
        var name = (configuration[Key] ?? Dapr).Trim().ToLowerInvariant();
        return Known.Contains(name) ? name
            : throw new InvalidOperationException($"{Key} is '{name}': use one of {string.Join(", ", Known)}");
    }

    static string Store(IConfiguration configuration)
    {
        if (Selected(configuration) == Dapr) return Dapr;
        var name = configuration[StoreKey]?.Trim().ToLowerInvariant()
                   ?? (string.IsNullOrEmpty(configuration["DAPR_GRPC_ENDPOINT"]) ? Redis : Dapr);
        return name is Dapr or Redis ? name : throw new InvalidOperationException($"{StoreKey} is '{name}': use dapr or redis");
    }

    /// <summary>Registers the bus, artifact store, leases and dead letters of the selected transport, for a service consuming <paramref name="stages"/>' jobs and, when <paramref name="consumeEvents"/>, every event.</summary>
    public static WebApplicationBuilder AddWaveMeshTransport(this WebApplicationBuilder builder, IReadOnlyCollection<string> stages, bool consumeEvents)
    {
        var services = builder.Services;
        var configuration = builder.Configuration;
        var selected = Selected(configuration);
        if (selected == Dapr) services.AddDaprTransport(configuration);
        else if (selected == InProcess) AddInProcess(services, configuration);
        else
        {
            int slots = configuration.GetSection(WorkerOptions.Section).GetValue<int?>(nameof(WorkerOptions.Slots)) ?? 1;
            services.AddMassTransitTransport(configuration, stages, consumeEvents, slots);
            if (Store(configuration) == Dapr) services.AddDaprState(configuration);
            else AddRedisState(services, configuration);
        }
        return builder;
    }

    /// <summary>One bus, store and lease table for every part of the process (registered once, however many parts ask).</summary>
    static void AddInProcess(IServiceCollection services, IConfiguration configuration)
    {
        var root = configuration[FileStoreKey] ?? throw new InvalidOperationException($"{FileStoreKey} must name the store folder of the inprocess transport");
        services.TryAddSingleton<InProcessBus>();
        services.TryAddSingleton<IEventBus>(sp => sp.GetRequiredService<InProcessBus>());
        services.TryAddSingleton<Messaging.ISubscriber>(sp => sp.GetRequiredService<InProcessBus>());
        services.TryAddSingleton(_ => new FileArtifactStore(root));
        services.TryAddSingleton<IArtifactStore>(sp => sp.GetRequiredService<FileArtifactStore>());
        services.TryAddSingleton<IRecordStore>(sp => sp.GetRequiredService<FileArtifactStore>());
        services.TryAddSingleton<IJobLeases>(_ => new InMemoryJobLeases());
        services.TryAddSingleton<IDeadLetters>(sp => new LoggedDeadLetters(sp.GetRequiredService<ILogger<LoggedDeadLetters>>()));
    }

    /// <summary>The in-process transport's dead letters: nothing redelivers them, so they are logged (the job's StageFailed event ended its run).</summary>
    sealed class LoggedDeadLetters(ILogger<LoggedDeadLetters> log) : IDeadLetters
    {
        public Task SendAsync(WaveMesh.Contracts.StageJob job, string reason, CancellationToken cancellation = default)
        {
            log.LogWarning("job {Job} of run {Run} failed for good: {Reason}", job.Describe(), job.RunId, reason);
            return Task.CompletedTask;
        }
    }

    static void AddRedisState(IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(RedisOptions.Section).Get<RedisOptions>() ?? new RedisOptions();
        var cacheDirectory = configuration[$"{DaprOptions.Section}:CacheDirectory"] ?? new DaprOptions().CacheDirectory;
        services.AddSingleton<IConnectionMultiplexer>(_ =>
        {
            var c = ConfigurationOptions.Parse(options.Configuration);
            c.AbortOnConnectFail = false;   // keep trying while Redis restarts
            return ConnectionMultiplexer.Connect(c);
        });
        services.AddSingleton<IKeyValueStore>(sp => new RedisKeyValueStore(sp.GetRequiredService<IConnectionMultiplexer>(), options));
        services.AddSingleton(sp => new ChunkedArtifactStore(sp.GetRequiredService<IKeyValueStore>(), options.ChunkBytes, cacheDirectory));
        services.AddSingleton<IArtifactStore>(sp => sp.GetRequiredService<ChunkedArtifactStore>());
        services.AddSingleton<IRecordStore>(sp => sp.GetRequiredService<ChunkedArtifactStore>());
        services.AddSingleton<IJobLeases>(sp => new KeyValueJobLeases(sp.GetRequiredService<IKeyValueStore>()));
    }

    /// <summary>The transport's inbound side: for Dapr, CloudEvents, subscription discovery and the app-token check; MassTransit needs nothing mapped.</summary>
    public static WebApplication UseWaveMeshTransport(this WebApplication app)
    {
        if (Selected(app.Configuration) == Dapr)
        {
            app.UseAppApiToken();
            app.UseDaprSubscriptions();
        }
        return app;
    }

    /// <summary>Where the orchestrator's events arrive: Dapr subscriptions, or (RabbitMQ) the consumers already registered.</summary>
    public static WebApplication MapEventHandler(this WebApplication app)
    {
        var selected = Selected(app.Configuration);
        var handler = app.Services.GetRequiredService<IEventHandler>();
        if (selected == Dapr) app.MapDaprEventSubscriptions(handler.HandleAsync);
        else if (selected == InProcess)
        {
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("WaveMesh.Hosting.InProcess");
            // One at a time, in publication order, as the control plane handles one run's events.
            app.Services.GetRequiredService<Messaging.ISubscriber>().Subscribe<WaveMesh.Contracts.IntegrationEvent>(async (e, ct) =>
            {
                try { await handler.HandleAsync(e, ct); }
                catch (Exception x) when (x is not OperationCanceledException)
                {
                    log.LogError(x, "handling {Event} of run {Run} failed", e.GetType().Name, e.RunId);
                }
            });
        }
        return app;
    }

    /// <summary>Where jobs the broker gave up on arrive: Dapr's dead-letter topics (RabbitMQ keeps them in each stage's error queue).</summary>
    public static WebApplication MapDeadLetterHandler(this WebApplication app, Func<WaveMesh.Contracts.StageJob, bool, CancellationToken, Task> handle)
    {
        if (Selected(app.Configuration) == Dapr) app.MapDaprDeadLetterSubscriptions(handle);
        return app;
    }

    /// <summary>Where a worker's jobs arrive (at its <see cref="IJobOffer"/>): Dapr subscriptions, or (RabbitMQ) the consumers already registered.</summary>
    public static WebApplication MapJobHost(this WebApplication app)
    {
        var selected = Selected(app.Configuration);
        var offer = app.Services.GetRequiredService<IJobOffer>();
        if (selected == Dapr) app.MapDaprJobSubscriptions(offer);
        else if (selected == InProcess)
        {
            var stages = offer.Stages.ToHashSet(StringComparer.Ordinal);
            int slots = app.Configuration.GetSection(WorkerOptions.Section).GetValue<int?>(nameof(WorkerOptions.Slots)) ?? 1;
            // The job host holds a delivery until a slot is free, so as many deliveries as slots are taken at once.
            app.Services.GetRequiredService<Messaging.ISubscriber>().Subscribe<WaveMesh.Contracts.StageJob>(async (job, ct) =>
            {
                if (stages.Contains(job.Stage)) await offer.OfferAsync(job, ct);
            }, concurrency: slots);
        }
        return app;
    }
}
