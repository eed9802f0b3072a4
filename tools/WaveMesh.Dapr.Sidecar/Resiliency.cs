namespace WaveMesh.Dapr.Sidecar;

/// <summary>State of a <see cref="CircuitBreaker"/> (gobreaker's three states).</summary>
public enum CircuitBreakerState { Closed, Open, HalfOpen }

/// <summary>
/// One circuit breaker of one sidecar for one component, as daprd builds it from a resiliency policy
/// (dapr: pkg/resiliency/breaker/circuitbreaker.go 78-138, a wrapper around github.com/sony/gobreaker v0.5.0 pinned by
/// dapr's go.mod line 47). daprd keeps one instance per component name and uses it for the inbound and the outbound
/// policy alike (dapr: pkg/resiliency/resiliency.go 846/859 outbound, 886/899 inbound, cache 994-1017), so failed
/// deliveries and failed publishes of that sidecar count on the same breaker.
/// </summary>
internal sealed class CircuitBreaker
{
    readonly Lock gate = new();
    readonly int consecutiveFailuresToTrip;
    readonly uint maxRequests;
    readonly TimeSpan interval;
    readonly TimeSpan timeout;
    readonly TimeProvider clock;

    CircuitBreakerState state = CircuitBreakerState.Closed;
    ulong generation;
    DateTimeOffset? expiry;
    uint requests, consecutiveSuccesses;
    int consecutiveFailures;

    public CircuitBreaker(int consecutiveFailuresToTrip, uint maxRequests, TimeSpan interval, TimeSpan timeout, TimeProvider clock)
    {
        this.consecutiveFailuresToTrip = consecutiveFailuresToTrip;
        // gobreaker: MaxRequests 0 means 1.
        this.maxRequests = maxRequests == 0 ? 1 : maxRequests;
        this.interval = interval;
        this.timeout = timeout;
        this.clock = clock;
        NewGeneration(clock.GetUtcNow());
    }

    public CircuitBreakerState State
    {
        get { lock (gate) return Current(clock.GetUtcNow()); }
    }

    /// <summary>
    /// gobreaker beforeRequest: null when the call may go ahead (its ticket is the generation), otherwise the error
    /// daprd reports ("circuit breaker is open" / "too many requests"); both are permanent for the retry loop
    /// (dapr: pkg/resiliency/breaker/circuitbreaker.go 70-74, pkg/resiliency/policy.go 216-219).
    /// </summary>
    public string? TryBegin(out ulong ticket)
    {
        lock (gate)
        {
            var s = Current(clock.GetUtcNow());
            ticket = generation;
            if (s == CircuitBreakerState.Open) return "circuit breaker is open";
            if (s == CircuitBreakerState.HalfOpen && requests >= maxRequests) return "too many requests";
            requests++;
            return null;
        }
    }

    /// <summary>gobreaker afterRequest: counts the result unless the breaker moved to another generation meanwhile.</summary>
    public void End(ulong ticket, bool success)
    {
        lock (gate)
        {
            var now = clock.GetUtcNow();
            var s = Current(now);
            if (ticket != generation) return;
            if (success)
            {
                consecutiveFailures = 0;
                consecutiveSuccesses++;
                if (s == CircuitBreakerState.HalfOpen && consecutiveSuccesses >= maxRequests) SetState(CircuitBreakerState.Closed, now);
            }
            else
            {
                consecutiveSuccesses = 0;
                consecutiveFailures++;
                // Our resiliency.yaml trips on "consecutiveFailures >= 5"; a failure while half-open opens again.
                if (s == CircuitBreakerState.Closed && consecutiveFailures >= consecutiveFailuresToTrip) SetState(CircuitBreakerState.Open, now);
                else if (s == CircuitBreakerState.HalfOpen) SetState(CircuitBreakerState.Open, now);
            }
        }
    }

    CircuitBreakerState Current(DateTimeOffset now)
    {
        // gobreaker currentState: the closed state clears its counts every `interval`; the open state turns half-open
        // after `timeout`.
        if (state == CircuitBreakerState.Closed && expiry is { } e && e < now) NewGeneration(now);
        else if (state == CircuitBreakerState.Open && expiry is { } o && o < now) SetState(CircuitBreakerState.HalfOpen, now);
        return state;
    }

    void SetState(CircuitBreakerState to, DateTimeOffset now)
    {
        if (state == to) return;
        state = to;
        NewGeneration(now);
    }

    void NewGeneration(DateTimeOffset now)
    {
        generation++;
        requests = 0;
        consecutiveSuccesses = 0;
        consecutiveFailures = 0;
        expiry = state switch
        {
            CircuitBreakerState.Closed => interval > TimeSpan.Zero ? now + interval : null,
            CircuitBreakerState.Open => now + timeout,
            _ => null,
        };
    }
}
