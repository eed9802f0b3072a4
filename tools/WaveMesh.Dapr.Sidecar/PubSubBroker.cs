using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>
/// The pub/sub side of the sidecars: an in-memory RabbitMQ as components-contrib's pubsub.rabbitmq v1.16.13 uses it with
/// components/pubsub.yaml, and one daprd per registered app replica consuming from it.
/// <list type="bullet">
/// <item>One durable queue per (app-id, pubsub, topic), "&lt;consumerID&gt;-&lt;topic&gt;" with consumerID = app-id
/// (contrib: pubsub/rabbitmq/rabbitmq.go 328-334; dapr: pkg/runtime/processor/pubsub/pubsub.go 79-83), bound to the
/// topic's fanout exchange: replicas of one app-id compete for its messages, every app-id gets its own copy
/// (rabbitmq.go 371-377, 482-496). A queue exists from the first subscription on; until then a publish to the topic is
/// lost for that app-id; afterwards messages wait in it while no replica runs (durable, deletedWhenUnused false, 465).</item>
/// <item>Every replica is its own sidecar and its own consumer of each queue it subscribes to, with prefetchCount
/// unacked messages (basic.qos, rabbitmq.go 472-480) handled in parallel (concurrencyMode parallel, 611-618).</item>
/// <item>The sidecar's handler returns nil (ack) or an error (nack with requeue = requeueInFailure true; rabbitmq.go
/// 635-653); a consumer that goes away has its unacked messages requeued by the broker.</item>
/// </list>
/// </summary>
internal sealed class PubSubBroker : IAsyncDisposable
{
    /// <summary>
    /// Time between a nack and the broker handing the message out again (a network round trip). Not a setting of daprd
    /// or RabbitMQ: it keeps a message that a sidecar keeps refusing (breaker open, no dead-letter topic) from spinning
    /// a CPU core.
    /// </summary>
    static readonly TimeSpan BrokerRoundTrip = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// dapr: pkg/resiliency/resiliency.go 403-417 (BuiltInInitializationRetries, used for GET /dapr/subscribe by
    /// pkg/runtime/pubsub/subscriptions.go 113-125): 3 retries of a transport error, exponential from 500 ms x1.5 up
    /// to 1 s (the ±50 % jitter is not modelled).
    /// </summary>
    static readonly TimeSpan[] DiscoveryRetryWaits = [TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(750), TimeSpan.FromSeconds(1)];

    readonly TestSidecarOptions options;
    readonly HashSet<string> pubsubs;
    readonly HttpClient http;
    readonly CancellationTokenSource stopping = new();
    readonly Lock gate = new();
    readonly Dictionary<string, List<Replica>> apps = new(StringComparer.Ordinal);
    readonly Dictionary<(string App, string Pubsub, string Topic), BrokerQueue> queues = [];
    readonly List<PublishedMessage> published = [];
    readonly List<PublishedMessage> deadLettered = [];
    readonly List<DeliveryRecord> deliveries = [];
    readonly List<MessageOutcome> outcomes = [];
    readonly List<string> warnings = [];
    readonly HashSet<Task> running = [];
    int failNextPublishes;
    int roundTrips;
    bool paused;
    bool available = true;
    bool disposed;
    TaskCompletionSource resumed = NewGate();

