using System.Net;
using System.Text.Json;
using Dapr.Client.Autogen.Grpc.v1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>
/// An in-process stand-in for daprd, for tests: Kestrel on 127.0.0.1 with a gRPC port (h2c, the part of
/// <c>dapr.proto.runtime.v1.Dapr</c> that DaprClient uses for state and publishing) and an HTTP port (health and
/// metadata), in-memory state stores with ETags, and an in-memory pub/sub that delivers CloudEvents to registered apps
/// the way daprd does (GET /dapr/subscribe, POST application/cloudevents+json, SUCCESS/RETRY/DROP, dead-letter topics).
/// </summary>
/// <example>
/// <code>
/// await using var sidecar = await TestSidecar.StartAsync();
/// var dapr = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).UseHttpEndpoint(sidecar.HttpEndpoint).Build();
/// </code>
/// </example>
public sealed class TestSidecar : IAsyncDisposable
{
    internal const string ApiTokenHeader = "dapr-api-token";
    const string DefaultAppId = "test-sidecar";

    readonly PubSubBroker broker;
    WebApplication? app;
    int disposed;

    public TestSidecar(string? daprApiToken = null) : this(new TestSidecarOptions { DaprApiToken = daprApiToken }) { }

    public TestSidecar(TestSidecarOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        State = new StateStores(options.StateStores, options.TimeProvider);
        broker = new PubSubBroker(options);
    }

    /// <summary>Creates and starts a sidecar.</summary>
    public static async Task<TestSidecar> StartAsync(TestSidecarOptions? options = null, CancellationToken cancellationToken = default)
    {
        var sidecar = new TestSidecar(options ?? new TestSidecarOptions());
        try
        {
            await sidecar.StartAsync(cancellationToken);
            return sidecar;
        }
        catch
        {
            await sidecar.DisposeAsync();
            throw;
        }
    }

    public TestSidecarOptions Options { get; }
    internal StateStores State { get; }

    /// <summary>"http://127.0.0.1:port" of the gRPC (h2c) listener: DAPR_GRPC_ENDPOINT.</summary>
    public string GrpcEndpoint { get; private set; } = "";

    /// <summary>"http://127.0.0.1:port" of the HTTP listener: DAPR_HTTP_ENDPOINT.</summary>
    public string HttpEndpoint { get; private set; } = "";

    /// <summary>Calls answered, by kind.</summary>
    public SidecarCounters Counters { get; } = new();

    // ---------------------------------------------------------------- lifecycle

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        if (app is not null) throw new InvalidOperationException("the sidecar is already started");

