using Dapr;
using Dapr.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Messaging;
using WaveMesh.Workers;

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
        services.AddSingleton<IArtifactStore>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DaprOptions>>().Value;
            return new ChunkedArtifactStore(sp.GetRequiredService<IKeyValueStore>(), o.ChunkBytes, o.CacheDirectory);
        });
        services.AddSingleton<IJobLeases>(sp => new KeyValueJobLeases(sp.GetRequiredService<IKeyValueStore>()));
        return services;
    }

    /// <summary>
    /// One subscription per stage the worker runs (topic jobs.&lt;stage&gt;, dead letters to jobs.&lt;stage&gt;.dead). The handler
    /// only claims the job and starts it in the background, so the message is acknowledged at once: RETRY when every slot
    /// is busy (the broker offers it again, maybe to another replica), DROP for a message that is not a readable job.
    /// </summary>
    public static IEndpointRouteBuilder MapDaprJobSubscriptions(this IEndpointRouteBuilder app, JobHost host)
    {
        var pubsub = app.ServiceProvider.GetRequiredService<IOptions<DaprOptions>>().Value.PubSub;
        foreach (var jobType in MessageTypes.Jobs)
        {
            var topic = Topics.Of(jobType);
            if (!host.Stages.Any(s => Topics.Job(s) == topic)) continue;
            app.MapPost($"/dapr/{topic}", async (HttpContext http, CancellationToken ct) =>
                {
                    if (await Read(http, jobType) is not StageJob job) return Status("DROP");
                    return (await host.OfferAsync(job, ct)) switch
                    {
                        Offer.Busy => Status("RETRY"),
                        Offer.Rejected => Status("DROP"),
                        _ => Status("SUCCESS"),
                    };
                })
                .WithTopic(new TopicOptions { PubsubName = pubsub, Name = topic, DeadLetterTopic = Topics.DeadLetter(topic) });
        }
        return app;
    }

    /// <summary>Subscribes <paramref name="handle"/> to every event topic (the orchestrator's view of the pipeline).</summary>
    public static IEndpointRouteBuilder MapDaprEventSubscriptions(this IEndpointRouteBuilder app, Func<IntegrationEvent, CancellationToken, Task> handle)
    {
        var pubsub = app.ServiceProvider.GetRequiredService<IOptions<DaprOptions>>().Value.PubSub;
        foreach (var eventType in MessageTypes.Events)
        {
            var topic = Topics.Of(eventType);
            app.MapPost($"/dapr/{topic}", async (HttpContext http, CancellationToken ct) =>
                {
                    if (await Read(http, eventType) is not IntegrationEvent e) return Status("DROP");
                    await handle(e, ct);
                    return Status("SUCCESS");
                })
                .WithTopic(new TopicOptions { PubsubName = pubsub, Name = topic, DeadLetterTopic = Topics.DeadLetter(topic) });
        }
        return app;
    }

    /// <summary>CloudEvents unwrapping and the subscription discovery endpoint Dapr calls.</summary>
    public static WebApplication UseDaprSubscriptions(this WebApplication app)
    {
        app.UseCloudEvents();
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

    static async Task<object?> Read(HttpContext http, Type type)
    {
        try
        {
            using var reader = new StreamReader(http.Request.Body);
            return ContractJson.Deserialize(await reader.ReadToEndAsync(), type);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    static IResult Status(string status) => Results.Json(new { status });
}