    public PubSubBroker(TestSidecarOptions options)
    {
        this.options = options;
        pubsubs = new HashSet<string>(options.PubSubs, StringComparer.Ordinal);
        // Like daprd, a separate process: the trace context of a delivery is the CloudEvent's, never this process's
        // ambient activity (no propagator, so HttpClient does not replace the traceparent header set below). No
        // timeout: daprd's app channel client has none (dapr: pkg/runtime/channels/channels.go 335-340).
        http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromMinutes(1), ActivityHeadersPropagator = null })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>One app replica together with its own daprd.</summary>
    internal sealed class Replica(string appId, Uri baseAddress, string? token)
    {
        public string AppId { get; } = appId;
        public Uri BaseAddress { get; } = baseAddress;
        public string? Token { get; } = token;
        public IReadOnlyList<SubscriptionInfo> Subscriptions { get; set; } = [];
        public List<Consumer> Consumers { get; } = [];
        /// <summary>daprd keeps one breaker per component name (dapr: pkg/resiliency/resiliency.go 994-1017).</summary>
        public Dictionary<string, CircuitBreaker> Breakers { get; } = new(StringComparer.Ordinal);
        public CancellationTokenSource Stopping { get; } = new();
    }

    internal sealed record Message(string Pubsub, string Topic, byte[] Payload, string? Id, string DataContentType);

    internal sealed class QueuedMessage(Message message)
    {
        public Message Message { get; } = message;
        public int BrokerDeliveries;
    }

    internal sealed class BrokerQueue(string appId, string pubsub, string topic)
    {
        public string AppId { get; } = appId;
        public string Pubsub { get; } = pubsub;
        public string Topic { get; } = topic;
        public LinkedList<QueuedMessage> Ready { get; } = new();
        public List<Consumer> Consumers { get; } = [];
        public int NextConsumer;
    }

    internal sealed class Consumer(Replica replica, SubscriptionInfo subscription, BrokerQueue queue)
    {
        public Replica Replica { get; } = replica;
        public SubscriptionInfo Subscription { get; } = subscription;
        public BrokerQueue Queue { get; } = queue;
        /// <summary>Unacked deliveries (and nacks still on their way to the broker): what basic.qos limits.</summary>
        public int Unacked;
        public List<InFlight> InFlight { get; } = [];
    }

    internal sealed class InFlight(QueuedMessage queued)
    {
        public QueuedMessage Queued { get; } = queued;
        public bool Settled;
    }

    public IEnumerable<string> PubSubNames => pubsubs;

    // ---------------------------------------------------------------- apps and subscriptions

    public async Task AddReplicaAsync(string appId, Uri baseAddress, string? appApiToken, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(appId);
        ArgumentNullException.ThrowIfNull(baseAddress);
        if (!baseAddress.IsAbsoluteUri || (baseAddress.Scheme != Uri.UriSchemeHttp && baseAddress.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException("the app address must be an absolute http(s) URI", nameof(baseAddress));
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!available)
                throw new InvalidOperationException("the sidecar is unavailable: daprd reads GET /dapr/subscribe only once its servers are up; call BecomeAvailable() first");
        }
        var normalized = baseAddress.AbsoluteUri.EndsWith('/') ? baseAddress : new Uri(baseAddress.AbsoluteUri + "/");
        // A replica registered again is a restarted sidecar: the old one goes away first.
        RemoveReplica(appId, normalized);

        var replica = new Replica(appId, normalized, appApiToken);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping.Token);
        replica.Subscriptions = await FetchSubscriptionsAsync(replica, linked.Token);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!apps.TryGetValue(appId, out var list)) apps[appId] = list = [];
            list.Add(replica);
            foreach (var sub in replica.Subscriptions)
            {
                // RabbitMQ Subscribe: declare the durable queue <app-id>-<topic>, bind it, consume with basic.qos.
                var key = (appId, sub.PubsubName, sub.Topic);
                if (!queues.TryGetValue(key, out var queue)) queues[key] = queue = new BrokerQueue(appId, sub.PubsubName, sub.Topic);
                var consumer = new Consumer(replica, sub, queue);
                replica.Consumers.Add(consumer);
                queue.Consumers.Add(consumer);
                Pump(queue);
            }
        }
    }

    public bool RemoveReplica(string appId, Uri? baseAddress)
    {
        var removed = new List<Replica>();
        lock (gate)
        {
            if (!apps.TryGetValue(appId, out var list)) return false;
            foreach (var r in list.Where(r => baseAddress is null || r.BaseAddress.AbsoluteUri.TrimEnd('/') == baseAddress.AbsoluteUri.TrimEnd('/')).ToList())
            {
                list.Remove(r);
                removed.Add(r);
                foreach (var c in r.Consumers)
                {
                    c.Queue.Consumers.Remove(c);
                    // The consumer's channel closes: RabbitMQ puts its unacked messages back, in their order, at the head.
                    for (int i = c.InFlight.Count - 1; i >= 0; i--)
                    {
                        var f = c.InFlight[i];
                        f.Settled = true;
                        c.Queue.Ready.AddFirst(f.Queued);
                        outcomes.Add(new MessageOutcome(c.Queue.Pubsub, c.Queue.Topic, appId, r.BaseAddress, f.Queued.Message.Id,
                            f.Queued.BrokerDeliveries, 0, OutcomeKind.ReplicaRemoved, "the replica was removed with the message unacked", DateTimeOffset.UtcNow));
                    }
                    c.InFlight.Clear();
                    Pump(c.Queue);
                }
            }
            if (list.Count == 0) apps.Remove(appId);
        }
        foreach (var r in removed) r.Stopping.Cancel();
        return removed.Count > 0;
    }

    /// <summary>
    /// dapr: pkg/runtime/pubsub/subscriptions.go 101-199 (GetSubscriptionsHTTP), called once per daprd
    /// (pkg/runtime/processor/subscriber/subscriber.go 510-560). Never throws for what the app answers: daprd logs and
    /// runs without subscriptions.
    /// </summary>
    async Task<IReadOnlyList<SubscriptionInfo>> FetchSubscriptionsAsync(Replica replica, CancellationToken ct)
    {
        HttpResponseMessage? response = null;
        for (int attempt = 0; response is null; attempt++)
        {
            // subscriptions.go 102-110: GET dapr/subscribe, content type application/json, header Dapr-App-Id
            // (pkg/api/http/consts/consts.go 16); the app token as on every app channel request
            // (pkg/channel/http/http_channel.go 551-553).
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(replica.BaseAddress, "dapr/subscribe"));
            request.Content = new ByteArrayContent([]);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.TryAddWithoutValidation("Dapr-App-Id", replica.AppId);
            if (!string.IsNullOrEmpty(replica.Token)) request.Headers.TryAddWithoutValidation(TestSidecar.ApiTokenHeader, replica.Token);
            try
            {
                response = await http.SendAsync(request, ct);
            }
            catch (HttpRequestException e)
            {
                if (attempt >= DiscoveryRetryWaits.Length)
                {
                    Warn($"app {replica.AppId} at {replica.BaseAddress}: failed to subscribe to topics: GET /dapr/subscribe failed: {e.Message}");
                    return [];
                }
                await Task.Delay(DiscoveryRetryWaits[attempt], ct);
            }
        }
        using (response)
        {
            var found = new List<string>();
            List<SubscriptionInfo>? subs;
            switch (response.StatusCode)
            {
                case HttpStatusCode.OK:
                    // subscriptions.go 137-187: only a 200 is read.
                    subs = SubscriptionParser.Parse(await response.Content.ReadAsByteArrayAsync(ct), found, replica.AppId) ?? [];
                    break;
                case HttpStatusCode.NotFound:
                    // subscriptions.go 189-190: no programmatic subscriptions.
                    subs = [];
                    break;
                default:
                    // subscriptions.go 192-195: any other status is logged and means no subscriptions.
                    found.Add($"app {replica.AppId} at {replica.BaseAddress}: app returned http status code {(int)response.StatusCode} from subscription endpoint; no subscriptions");
                    subs = [];
                    break;
            }
            // subscriber.go 334-336: subscriptions are started per configured pubsub; others are never used.
            foreach (var s in subs.Where(s => !pubsubs.Contains(s.PubsubName)))
                found.Add($"app {replica.AppId} subscribes to {s.PubsubName}/{s.Topic} but there is no pubsub named {s.PubsubName}");
            var usable = new List<SubscriptionInfo>();
            foreach (var s in subs.Where(s => pubsubs.Contains(s.PubsubName)))
            {
                if (usable.Any(u => u.PubsubName == s.PubsubName && u.Topic == s.Topic))
                    found.Add($"app {replica.AppId} subscribes to {s.PubsubName}/{s.Topic} twice; the test sidecar uses the first");
                else usable.Add(s);
            }
            lock (gate) warnings.AddRange(found);
            return usable;
        }
    }

    public IReadOnlyList<(string AppId, Uri Replica, SubscriptionInfo Subscription)> Subscriptions()
    {
        lock (gate)
            return apps.Values.SelectMany(list => list.SelectMany(r => r.Subscriptions.Select(s => (r.AppId, r.BaseAddress, s)))).ToList();
    }

    public bool HasReplicas { get { lock (gate) return apps.Count > 0; } }

    public IReadOnlyList<string> Warnings { get { lock (gate) return warnings.ToArray(); } }

    public CircuitBreakerState? BreakerState(string appId, Uri replica, string pubsub)
    {
        lock (gate)
        {
            if (!apps.TryGetValue(appId, out var list)) return null;
            var r = list.FirstOrDefault(r => r.BaseAddress.AbsoluteUri.TrimEnd('/') == replica.AbsoluteUri.TrimEnd('/'));
            return r is not null && r.Breakers.TryGetValue(pubsub, out var b) ? b.State : r is null ? null : CircuitBreakerState.Closed;
        }
    }

    // ---------------------------------------------------------------- publishing

    public void FailNextPublishes(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        Interlocked.Exchange(ref failNextPublishes, n);
    }

    /// <summary>True when an injected failure is due (and consumes it).</summary>
    public bool TakeInjectedFailure()
    {
        while (true)
        {
            int n = Volatile.Read(ref failNextPublishes);
            if (n <= 0) return false;
            if (Interlocked.CompareExchange(ref failNextPublishes, n - 1, n) == n) return true;
        }
    }

    public bool HasPubsub(string name) => pubsubs.Contains(name);

    public void Publish(PublishedMessage record)
    {
        var message = new Message(record.PubsubName, record.Topic, record.Payload, record.Id, record.DataContentType);
        lock (gate)
        {
            published.Add(record);
            Enqueue(message);
        }
    }

    /// <summary>The fanout exchange of the topic: a copy into every queue bound to it. Caller holds the gate.</summary>
    void Enqueue(Message message)
    {
        bool bound = false;
        foreach (var q in queues.Values)
        {
            if (q.Pubsub != message.Pubsub || q.Topic != message.Topic) continue;
            bound = true;
            q.Ready.AddLast(new QueuedMessage(message));
            Pump(q);
        }
        if (!bound)
            warnings.Add($"message {message.Id} published to {message.Pubsub}/{message.Topic}, where no queue is bound yet (no app-id ever subscribed): lost, as RabbitMQ drops it at the fanout exchange");
    }

    // ---------------------------------------------------------------- dispatch

    /// <summary>basic.deliver: hands ready messages to consumers with room under their prefetch count, round-robin. Caller holds the gate.</summary>
    void Pump(BrokerQueue q)
    {
        if (paused || !available || disposed) return;
        while (q.Ready.Count > 0 && q.Consumers.Count > 0)
        {
            Consumer? chosen = null;
            for (int i = 0; i < q.Consumers.Count; i++)
            {
                var c = q.Consumers[(q.NextConsumer + i) % q.Consumers.Count];
                if (options.PrefetchCount == 0 || c.Unacked < options.PrefetchCount)
                {
                    chosen = c;
                    q.NextConsumer = (q.NextConsumer + i + 1) % q.Consumers.Count;
                    break;
                }
            }
            if (chosen is null) return;
            var queued = q.Ready.First!.Value;
            q.Ready.RemoveFirst();
            queued.BrokerDeliveries++;
            var f = new InFlight(queued);
            chosen.InFlight.Add(f);
            chosen.Unacked++;
            // concurrencyMode parallel: every delivery is handled on its own (rabbitmq.go 611-618).
            Track(Task.Run(() => HandleAsync(chosen, f)));
        }
    }

    void PumpAll()
    {
        foreach (var q in queues.Values) Pump(q);
    }

    void Track(Task task)
    {
        lock (gate) running.Add(task);
        task.ContinueWith(t => { lock (gate) running.Remove(t); }, TaskScheduler.Default);
    }

    /// <summary>Ack or nack from the sidecar's handler (contrib: pubsub/rabbitmq/rabbitmq.go 635-653).</summary>
    void Settle(Consumer c, InFlight f, OutcomeKind kind, string reason, int attempts)
    {
        bool roundTrip = false;
        CancellationToken stop = default;
        lock (gate)
        {
            if (f.Settled) return; // the replica was removed meanwhile: the broker already requeued it
            f.Settled = true;
            c.InFlight.Remove(f);
            var m = f.Queued.Message;
            outcomes.Add(new MessageOutcome(m.Pubsub, m.Topic, c.Replica.AppId, c.Replica.BaseAddress, m.Id, f.Queued.BrokerDeliveries,
                attempts, kind, reason, DateTimeOffset.UtcNow));
            if (kind == OutcomeKind.Requeued)
            {
                // Nack(requeue: true): back to the head of the queue, for any consumer, with a fresh resiliency cycle.
                c.Queue.Ready.AddFirst(f.Queued);
                roundTrip = !disposed;
                if (roundTrip)
                {
                    roundTrips++;
                    stop = stopping.Token;
                }
                else c.Unacked--;
            }
            else c.Unacked--;
            Pump(c.Queue);
        }
        if (roundTrip)
        {
            Track(Task.Run(async () =>
            {
                try { await Task.Delay(BrokerRoundTrip, stop); }
                catch (OperationCanceledException) { }
                lock (gate)
                {
                    roundTrips--;
                    c.Unacked--;
                    Pump(c.Queue);
                }
            }));
        }
    }

    // ---------------------------------------------------------------- the sidecar's handler

    CircuitBreaker? BreakerOf(Replica r, string pubsub)
    {
        if (options.CircuitBreakerConsecutiveFailures is not { } trip) return null;
        lock (gate)
        {
            if (!r.Breakers.TryGetValue(pubsub, out var b))
                r.Breakers[pubsub] = b = new CircuitBreaker(trip, (uint)options.CircuitBreakerMaxRequests, options.CircuitBreakerInterval,
                    options.CircuitBreakerTimeout, options.TimeProvider);
            return b;
        }
    }

    async Task HandleAsync(Consumer c, InFlight f)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(c.Replica.Stopping.Token, stopping.Token);
        var ct = linked.Token;
        try
        {
            var (kind, reason, attempts) = await RunHandlerAsync(c, f, ct);
            Settle(c, f, kind, reason, attempts);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The replica was removed (its unacked messages are already back in the queue) or the broker is stopping;
            // daprd does not dead-letter during shutdown either (dapr: subscription.go 297-298).
        }
        catch (Exception e)
        {
            Warn($"test sidecar: handling a message for {c.Replica.AppId} failed unexpectedly: {e}");
            Settle(c, f, OutcomeKind.Requeued, $"unexpected: {e.Message}", 0);
        }
    }

    /// <summary>dapr: pkg/runtime/subscription/subscription.go 131-311, the handler daprd gives the component's Subscribe.</summary>
    async Task<(OutcomeKind Kind, string Reason, int Attempts)> RunHandlerAsync(Consumer c, InFlight f, CancellationToken ct)
    {
        var r = c.Replica;
        var sub = c.Subscription;
        var m = f.Queued.Message;
        var pubsub = sub.PubsubName;
        var dlq = sub.DeadLetterTopic;

        // When daprd ends the message before calling the app: DLQ and ack if that works, else the error -> nack.
        (OutcomeKind, string, int) Fail(string reason)
        {
            if (dlq is not null && DeadLetter(r, m, pubsub, dlq, reason).Ok) return (OutcomeKind.DeadLettered, reason, 0);
            return (OutcomeKind.Requeued, reason, 0);
        }

        // subscription.go 154-166: the subscription's rawPayload metadata must be a bool.
        bool raw = CloudEvents.IsRawPayload(sub.Metadata, out var rawError);
        if (rawError is not null) return Fail($"error deserializing pubsub metadata: {rawError}");

        byte[] body;
        JsonElement cloudEvent;
        if (raw)
        {
            // subscription.go 170-195: wrapped by FromRawPayload, a new id per broker delivery (the same for every
            // retry of the inbound policy, which all send these bytes).
            body = CloudEvents.FromRawPayload(m.Payload, m.Topic, pubsub, Guid.NewGuid().ToString());
            cloudEvent = JsonDocument.Parse(body).RootElement.Clone();
        }
        else
        {
            // subscription.go 196-210: json.Unmarshal into a map; not a JSON object -> DLQ or nack.
            if (!GoJson.TryUnmarshal(m.Payload, out var parsed) || parsed.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
                return Fail("error deserializing cloud event: the message is not a JSON object");
            cloudEvent = parsed.ValueKind == JsonValueKind.Object ? parsed : JsonDocument.Parse("{}").RootElement.Clone();
            body = m.Payload;
        }

        // subscription.go 232-240: an expired event is acked (and dead-lettered if possible, errors ignored).
        if (CloudEvents.HasExpired(cloudEvent, DateTimeOffset.UtcNow))
        {
            if (dlq is not null && DeadLetter(r, m, pubsub, dlq, "expired").Ok) return (OutcomeKind.DeadLettered, "expired", 0);
            return (OutcomeKind.Acked, "expired", 0);
        }

        // subscription.go 242-254: an evaluation error of a routing rule -> DLQ or nack.
        var route = sub.MatchRoute(cloudEvent, out var routeError);
        if (routeError is not null) return Fail($"error finding matching route: {routeError}");

        // subscription.go 256-264: no rule matched -> ack, and dead-letter if possible (errors ignored).
        if (route is null)
        {
            if (dlq is not null && DeadLetter(r, m, pubsub, dlq, "no matching route").Ok) return (OutcomeKind.DeadLettered, "no matching route", 0);
            return (OutcomeKind.Acked, "no matching route", 0);
        }

        // subscription.go 275-296: the inbound resiliency policy of this sidecar around postman.Deliver, always to this
        // sidecar's app (pkg/runtime/subscription/postman/http/http.go 87: the sidecar's single app channel).
        var breaker = BreakerOf(r, pubsub);
        int maxRetries = options.InboundRetries ?? 0;
        string lastError = "";
        int attempt = 0;
        while (true)
        {
            await WaitWhilePausedAsync(ct);
            attempt++;
            ulong ticket = 0;
            // dapr: pkg/resiliency/policy.go 206-230: the breaker wraps every attempt; open or too many requests is a
            // permanent error that ends the retries at once (216-219).
            if (breaker?.TryBegin(out ticket) is { } rejected)
            {
                lastError = rejected;
                attempt--;
                break;
            }
            var result = await AttemptAsync(r, sub, m, f.Queued.BrokerDeliveries, attempt, route, body, cloudEvent, ct);
            breaker?.End(ticket, result.Ok);
            if (result.Ok) return (result.Kind, result.Reason, attempt);
            lastError = result.Reason;
            // kit: retry/retry.go 117-137: maxRetries N allows N retries after the first attempt; -1 is unlimited.
            if (maxRetries >= 0 && attempt > maxRetries) break;
            // kit: retry/retry.go 120-121: a constant back-off between attempts.
            if (options.InboundRetryInterval > TimeSpan.Zero) await Task.Delay(options.InboundRetryInterval, options.TimeProvider, ct);
        }

        // subscription.go 297-310: the policy gave up. With a dead-letter topic: publish there and ack; without one, or
        // when that publish fails (e.g. the same breaker is open), the error goes to the component -> nack, requeue.
        var why = $"{lastError} (after {attempt} deliveries)";
        if (dlq is not null)
        {
            var (ok, dlqError) = DeadLetter(r, m, pubsub, dlq, why);
            if (ok) return (OutcomeKind.DeadLettered, why, attempt);
            why += $"; the dead-letter publish failed: {dlqError}";
        }
        return (OutcomeKind.Requeued, why, attempt);
    }

    readonly record struct AttemptResult(bool Ok, OutcomeKind Kind, string Reason);

    /// <summary>One run of the operation inside daprd's policy runner (subscription.go 276-296).</summary>
    async Task<AttemptResult> AttemptAsync(Replica r, SubscriptionInfo sub, Message m, int brokerDelivery, int attempt, string route,
        byte[] body, JsonElement cloudEvent, CancellationToken ct)
    {
        var (status, code, error) = await PostAsync(r, sub.PubsubName, route, body, cloudEvent, ct);
        lock (gate)
            deliveries.Add(new DeliveryRecord(sub.PubsubName, m.Topic, r.AppId, r.BaseAddress, route, m.Id, attempt, status, code, error,
                DateTimeOffset.UtcNow, brokerDelivery));
        switch (status)
        {
            case DeliveryStatus.Success:
                return new AttemptResult(true, OutcomeKind.Acked, "SUCCESS");
            case DeliveryStatus.Drop when code == 404:
                // http.go 140-148: a 404 returns nil -> acked; not dead-lettered.
                return new AttemptResult(true, OutcomeKind.Acked, "the app answered 404: acked, not dead-lettered");
            case DeliveryStatus.Drop:
                // subscription.go 282-291: DROP is dead-lettered when there is a dead-letter topic, then acked; if that
                // publish fails, ErrMessageDropped goes back to the policy, which retries it.
                if (sub.DeadLetterTopic is null) return new AttemptResult(true, OutcomeKind.Acked, "DROP (no dead-letter topic)");
                var (ok, dlqError) = DeadLetter(r, m, sub.PubsubName, sub.DeadLetterTopic, "the app answered DROP");
                return ok
                    ? new AttemptResult(true, OutcomeKind.DeadLettered, "DROP")
                    : new AttemptResult(false, OutcomeKind.Requeued, $"DROP, but the dead-letter publish failed: {dlqError}");
            default:
                return new AttemptResult(false, OutcomeKind.Requeued, error ?? status.ToString());
        }
    }

    /// <summary>
    /// subscription.go 343-358 (sendToDeadLetter): the exact bytes from the broker go to the dead-letter topic through
    /// this sidecar's outbound pub/sub policy (dapr: pkg/runtime/pubsub/publisher/publisher.go 69-75), i.e. through the
    /// same circuit breaker as the deliveries.
    /// </summary>
    (bool Ok, string? Error) DeadLetter(Replica r, Message m, string pubsub, string deadLetterTopic, string reason)
    {
        var breaker = BreakerOf(r, pubsub);
        ulong ticket = 0;
        if (breaker?.TryBegin(out ticket) is { } rejected) return (false, rejected);
        var record = new PublishedMessage(pubsub, deadLetterTopic, m.Id, m.DataContentType, m.Payload, m.Payload,
            new Dictionary<string, string> { ["pubsubName"] = pubsub }, m.Topic, r.AppId, reason);
        lock (gate)
        {
            deadLettered.Add(record);
            Enqueue(m with { Topic = deadLetterTopic });
        }
        breaker?.End(ticket, true);
        return (true, null);
    }

    async Task<(DeliveryStatus, int?, string?)> PostAsync(Replica r, string pubsub, string route, byte[] body, JsonElement cloudEvent, CancellationToken ct)
    {
        System.Diagnostics.Activity.Current = null;   // the delivery loop's context is not the message's
        // http.go 69-73: POST <route>, the broker's bytes, content type application/cloudevents+json, and the message
        // metadata as headers, which for RabbitMQ is just pubsubName (subscription.go 143-147).
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(r.BaseAddress, route.TrimStart('/')));
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(CloudEvents.ContentType);
        request.Headers.TryAddWithoutValidation("pubsubname", pubsub);
        if (!string.IsNullOrEmpty(r.Token)) request.Headers.TryAddWithoutValidation(TestSidecar.ApiTokenHeader, r.Token);
        // http.go 76-84 + pkg/diagnostics/tracing.go 167-178 + http_channel.go 540-549: a client span under the event's
        // traceparent (else traceid), sent as traceparent with a new span id; no tracestate (the parent's is not parsed).
        string? parent = null;
        if (cloudEvent.TryGetProperty("traceparent", out var tp) && tp.ValueKind != JsonValueKind.Null) parent = tp.ValueKind == JsonValueKind.String ? tp.GetString() : "";
        else if (cloudEvent.TryGetProperty("traceid", out var tid) && tid.ValueKind != JsonValueKind.Null) parent = tid.ValueKind == JsonValueKind.String ? tid.GetString() : "";
        if (parent is not null)
        {
            var parentContext = TraceContext.Parse(parent);
            var span = TraceContext.ChildOf(parentContext);
            RecordSpan(span, parentContext, $"deliver {pubsub}/{route}");
            request.Headers.TryAddWithoutValidation("traceparent", span.ToString());
        }

        // dapr: pkg/resiliency/policy.go 143-193: only a timeout on the inbound policy ends a delivery that hangs.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (options.AppRequestTimeout is { } limit) timeout.CancelAfter(limit);
        try
        {
            using var response = await http.SendAsync(request, timeout.Token);
            int code = (int)response.StatusCode;
            var answer = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            if (code >= 200 && code <= 299) return (Classify(answer), code, null);
            if (code == 404) return (DeliveryStatus.Drop, code, Shorten(answer));
            return (DeliveryStatus.Failed, code, $"retriable error returned from app: status code {code}, body: {Shorten(answer)}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (DeliveryStatus.Failed, null, "context deadline exceeded (AppRequestTimeout)");
        }
        catch (HttpRequestException e)
        {
            // http.go 90-93: an app channel error is retriable.
            return (DeliveryStatus.Failed, null, $"error returned from app channel while sending pub/sub event to app: {e.Message}");
        }
        catch (IOException e) when (!ct.IsCancellationRequested)
        {
            return (DeliveryStatus.Failed, null, $"error returned from app channel while sending pub/sub event to app: {e.Message}");
        }
    }

    static string? Shorten(byte[] bytes)
    {
        if (bytes.Length == 0) return null;
        var text = Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 500));
        return text;
    }

    /// <summary>
    /// http.go 105-138: json.NewDecoder(body).Decode(&amp;AppResponse{Status string}). Only the first JSON value is read;
    /// no value or one that does not decode into the struct is a success; then "" and SUCCESS succeed, RETRY and
    /// unknown statuses are retried, DROP drops. Keys match case-insensitively, the last duplicate wins, null leaves the
    /// field unchanged, any other non-string value is a decode error.
    /// </summary>
    internal static DeliveryStatus Classify(byte[] body)
    {
        if (!GoJson.TryDecodeFirst(body, out var value, out _)) return DeliveryStatus.Success;
        if (value.ValueKind != JsonValueKind.Object) return DeliveryStatus.Success; // null: no-op; others: type error
        string status = "";
        foreach (var p in value.EnumerateObject())
        {
            if (!string.Equals(p.Name, "status", StringComparison.OrdinalIgnoreCase)) continue;
            if (p.Value.ValueKind == JsonValueKind.String) status = p.Value.GetString() ?? "";
            else if (p.Value.ValueKind != JsonValueKind.Null) return DeliveryStatus.Success; // UnmarshalTypeError -> "skipping status check"
        }
        return status switch
        {
            "" or "SUCCESS" => DeliveryStatus.Success,
            "DROP" => DeliveryStatus.Drop,
            _ => DeliveryStatus.Retry, // RETRY, and any status daprd does not know (case-sensitive)
        };
    }

    // ---------------------------------------------------------------- control and observation

    async Task WaitWhilePausedAsync(CancellationToken ct)
    {
        Task wait;
        lock (gate)
        {
            if (!paused) return;
            wait = resumed.Task;
        }
        await wait.WaitAsync(ct);
    }

    public void Pause()
    {
        lock (gate) paused = true;
    }

    public void Resume()
    {
        TaskCompletionSource old;
        lock (gate)
        {
            paused = false;
            old = resumed;
            resumed = NewGate();
            PumpAll();
        }
        old.TrySetResult();
    }

    /// <summary>While the sidecar is unavailable its consumers take no new messages.</summary>
    public void SetAvailable(bool value)
    {
        lock (gate)
        {
            available = value;
            PumpAll();
        }
    }

    void Warn(string text) { lock (gate) warnings.Add(text); }

    /// <summary>
    /// Messages in flight plus messages waiting in a queue that has a consumer. A queue without any consumer (no replica
    /// of its app-id registered) keeps its messages but does not count: nothing could take them.
    /// </summary>
    int PendingUnderGate() =>
        roundTrips + queues.Values.Sum(q => q.Consumers.Sum(c => c.InFlight.Count) + (q.Consumers.Count > 0 ? q.Ready.Count : 0));

    public int Pending { get { lock (gate) return PendingUnderGate(); } }

    /// <summary>Messages waiting in queues, by (app-id, pubsub, topic), whether or not a replica consumes them.</summary>
    public IReadOnlyDictionary<(string AppId, string Pubsub, string Topic), int> QueueDepths
    {
        get { lock (gate) return queues.ToDictionary(kv => kv.Key, kv => kv.Value.Ready.Count); }
    }

    public async Task WaitForIdleAsync(TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Pending > 0)
        {
            if (DateTime.UtcNow >= deadline)
            {
                bool isPaused;
                lock (gate) isPaused = paused || !available;
                throw new TimeoutException($"the test sidecar still has {Pending} message deliveries pending after {timeout}" +
                    (isPaused ? " (delivery is paused or the sidecar is unavailable)" : "") +
                    $"; last deliveries: {string.Join("; ", Deliveries.TakeLast(5))}; last outcomes: {string.Join("; ", Outcomes.TakeLast(5))}");
            }
            await Task.Delay(10, ct);
        }
    }

    public IReadOnlyList<PublishedMessage> Published { get { lock (gate) return published.ToArray(); } }
    public IReadOnlyList<PublishedMessage> DeadLettered { get { lock (gate) return deadLettered.ToArray(); } }
    public IReadOnlyList<DeliveryRecord> Deliveries { get { lock (gate) return deliveries.ToArray(); } }

    readonly List<SidecarSpan> spans = [];

    public void RecordSpan(TraceContext span, TraceContext? parent, string name)
    {
        lock (gate) spans.Add(new SidecarSpan(span.TraceId, span.SpanId, parent?.SpanId, name));
    }

    public IReadOnlyList<SidecarSpan> Spans { get { lock (gate) return spans.ToArray(); } }
    public IReadOnlyList<MessageOutcome> Outcomes { get { lock (gate) return outcomes.ToArray(); } }

    public void ClearRecords()
    {
        lock (gate)
        {
            published.Clear();
            deadLettered.Clear();
            deliveries.Clear();
            outcomes.Clear();
            warnings.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task[] tasks;
        List<Replica> all;
        TaskCompletionSource gateToOpen;
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            tasks = running.ToArray();
            all = apps.Values.SelectMany(l => l).ToList();
            gateToOpen = resumed;
        }
        await stopping.CancelAsync();
        gateToOpen.TrySetResult();
        try { await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(10)); }
        catch (TimeoutException) { }
        catch (OperationCanceledException) { }
        foreach (var r in all) r.Stopping.Dispose();
        http.Dispose();
        stopping.Dispose();
    }
}