        // An empty builder: no appsettings.json, environment variables or command line of the test host (a service's
        // Kestrel endpoints or URLs there must not leak into the sidecar), no logging.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(TestSidecar).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Production",
        });
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        ListenOptions? grpcListen = null, httpListen = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, 0, l => { l.Protocols = HttpProtocols.Http2; grpcListen = l; });
            k.Listen(IPAddress.Loopback, 0, l => { l.Protocols = HttpProtocols.Http1AndHttp2; httpListen = l; });
        });
        builder.Services.AddSingleton(this);
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = Options.MaxBodySizeBytes;
            o.MaxSendMessageSize = null;
            o.EnableDetailedErrors = true;
            o.Interceptors.Add<ApiTokenInterceptor>();
        });
        builder.Services.AddSingleton<DaprGrpcService>();

        var web = builder.Build();
        web.Use(CheckHttpTokenAsync);
        web.MapGrpcService<DaprGrpcService>();
        // daprd answers both probes with 204 once it is up; both are exempt from the API token.
        web.MapGet("/v1.0/healthz", () => Results.NoContent());
        web.MapGet("/v1.0/healthz/outbound", () => Results.NoContent());
        web.MapGet("/v1.0/metadata", () => Results.Text(MetadataJson(), "application/json"));

        await web.StartAsync(cancellationToken);
        app = web;
        GrpcEndpoint = $"http://127.0.0.1:{grpcListen!.IPEndPoint!.Port}";
        HttpEndpoint = $"http://127.0.0.1:{httpListen!.IPEndPoint!.Port}";
    }

    async Task CheckHttpTokenAsync(HttpContext context, RequestDelegate next)
    {
        var expected = Options.DaprApiToken;
        bool grpc = context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;
        bool probe = HttpMethods.IsGet(context.Request.Method) &&
                     context.Request.Path.Value?.Trim('/') is "v1.0/healthz" or "v1.0/healthz/outbound";
        if (!grpc && !probe && !string.IsNullOrEmpty(expected) &&
            !string.Equals(context.Request.Headers[ApiTokenHeader].ToString(), expected, StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsync("invalid api token");
            return;
        }
        await next(context);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        await broker.DisposeAsync();
        if (app is not null)
        {
            using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await app.StopAsync(stopTimeout.Token); }
            catch (OperationCanceledException) { }
            await app.DisposeAsync();
        }
    }

    /// <summary>
    /// Configuration keys (and environment variable names) that point a DaprClient (AddDaprClient, DaprClientBuilder)
    /// at this sidecar: DAPR_GRPC_ENDPOINT, DAPR_HTTP_ENDPOINT, DAPR_API_TOKEN, and APP_API_TOKEN when given.
    /// </summary>
    public IReadOnlyDictionary<string, string?> ClientConfiguration(string? appApiToken = null)
    {
        var c = new Dictionary<string, string?>
        {
            ["DAPR_GRPC_ENDPOINT"] = GrpcEndpoint,
            ["DAPR_HTTP_ENDPOINT"] = HttpEndpoint,
        };
        if (!string.IsNullOrEmpty(Options.DaprApiToken)) c["DAPR_API_TOKEN"] = Options.DaprApiToken;
        if (!string.IsNullOrEmpty(appApiToken)) c["APP_API_TOKEN"] = appApiToken;
        return c;
    }

    // ---------------------------------------------------------------- apps and pub/sub

    /// <summary>
    /// Registers one replica of app <paramref name="appId"/> (add the same app-id again with another address for more
    /// replicas; they compete for messages) and reads its subscriptions with GET {address}/dapr/subscribe. When
    /// <paramref name="appApiToken"/> is set, every request to the app carries it in header dapr-api-token.
    /// </summary>
    public Task AddAppAsync(string appId, Uri appBaseAddress, string? appApiToken = null, CancellationToken cancellationToken = default) =>
        broker.AddReplicaAsync(appId, appBaseAddress, appApiToken, cancellationToken);

    /// <summary>Removes one replica (or, with no address, every replica) of an app-id. Queued messages go to the replicas left.</summary>
    public bool RemoveApp(string appId, Uri? appBaseAddress = null) => broker.RemoveReplica(appId, appBaseAddress);

    /// <summary>Reads every registered replica's subscriptions again.</summary>
    public Task RefreshSubscriptionsAsync(CancellationToken cancellationToken = default) => broker.RefreshAsync(cancellationToken);

    /// <summary>Subscriptions as read from the apps, per replica.</summary>
    public IReadOnlyList<(string AppId, Uri Replica, SubscriptionInfo Subscription)> Subscriptions => broker.Subscriptions();

    /// <summary>Things the sidecar ignored or dropped (bad subscriptions, messages dropped without a dead-letter topic, ...).</summary>
    public IReadOnlyList<string> Warnings => broker.Warnings;

    /// <summary>Messages apps published (successful PublishEvent calls), in order.</summary>
    public IReadOnlyList<PublishedMessage> Published => broker.Published;

    /// <summary>Messages the sidecar sent to a dead-letter topic, in order.</summary>
    public IReadOnlyList<PublishedMessage> DeadLettered => broker.DeadLettered;

    /// <summary>Every delivery attempt, in order.</summary>
    public IReadOnlyList<DeliveryRecord> Deliveries => broker.Deliveries;

    /// <summary>Forgets Published, DeadLettered, Deliveries and Warnings (not the state, not the apps).</summary>
    public void ClearRecords() => broker.ClearRecords();

    /// <summary>Completes when no message is queued or being delivered; throws TimeoutException after <paramref name="timeout"/>.</summary>
    public Task WaitForIdleAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        broker.WaitForIdleAsync(timeout, cancellationToken);

    /// <summary>The next <paramref name="n"/> PublishEvent calls fail with Internal (as when the broker is down).</summary>
    public void FailNextPublishes(int n) => broker.FailNextPublishes(n);

    /// <summary>Holds every delivery (publishing still works; messages queue up) until <see cref="ResumeDelivery"/>.</summary>
    public void PauseDelivery() => broker.Pause();

    public void ResumeDelivery() => broker.Resume();

    /// <summary>Publishes as an app would (PublishEvent), without going through gRPC.</summary>
    public void Publish(string pubsubName, string topic, byte[] data, string dataContentType = "application/json",
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var request = new PublishEventRequest { PubsubName = pubsubName, Topic = topic, Data = Google.Protobuf.ByteString.CopyFrom(data), DataContentType = dataContentType };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) request.Metadata[k] = v;
        Publish(request, null, null);
    }

    internal void Publish(PublishEventRequest request, string? traceParent, string? traceState)
    {
        if (string.IsNullOrEmpty(request.PubsubName)) throw new RpcException(new Status(StatusCode.InvalidArgument, "pubsub name is empty"));
        if (!broker.HasPubsub(request.PubsubName)) throw new RpcException(new Status(StatusCode.InvalidArgument, $"pubsub {request.PubsubName} not found"));
        if (string.IsNullOrEmpty(request.Topic)) throw new RpcException(new Status(StatusCode.InvalidArgument, $"topic is empty in pubsub {request.PubsubName}"));
        if (broker.TakeInjectedFailure())
            throw new RpcException(new Status(StatusCode.Internal,
                $"error when publish to topic {request.Topic} in pubsub {request.PubsubName}: injected failure (FailNextPublishes)"));

        var metadata = new Dictionary<string, string>(request.Metadata, StringComparer.Ordinal);
        var data = request.Data.ToByteArray();
        var built = CloudEvents.Build(request.PubsubName, request.Topic, data, request.DataContentType, metadata,
            Options.AppId ?? DefaultAppId, traceParent, traceState);
        broker.Publish(new PublishedMessage(request.PubsubName, request.Topic, built.Id, built.DataContentType, data, built.Payload, metadata));
    }

    // ---------------------------------------------------------------- state helpers for tests

    /// <summary>A copy of every live key and value of a state store.</summary>
    public IReadOnlyDictionary<string, byte[]> Snapshot(string store) => State.Snapshot(store);

    /// <summary>Replaces the stored bytes of a key with <paramref name="change"/>(bytes), keeping its ETag (silent corruption).</summary>
    public void Corrupt(string store, string key, Func<byte[], byte[]> change) => State.Corrupt(store, key, change);

    /// <summary>Writes a value directly (as a last-write save would) and returns its new ETag.</summary>
    public string SetState(string store, string key, byte[] value) => State.Put(store, key, value);

    // ---------------------------------------------------------------- metadata

    internal GetMetadataResponse BuildMetadata()
    {
        var response = new GetMetadataResponse { Id = Options.AppId ?? DefaultAppId, RuntimeVersion = "test-sidecar" };
        foreach (var name in State.Names)
        {
            var c = new RegisteredComponents { Name = name, Type = "state.in-memory", Version = "v1" };
            c.Capabilities.Add(["ETAG", "TRANSACTIONAL", "TTL"]);
            response.RegisteredComponents.Add(c);
        }
        foreach (var name in broker.PubSubNames)
            response.RegisteredComponents.Add(new RegisteredComponents { Name = name, Type = "pubsub.in-memory", Version = "v1" });
        foreach (var (_, _, s) in broker.Subscriptions().DistinctBy(x => (x.Subscription.PubsubName, x.Subscription.Topic)))
        {
            var sub = new PubsubSubscription { PubsubName = s.PubsubName, Topic = s.Topic, DeadLetterTopic = s.DeadLetterTopic ?? "", Rules = new PubsubSubscriptionRules() };
            foreach (var (k, v) in s.Metadata) sub.Metadata[k] = v;
            foreach (var r in s.Rules) sub.Rules.Rules.Add(new PubsubSubscriptionRule { Match = r.Match ?? "", Path = r.Path });
            response.Subscriptions.Add(sub);
        }
        return response;
    }

    string MetadataJson()
    {
        var m = BuildMetadata();
        return JsonSerializer.Serialize(new
        {
            id = m.Id,
            runtimeVersion = m.RuntimeVersion,
            components = m.RegisteredComponents.Select(c => new { name = c.Name, type = c.Type, version = c.Version, capabilities = c.Capabilities.ToArray() }),
            subscriptions = m.Subscriptions.Select(s => new
            {
                pubsubname = s.PubsubName,
                topic = s.Topic,
                deadLetterTopic = s.DeadLetterTopic,
                rules = s.Rules.Rules.Select(r => new { match = r.Match, path = r.Path }),
            }),
        });
    }
}
