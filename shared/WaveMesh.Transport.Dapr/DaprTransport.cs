using Dapr;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Transport.Dapr;

/// <summary>Wiring of the Dapr adapters: the bus, the artifact store, leases, subscriptions and the app-token check.</summary>
public static class DaprTransport
{
    /// <summary>Registers DaprClient (endpoints and DAPR_API_TOKEN from configuration) and the Dapr implementations of the ports.</summary>
    public static IServiceCollection AddDaprTransport(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddDaprState(configuration);
        services.AddSingleton<DaprEventBus>();
        services.AddSingleton<IEventBus>(sp => sp.GetRequiredService<DaprEventBus>());
        services.AddSingleton<IDeadLetters>(sp => sp.GetRequiredService<DaprEventBus>());
        return services;
    }

    /// <summary>Only the state side (artifacts, records, leases) through the sidecar, for services whose broker is not Dapr.</summary>
    public static IServiceCollection AddDaprState(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<DaprOptions>().Bind(configuration.GetSection(DaprOptions.Section))
            .Validate(o => !o.Problems().Any(), "invalid WaveMesh:Dapr settings").ValidateOnStart();
        services.AddDaprClient();
        services.AddSingleton<IKeyValueStore, DaprKeyValueStore>();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DaprOptions>>().Value;
            return new ChunkedArtifactStore(sp.GetRequiredService<IKeyValueStore>(), o.ChunkBytes, o.CacheDirectory);
        });
        services.AddSingleton<IArtifactStore>(sp => sp.GetRequiredService<ChunkedArtifactStore>());
        services.AddSingleton<IRecordStore>(sp => sp.GetRequiredService<ChunkedArtifactStore>());
        services.AddSingleton<IJobLeases>(sp => new KeyValueJobLeases(sp.GetRequiredService<IKeyValueStore>()));
        return services;
    }

    /// <summary>
    /// One subscription per stage the worker runs (topic jobs.&lt;stage&gt;, dead letters to jobs.&lt;stage&gt;.dead). The handler
    /// holds the delivery until a slot is free and the job has started in the background, then answers SUCCESS, so a
    /// started job is acknowledged at once. A delivery that is not a readable job is answered DROP (daprd dead-letters it);
    /// a failure to take the job (the state store unreachable, say) is answered RETRY, never with a 5xx.
    /// </summary>
    public static IEndpointRouteBuilder MapDaprJobSubscriptions(this IEndpointRouteBuilder app, IJobOffer host)
    {
        var pubsub = app.ServiceProvider.GetRequiredService<IOptions<DaprOptions>>().Value.PubSub;
        var log = Log(app);
        foreach (var jobType in MessageTypes.Jobs)
        {
            var topic = Topics.Of(jobType);
            if (!host.Stages.Any(s => Topics.Job(s) == topic)) continue;
            app.MapPost($"/dapr/{topic}", (HttpContext http, CancellationToken ct) => Deliver(http, jobType, topic, log, async message =>
                    (await host.OfferAsync((StageJob)message, ct)) switch
                    {
                        Offer.Busy => Retry,
                        Offer.Rejected => Drop,
                        _ => Success,
                    }, ct))
                .WithTopic(new TopicOptions { PubsubName = pubsub, Name = topic, DeadLetterTopic = Topics.DeadLetter(topic) });
        }
        return app;
    }

    /// <summary>Subscribes <paramref name="handle"/> to every event topic (the orchestrator's view of the pipeline).</summary>
    public static IEndpointRouteBuilder MapDaprEventSubscriptions(this IEndpointRouteBuilder app, Func<IntegrationEvent, CancellationToken, Task> handle)
    {
        var pubsub = app.ServiceProvider.GetRequiredService<IOptions<DaprOptions>>().Value.PubSub;
        var log = Log(app);
        foreach (var eventType in MessageTypes.Events)
        {
            var topic = Topics.Of(eventType);
            app.MapPost($"/dapr/{topic}", (HttpContext http, CancellationToken ct) => Deliver(http, eventType, topic, log, async message =>
                {
                    await handle((IntegrationEvent)message, ct);
                    return Success;
                }, ct))
                .WithTopic(new TopicOptions { PubsubName = pubsub, Name = topic, DeadLetterTopic = Topics.DeadLetter(topic) });
        }
        return app;
    }

    /// <summary>
    /// Subscribes <paramref name="handle"/> to every stage's dead-letter topic (jobs.&lt;stage&gt;.dead): jobs daprd gave up
    /// delivering, and jobs a worker failed for good (their CloudEvent type is <see cref="FailedJobType"/>).
    /// </summary>
    public static IEndpointRouteBuilder MapDaprDeadLetterSubscriptions(this IEndpointRouteBuilder app, Func<StageJob, bool, CancellationToken, Task> handle)
    {
        var pubsub = app.ServiceProvider.GetRequiredService<IOptions<DaprOptions>>().Value.PubSub;
        var log = Log(app);
        foreach (var jobType in MessageTypes.Jobs)
        {
            var topic = Topics.DeadLetter(Topics.Of(jobType));
            app.MapPost($"/dapr/{topic}", (HttpContext http, CancellationToken ct) => Deliver(http, jobType, topic, log, async message =>
                {
                    await handle((StageJob)message, http.Items[CloudEventTypeItem] as string == FailedJobType, ct);
                    return Success;
                }, ct))
                .WithTopic(new TopicOptions { PubsubName = pubsub, Name = topic });
        }
        return app;
    }

    /// <summary>The CloudEvent type of a job a worker dead-letters after its last attempt (daprd honours cloudevent.type on publish).</summary>
    public const string FailedJobType = "io.wavemesh.job.failed";

    const string CloudEventTypeItem = "wavemesh.cloudevent.type";
    static readonly IResult Success = Status("SUCCESS"), Retry = Status("RETRY"), Drop = Status("DROP");

    static ILogger Log(IEndpointRouteBuilder app) => app.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("WaveMesh.Dapr.Subscriptions");

    /// <summary>
    /// One delivery from the sidecar: the CloudEvent's data read as <paramref name="type"/> and handed to
    /// <paramref name="handle"/>. daprd retries any 5xx (pkg/runtime/subscription/postman/http/http.go), so nothing
    /// here answers one: a delivery that is not a CloudEvent holding that contract is answered DROP, and a handler that
    /// fails is answered RETRY, each with one log line.
    /// </summary>
    static async Task<IResult> Deliver(HttpContext http, Type type, string topic, ILogger log, Func<object, Task<IResult>> handle, CancellationToken ct)
    {
        object message;
        try
        {
            var (data, cloudEventType) = await CloudEventData.ReadAsync(http.Request, ct);
            http.Items[CloudEventTypeItem] = cloudEventType;
            message = ContractJson.Deserialize(data, type);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or NotSupportedException or ArgumentException or FormatException or InvalidDataException)
        {
            log.LogWarning("dropped a delivery on {Topic} that is not a {Type}: {Reason}", topic, type.Name, e.Message.ReplaceLineEndings(" "));
            return Drop;
        }
        try
        {
            return await handle(message);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            log.LogWarning("{Type} on {Topic} not handled, the sidecar will deliver it again: {Reason}", type.Name, topic, e.Message.ReplaceLineEndings(" "));
            return Retry;
        }
    }

    /// <summary>Subscription discovery (GET /dapr/subscribe) as Dapr calls it; deliveries are unwrapped by <see cref="CloudEventData"/>.</summary>
    public static WebApplication UseDaprSubscriptions(this WebApplication app)
    {
        app.MapSubscribeHandler();
        return app;
    }

    /// <summary>
    /// When APP_API_TOKEN is set, every request to the sidecar-facing endpoints (/dapr/..., subscription discovery and
    /// event delivery) must carry it in the dapr-api-token header, which is how Dapr proves a request comes from the
    /// sidecar; others get 401. User-facing APIs have their own authentication.
    /// </summary>
    public static WebApplication UseAppApiToken(this WebApplication app)
    {
        var token = app.Configuration["APP_API_TOKEN"];
        if (string.IsNullOrEmpty(token)) return app;
        app.Use(async (http, next) =>
        {
            if (http.Request.Path.StartsWithSegments("/dapr") && !FixedTimeEquals(http.Request.Headers["dapr-api-token"].ToString(), token))
            {
                http.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return;
            }
            await next();
        });
        return app;
    }

    static bool FixedTimeEquals(string a, string b) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b));

    static IResult Status(string status) => Results.Json(new { status });
}
