namespace WaveMesh.Dapr.Sidecar;

/// <summary>How a <see cref="TestSidecar"/> behaves. Defaults follow daprd's defaults where daprd has one.</summary>
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

    /// <summary>Names of the state store components (each an independent in-memory store).</summary>
    public IReadOnlyList<string> StateStores { get; set; } = ["statestore"];

    /// <summary>Names of the pub/sub components.</summary>
    public IReadOnlyList<string> PubSubs { get; set; } = ["pubsub"];

    /// <summary>Largest gRPC request message accepted (daprd's <c>--max-body-size</c>, 4 MB by default); larger ones fail with ResourceExhausted.</summary>
    public int MaxBodySizeBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>How many times one message is offered to an app-id before it is dead-lettered (or dropped when the subscription has no dead-letter topic).</summary>
    public int MaxDeliveryAttempts { get; set; } = 5;

    /// <summary>Pause between two attempts to deliver the same message.</summary>
    public TimeSpan RedeliveryBackoff { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How long one HTTP request to an app may take before it counts as a failed attempt.</summary>
    public TimeSpan AppRequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The clock state TTLs (metadata ttlInSeconds) are measured with; replace it to expire values without waiting.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (MaxBodySizeBytes <= 0) throw new ArgumentOutOfRangeException(nameof(MaxBodySizeBytes), "must be positive");
        if (MaxDeliveryAttempts <= 0) throw new ArgumentOutOfRangeException(nameof(MaxDeliveryAttempts), "must be positive");
        if (RedeliveryBackoff < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RedeliveryBackoff), "must not be negative");
        if (AppRequestTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(AppRequestTimeout), "must be positive");
        ArgumentNullException.ThrowIfNull(TimeProvider);
        foreach (var name in StateStores.Concat(PubSubs))
            if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("component names must not be empty");
    }
}
