using System.Net;
using System.Text.Json;
using Dapr.Client.Autogen.Grpc.v1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>
/// An in-process stand-in for daprd 1.16 with our components, for tests: Kestrel on 127.0.0.1 with a gRPC port (h2c,
/// the part of <c>dapr.proto.runtime.v1.Dapr</c> that DaprClient uses for state and publishing) and an HTTP port (health
/// and metadata), in-memory Redis state stores, and an in-memory RabbitMQ whose messages every registered app replica's
/// own "sidecar" consumes and delivers the way daprd does (GET /dapr/subscribe, POST application/cloudevents+json,
/// SUCCESS/RETRY/DROP, inbound retries and circuit breaker of dapr/resiliency.yaml, dead-letter topics, nack and requeue).
/// See README.md for what is copied from daprd and what is not.
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
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, Microsoft.AspNetCore.Connections.ConnectionContext> connections = new();
    WebApplication? app;
    int disposed;
    volatile bool available;
    volatile bool ready;

    public TestSidecar(string? daprApiToken = null) : this(new TestSidecarOptions { DaprApiToken = daprApiToken }) { }

    public TestSidecar(TestSidecarOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        State = new StateStores(options.StateStores, options.TimeProvider);
        broker = new PubSubBroker(options);
        available = !options.StartUnavailable;
        broker.SetAvailable(available);
        UpdateReadiness();
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
            k.Listen(IPAddress.Loopback, 0, l => { l.Protocols = HttpProtocols.Http2; l.Use(RefuseWhileUnavailable); grpcListen = l; });
            k.Listen(IPAddress.Loopback, 0, l => { l.Protocols = HttpProtocols.Http1AndHttp2; l.Use(RefuseWhileUnavailable); httpListen = l; });
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
        // daprd: pkg/api/http/healthz.go 29-88, both probes exempt from the API token (AlwaysAllowed). healthz/outbound is
        // 204 as soon as the servers run (pkg/runtime/runtime.go 719); healthz is 500 ERR_HEALTH_NOT_READY until the
        // runtime target is ready (runtime.go 371-391, after the app port answered, 720 / 1280-1326).
        web.MapGet("/v1.0/healthz", (HttpContext c) =>
        {
            if (!ready)
                return Results.Text("""{"errorCode":"ERR_HEALTH_NOT_READY","message":"dapr is not ready: [runtime]"}""", "application/json", statusCode: 500);
            if (c.Request.Query.ContainsKey("appid") && c.Request.Query["appid"].ToString() != (Options.AppId ?? DefaultAppId))
                return Results.Text("""{"errorCode":"ERR_HEALTH_APPID_NOT_MATCH","message":"dapr app-id does not match"}""", "application/json", statusCode: 500);
            return Results.NoContent();
        });
        web.MapGet("/v1.0/healthz/outbound", () => Results.NoContent());
        web.MapGet("/v1.0/metadata", () => Results.Text(MetadataJson(), "application/json"));

        await web.StartAsync(cancellationToken);
        app = web;
        GrpcEndpoint = $"http://127.0.0.1:{grpcListen!.IPEndPoint!.Port}";
        HttpEndpoint = $"http://127.0.0.1:{httpListen!.IPEndPoint!.Port}";
    }

    /// <summary>
    /// While "unavailable" the ports take no calls: every new connection is closed at once, which a client sees like a
    /// daprd whose servers are not started yet (dapr: pkg/runtime/runtime.go 628-701, components first, then the gRPC and
    /// HTTP servers): HttpRequestException for the health probes (CheckHealthAsync/WaitForSidecarAsync see false),
    /// StatusCode.Unavailable for gRPC calls. (daprd refuses the TCP connection; here it is accepted and closed.)
    /// </summary>
    ConnectionDelegate RefuseWhileUnavailable(ConnectionDelegate next) => async connection =>
    {
        if (!available)
        {
            connection.Abort();
            return;
        }
        connections[connection.ConnectionId] = connection;
        try { await next(connection); }
        finally { connections.TryRemove(connection.ConnectionId, out _); }
    };

    /// <summary>True while the sidecar's ports take calls (see <see cref="TestSidecarOptions.StartUnavailable"/>).</summary>
    public bool IsAvailable => available;

    /// <summary>True once <c>GET /v1.0/healthz</c> answers 204 (see <see cref="TestSidecarOptions.WaitForApp"/>).</summary>
    public bool IsReady => ready;

    /// <summary>The sidecar comes up: its ports take calls, its replicas' consumers take messages again.</summary>
    public void BecomeAvailable()
    {
        available = true;
        broker.SetAvailable(true);
        UpdateReadiness();
    }

    /// <summary>
    /// The sidecar goes away (as if daprd stopped): open connections are closed, new ones are refused, gRPC calls fail
    /// with Unavailable, and no new deliveries start (those in flight finish). Apps stay registered.
    /// </summary>
    public void BecomeUnavailable()
    {
        available = false;
        broker.SetAvailable(false);
        foreach (var c in connections.Values) c.Abort();
    }

    void UpdateReadiness()
    {
        if (available && (!Options.WaitForApp || broker.HasReplicas)) ready = true;
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
    /// Registers one replica of app <paramref name="appId"/> together with its own sidecar, which reads the replica's
    /// subscriptions once with GET {address}/dapr/subscribe (headers Content-Type application/json, Dapr-App-Id and,
    /// when <paramref name="appApiToken"/> is set, dapr-api-token), declares the queues and starts consuming. Add the
    /// same app-id with another address for more replicas: they compete for the app-id's messages. Like daprd this
    /// never fails because of the app's answer: a 404 means no subscriptions, any other non-200 status, an undecodable
    /// answer or an unreachable app (after 3 retries) is a warning (see <see cref="Warnings"/>) and no subscriptions.
    /// Throws InvalidOperationException while the sidecar is unavailable (daprd subscribes only once it is up).
    /// </summary>
    public async Task AddAppAsync(string appId, Uri appBaseAddress, string? appApiToken = null, CancellationToken cancellationToken = default)
    {
        await broker.AddReplicaAsync(appId, appBaseAddress, appApiToken, cancellationToken);
        UpdateReadiness();
    }

    /// <summary>
    /// Removes one replica (or, with no address, every replica) of an app-id, with its sidecar: in-flight deliveries are
    /// cancelled and the broker requeues its unacked messages, which wait in the durable queue for another replica.
    /// </summary>
    public bool RemoveApp(string appId, Uri? appBaseAddress = null) => broker.RemoveReplica(appId, appBaseAddress);

    /// <summary>Subscriptions as read from the apps, per replica.</summary>
    public IReadOnlyList<(string AppId, Uri Replica, SubscriptionInfo Subscription)> Subscriptions => broker.Subscriptions();

    /// <summary>What daprd would have logged as a warning or error: bad or missing subscriptions, messages lost at the exchange, ...</summary>
    public IReadOnlyList<string> Warnings => broker.Warnings;

    /// <summary>Messages apps published (successful PublishEvent calls and <see cref="Publish"/>), in order.</summary>
    public IReadOnlyList<PublishedMessage> Published => broker.Published;

    /// <summary>Messages a sidecar published to a dead-letter topic, in order.</summary>
    public IReadOnlyList<PublishedMessage> DeadLettered => broker.DeadLettered;

    /// <summary>Every delivery attempt (HTTP POST to an app), in order.</summary>
    public IReadOnlyList<DeliveryRecord> Deliveries => broker.Deliveries;

    /// <summary>Every span the sidecar started (publishes and deliveries), in order.</summary>
    public IReadOnlyList<SidecarSpan> Spans => broker.Spans;

    /// <summary>How every broker delivery ended (ack, dead-letter and ack, nack and requeue, requeued by a removal), in order.</summary>
    public IReadOnlyList<MessageOutcome> Outcomes => broker.Outcomes;

    /// <summary>Messages waiting in each queue (app-id, pubsub, topic), including queues no replica consumes right now.</summary>
    public IReadOnlyDictionary<(string AppId, string Pubsub, string Topic), int> QueueDepths => broker.QueueDepths;

    /// <summary>State of the circuit breaker a replica's sidecar keeps for a pub/sub component (null: no such replica).</summary>
    public CircuitBreakerState? PubSubCircuitBreakerState(string appId, Uri appBaseAddress, string pubsubName = "pubsub") =>
        broker.BreakerState(appId, appBaseAddress, pubsubName);

    /// <summary>Forgets Published, DeadLettered, Deliveries, Outcomes and Warnings (not the state, not the apps, not the queues).</summary>
    public void ClearRecords() => broker.ClearRecords();

    /// <summary>
    /// Completes when no delivery is in flight and no message waits in a queue that a registered replica consumes
    /// (messages kept in a queue of an app-id without replicas do not count); throws TimeoutException after
    /// <paramref name="timeout"/>.
    /// </summary>
    public Task WaitForIdleAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        broker.WaitForIdleAsync(timeout, cancellationToken);

    /// <summary>The next <paramref name="n"/> publishes by apps fail with Internal (as when the broker is down); dead-letter publishes are not affected.</summary>
    public void FailNextPublishes(int n) => broker.FailNextPublishes(n);

    /// <summary>Holds deliveries (publishing still works; messages queue up) until <see cref="ResumeDelivery"/>.</summary>
    public void PauseDelivery() => broker.Pause();

    public void ResumeDelivery() => broker.Resume();

    /// <summary>Publishes as an app would (PublishEvent, with no trace context), without going through gRPC.</summary>
    public void Publish(string pubsubName, string topic, byte[] data, string dataContentType = "application/json",
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var request = new PublishEventRequest { PubsubName = pubsubName, Topic = topic, Data = Google.Protobuf.ByteString.CopyFrom(data), DataContentType = dataContentType };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) request.Metadata[k] = v;
        Publish(request, TraceContext.ChildOf(null));
    }

    /// <summary>daprd: pkg/api/grpc/grpc.go 141-254 (validateAndGetPubsubAndTopic, PublishEvent).</summary>
    internal void Publish(PublishEventRequest request, TraceContext span, TraceContext? parent = null)
    {
        if (!available) throw new RpcException(new Status(StatusCode.Unavailable, "the sidecar is unavailable"));
        // pkg/api/errors/pubsub.go 108-151: the validation errors and their codes.
        if (string.IsNullOrEmpty(request.PubsubName)) throw new RpcException(new Status(StatusCode.InvalidArgument, "pubsub name is empty"));
        if (!broker.HasPubsub(request.PubsubName)) throw new RpcException(new Status(StatusCode.InvalidArgument, $"pubsub {request.PubsubName} is not found"));
        if (string.IsNullOrEmpty(request.Topic)) throw new RpcException(new Status(StatusCode.InvalidArgument, $"topic is empty in pubsub {request.PubsubName}"));

        var metadata = new Dictionary<string, string>(request.Metadata, StringComparer.Ordinal);
        var data = request.Data.ToByteArray();
        var built = CloudEvents.Build(request.PubsubName, request.Topic, data, request.DataContentType, metadata, Options.AppId ?? DefaultAppId, span);
        // pkg/api/errors/pubsub.go 78-85: a failed component publish is Internal.
        if (broker.TakeInjectedFailure())
            throw new RpcException(new Status(StatusCode.Internal,
                $"error when publishing to topic {request.Topic} in pubsub {request.PubsubName}: injected failure (FailNextPublishes)"));
        // grpc.go 224-229: the whole metadata map goes to the component with the request (kept here only as an
        // observation); RabbitMQ forwards none of it to subscribers.
        broker.RecordSpan(span, parent, $"publish {request.PubsubName}/{request.Topic}");
        broker.Publish(new PublishedMessage(request.PubsubName, request.Topic, built.Id, built.DataContentType, data, built.Payload, metadata));
    }

    // ---------------------------------------------------------------- state helpers for tests

    /// <summary>A copy of every live key and value of a state store.</summary>
    public IReadOnlyDictionary<string, byte[]> Snapshot(string store) => State.Snapshot(store);

    /// <summary>Replaces the stored bytes of a key with <paramref name="change"/>(bytes), keeping its ETag (silent corruption).</summary>
    public void Corrupt(string store, string key, Func<byte[], byte[]> change) => State.Corrupt(store, key, change);

    /// <summary>
    /// Writes a value directly into the Redis hash (data, version + 1), bypassing ETag and first-write checks, keeping
    /// the key's expiry and first-write mark; returns the new ETag ("1" for a new key).
    /// </summary>
    public string SetState(string store, string key, byte[] value) => State.Put(store, key, value);

    // ---------------------------------------------------------------- metadata

    internal GetMetadataResponse BuildMetadata()
    {
        var response = new GetMetadataResponse { Id = Options.AppId ?? DefaultAppId, RuntimeVersion = "test-sidecar" };
        foreach (var name in State.Names)
        {
            // contrib: state/redis/redis.go 162-168 (Features without RedisJSON).
            var c = new RegisteredComponents { Name = name, Type = "state.redis", Version = "v1" };
            c.Capabilities.Add(["ETAG", "TRANSACTIONAL", "TTL"]);
            response.RegisteredComponents.Add(c);
        }
        foreach (var name in broker.PubSubNames)
        {
            // contrib: pubsub/rabbitmq/rabbitmq.go 730-732.
            var c = new RegisteredComponents { Name = name, Type = "pubsub.rabbitmq", Version = "v1" };
            c.Capabilities.Add("MESSAGE_TTL");
            response.RegisteredComponents.Add(c);
        }
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
