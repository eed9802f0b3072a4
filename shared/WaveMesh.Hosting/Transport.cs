using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
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
/// sidecar is configured (WaveMesh:Artifacts:Store=dapr) and straight to Redis otherwise.
/// </summary>
public static class Transport
{
    public const string Key = "WaveMesh:Transport";
    public const string StoreKey = "WaveMesh:Artifacts:Store";
    public const string Dapr = "dapr";
    public const string RabbitMq = "rabbitmq";
    public const string Redis = "redis";
    public static readonly string[] Known = [Dapr, RabbitMq];

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
        if (Selected(configuration) == Dapr) services.AddDaprTransport(configuration);
        else
        {
            int slots = configuration.GetSection(WorkerOptions.Section).GetValue<int?>(nameof(WorkerOptions.Slots)) ?? 1;
            services.AddMassTransitTransport(configuration, stages, consumeEvents, slots);
            if (Store(configuration) == Dapr) services.AddDaprState(configuration);
            else AddRedisState(services, configuration);
        }
        return builder;
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
        if (Selected(app.Configuration) == Dapr)
        {
            var handler = app.Services.GetRequiredService<IEventHandler>();
            app.MapDaprEventSubscriptions(handler.HandleAsync);
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
        if (Selected(app.Configuration) == Dapr) app.MapDaprJobSubscriptions(app.Services.GetRequiredService<IJobOffer>());
        return app;
    }
}
