namespace WaveMesh.Dapr.Sidecar;

/// <summary>
/// How a <see cref="TestSidecar"/> behaves. Defaults are daprd 1.16's behaviour with our components
/// (components/pubsub.yaml: RabbitMQ; components/statestore.yaml: Redis) and dapr/resiliency.yaml. Tests that exercise
/// retries should shorten the intervals; the shape of the behaviour stays the same.
/// </summary>
public sealed class TestSidecarOptions
{
    /// <summary>
    /// The DAPR_API_TOKEN the sidecar demands: when set, every gRPC call and every HTTP call except
    /// <c>GET /v1.0/healthz</c> and <c>GET /v1.0/healthz/outbound</c> (exempt in daprd too) must carry header
    /// <c>dapr-api-token</c> with this value.
    /// </summary>
    public string? DaprApiToken { get; set; }

    /// <summary>App id reported by GetMetadata and used as the CloudEvent <c>source</c> of published events ("test-sidecar" when null).</summary>
    public string? AppId { get; set; }

    /// <summary>Names of the state store components (each an independent in-memory Redis).</summary>
    public IReadOnlyList<string> StateStores { get; set; } = ["statestore"];

    /// <summary>Names of the pub/sub components (each an independent in-memory RabbitMQ).</summary>
    public IReadOnlyList<string> PubSubs { get; set; } = ["pubsub"];

    /// <summary>Largest gRPC request message accepted (daprd's <c>--max-body-size</c>, 4 MB by default); larger ones fail with ResourceExhausted.</summary>
    public int MaxBodySizeBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// RabbitMQ <c>prefetchCount</c> (components/pubsub.yaml: 1): how many unacknowledged messages one replica's sidecar
    /// may hold per subscribed topic. 0 means no limit (AMQP basic.qos 0).
    /// </summary>
    public int PrefetchCount { get; set; } = 1;

    /// <summary>
    /// <c>maxRetries</c> of the inbound retry policy of the pub/sub component (dapr/resiliency.yaml deliveryRetry: 6, so
    /// up to 7 deliveries to the same replica per broker delivery). null or 0: one delivery per broker delivery (no
    /// resiliency target); -1: unlimited, as in daprd.
    /// </summary>
    public int? InboundRetries { get; set; } = 6;

    /// <summary><c>duration</c> of the constant inbound retry policy (dapr/resiliency.yaml deliveryRetry: 5 s).</summary>
    public TimeSpan InboundRetryInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A <c>timeout</c> on the inbound policy: how long one delivery to an app may take before it counts as a failed
    /// attempt. null (the default) = wait for the answer forever: daprd's app HTTP client has no timeout and
    /// dapr/resiliency.yaml sets none on inbound deliveries.
    /// </summary>
    public TimeSpan? AppRequestTimeout { get; set; }

    /// <summary>
    /// The circuit breaker of each replica's sidecar for each pub/sub component (dapr/resiliency.yaml dependencyBreaker,
    /// trip "consecutiveFailures &gt;= 5"): opens after this many consecutive failed deliveries / dead-letter
    /// publishes. null: no breaker.
    /// </summary>
    public int? CircuitBreakerConsecutiveFailures { get; set; } = 5;

    /// <summary>How long an open breaker stays open before it lets <see cref="CircuitBreakerMaxRequests"/> through (dependencyBreaker timeout: 30 s).</summary>
    public TimeSpan CircuitBreakerTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a closed breaker forgets its counts (dependencyBreaker interval: 60 s; zero = never).</summary>
    public TimeSpan CircuitBreakerInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Calls a half-open breaker lets through (dependencyBreaker maxRequests: 1).</summary>
    public int CircuitBreakerMaxRequests { get; set; } = 1;

    /// <summary>
    /// Start like daprd while it initialises its components: the gRPC and HTTP ports accept no calls (connections are
    /// closed at once, so gRPC calls fail with Unavailable and health probes fail) until
    /// <see cref="TestSidecar.BecomeAvailable"/>.
    /// </summary>
    public bool StartUnavailable { get; set; }

    /// <summary>
    /// Like daprd started with <c>--app-port</c>: <c>GET /v1.0/healthz</c> answers 500 ERR_HEALTH_NOT_READY until an app
    /// replica has been registered with <see cref="TestSidecar.AddAppAsync"/> (daprd waits for the app port, then
    /// reads its subscriptions, then reports ready). false: ready as soon as the sidecar is available (daprd without
    /// an app port).
    /// </summary>
    public bool WaitForApp { get; set; }

    /// <summary>
    /// The clock of state TTLs (metadata ttlInSeconds), of circuit breakers and of the inbound retry waits; replace
    /// it to expire values or open breakers without waiting.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (MaxBodySizeBytes <= 0) throw new ArgumentOutOfRangeException(nameof(MaxBodySizeBytes), "must be positive");
        if (PrefetchCount < 0) throw new ArgumentOutOfRangeException(nameof(PrefetchCount), "must not be negative");
        if (InboundRetries < -1) throw new ArgumentOutOfRangeException(nameof(InboundRetries), "must be -1 (unlimited) or more");
        if (InboundRetryInterval < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(InboundRetryInterval), "must not be negative");
        if (AppRequestTimeout is { } t && t <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(AppRequestTimeout), "must be positive or null");
        if (CircuitBreakerConsecutiveFailures is < 1) throw new ArgumentOutOfRangeException(nameof(CircuitBreakerConsecutiveFailures), "must be positive or null");
        if (CircuitBreakerTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(CircuitBreakerTimeout), "must not be negative");
        if (CircuitBreakerInterval < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(CircuitBreakerInterval), "must not be negative");
        if (CircuitBreakerMaxRequests < 0) throw new ArgumentOutOfRangeException(nameof(CircuitBreakerMaxRequests), "must not be negative");
        ArgumentNullException.ThrowIfNull(TimeProvider);
        foreach (var name in StateStores.Concat(PubSubs))
            if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("component names must not be empty");
    }
}
