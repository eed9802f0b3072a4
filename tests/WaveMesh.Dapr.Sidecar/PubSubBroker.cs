using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>
/// The in-memory broker: apps (app-ids, each with one or more replicas) and their subscriptions, one queue and one
/// background dispatcher per (app-id, pubsub, topic), competing consumers inside an app-id, fan-out across app-ids.
/// </summary>
internal sealed class PubSubBroker : IAsyncDisposable
{
    readonly TestSidecarOptions options;
    readonly HashSet<string> pubsubs;
    readonly HttpClient http;
    readonly CancellationTokenSource stopping = new();
    readonly Lock gate = new();
    readonly Dictionary<string, AppEntry> apps = new(StringComparer.Ordinal);
    readonly Dictionary<(string App, string Pubsub, string Topic), Dispatcher> dispatchers = [];
    readonly List<PublishedMessage> published = [];
    readonly List<PublishedMessage> deadLettered = [];
    readonly List<DeliveryRecord> deliveries = [];
    readonly List<string> warnings = [];
    int pending;
    int failNextPublishes;
    TaskCompletionSource? paused;

    public PubSubBroker(TestSidecarOptions options)
    {
        this.options = options;
        pubsubs = new HashSet<string>(options.PubSubs, StringComparer.Ordinal);
        // Like daprd, a separate process: the trace context of a delivery is the CloudEvent's, never this process's
        // ambient activity (no propagator, so HttpClient does not replace the traceparent header set below).
        http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromMinutes(1), ActivityHeadersPropagator = null })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    sealed class AppEntry(string appId)
    {
        public string AppId { get; } = appId;
        public List<Replica> Replicas { get; } = [];
        public int NextReplica;
    }

    internal sealed class Replica(Uri baseAddress, string? token)
    {
        public Uri BaseAddress { get; } = baseAddress;
        public string? Token { get; set; } = token;
        public IReadOnlyList<SubscriptionInfo> Subscriptions { get; set; } = [];
    }

    sealed record Message(string Pubsub, string Topic, byte[] Payload, string ContentType, string? Id, IReadOnlyDictionary<string, string> Metadata);

    public IEnumerable<string> PubSubNames => pubsubs;

    // ---------------------------------------------------------------- apps and subscriptions

    public async Task AddReplicaAsync(string appId, Uri baseAddress, string? appApiToken, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(appId);
        ArgumentNullException.ThrowIfNull(baseAddress);
        if (!baseAddress.IsAbsoluteUri || (baseAddress.Scheme != Uri.UriSchemeHttp && baseAddress.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException("the app address must be an absolute http(s) URI", nameof(baseAddress));
        var normalized = baseAddress.AbsoluteUri.EndsWith('/') ? baseAddress : new Uri(baseAddress.AbsoluteUri + "/");

        var replica = new Replica(normalized, appApiToken);
        replica.Subscriptions = await FetchSubscriptionsAsync(appId, replica, ct);
        lock (gate)
        {
            if (!apps.TryGetValue(appId, out var app)) apps[appId] = app = new AppEntry(appId);
            app.Replicas.RemoveAll(r => r.BaseAddress == normalized);
            app.Replicas.Add(replica);
        }
    }

    public bool RemoveReplica(string appId, Uri? baseAddress)
    {
        lock (gate)
        {
            if (!apps.TryGetValue(appId, out var app)) return false;
            int removed = baseAddress is null
                ? app.Replicas.RemoveAll(_ => true)
                : app.Replicas.RemoveAll(r => r.BaseAddress.AbsoluteUri.TrimEnd('/') == baseAddress.AbsoluteUri.TrimEnd('/'));
            if (app.Replicas.Count == 0) apps.Remove(appId);
            return removed > 0;
        }
    }

    public async Task RefreshAsync(CancellationToken ct)
    {
        List<(string AppId, Replica Replica)> all;
        lock (gate) all = apps.Values.SelectMany(a => a.Replicas.Select(r => (a.AppId, r))).ToList();
        foreach (var (appId, replica) in all)
        {
            var subs = await FetchSubscriptionsAsync(appId, replica, ct);
            lock (gate) replica.Subscriptions = subs;
        }
    }

    async Task<IReadOnlyList<SubscriptionInfo>> FetchSubscriptionsAsync(string appId, Replica replica, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(replica.BaseAddress, "dapr/subscribe"));
        if (!string.IsNullOrEmpty(replica.Token)) request.Headers.TryAddWithoutValidation("dapr-api-token", replica.Token);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping.Token);
        timeout.CancelAfter(options.AppRequestTimeout);
        using var response = await http.SendAsync(request, timeout.Token);
        // daprd takes a 404 as "no programmatic subscriptions"; anything else that is not 2xx is a broken app.
        if (response.StatusCode == HttpStatusCode.NotFound) return [];
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"app {appId} at {replica.BaseAddress} answered GET /dapr/subscribe with {(int)response.StatusCode}");
        var json = await response.Content.ReadAsStringAsync(timeout.Token);
        var list = new List<string>();
        var subs = SubscriptionParser.Parse(json, list);
        foreach (var s in subs.Where(s => !pubsubs.Contains(s.PubsubName)))
            list.Add($"app {appId} subscribes to {s.PubsubName}/{s.Topic} but there is no pubsub named {s.PubsubName}");
        lock (gate) warnings.AddRange(list);
        return subs.Where(s => pubsubs.Contains(s.PubsubName)).ToList();
    }

    public IReadOnlyList<(string AppId, Uri Replica, SubscriptionInfo Subscription)> Subscriptions()
    {
        lock (gate)
            return apps.Values.SelectMany(a => a.Replicas.SelectMany(r => r.Subscriptions.Select(s => (a.AppId, r.BaseAddress, s)))).ToList();
    }

    public IReadOnlyList<string> Warnings { get { lock (gate) return warnings.ToArray(); } }

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
        var message = new Message(record.PubsubName, record.Topic, record.Payload, record.DataContentType, record.Id, record.Metadata);
        lock (gate)
        {
            published.Add(record);
            Enqueue(message);
        }
    }

    void DeadLetter(Message failed, string appId, string deadLetterTopic, string reason)
    {
        var record = new PublishedMessage(failed.Pubsub, deadLetterTopic, failed.Id, failed.ContentType, failed.Payload, failed.Payload,
            failed.Metadata, failed.Topic, appId, reason);
        // The same bytes go to the dead-letter topic, so its subscribers see the original envelope (topic field included).
        var message = failed with { Topic = deadLetterTopic };
        lock (gate)
        {
            deadLettered.Add(record);
            Enqueue(message);
        }
    }

    void Enqueue(Message message)
    {
        // Caller holds the gate. Every app-id with a replica subscribed to (pubsub, topic) gets its own copy.
        foreach (var app in apps.Values)
        {
            if (!app.Replicas.Any(r => r.Subscriptions.Any(s => s.PubsubName == message.Pubsub && s.Topic == message.Topic))) continue;
            var key = (app.AppId, message.Pubsub, message.Topic);
            if (!dispatchers.TryGetValue(key, out var d)) dispatchers[key] = d = new Dispatcher(this, app.AppId);
            Interlocked.Increment(ref pending);
            d.Queue.Writer.TryWrite(message);
        }
    }

    // ---------------------------------------------------------------- delivery

    sealed class Dispatcher
    {
        public Channel<Message> Queue { get; } = Channel.CreateUnbounded<Message>(new UnboundedChannelOptions { SingleReader = true });
        public Task Loop { get; }

        public Dispatcher(PubSubBroker broker, string appId)
        {
            Loop = Task.Run(async () =>
            {
                try
                {
                    await foreach (var m in Queue.Reader.ReadAllAsync(broker.stopping.Token))
                    {
                        try { await broker.DeliverAsync(appId, m); }
                        catch (OperationCanceledException) when (broker.stopping.IsCancellationRequested) { return; }
                        finally { Interlocked.Decrement(ref broker.pending); }
                    }
                }
                catch (OperationCanceledException) when (broker.stopping.IsCancellationRequested) { }
            });
        }
    }

    (Replica Replica, SubscriptionInfo Subscription)? PickReplica(string appId, string pubsub, string topic)
    {
        lock (gate)
        {
            if (!apps.TryGetValue(appId, out var app)) return null;
            var candidates = app.Replicas
                .Select(r => (r, s: r.Subscriptions.FirstOrDefault(s => s.PubsubName == pubsub && s.Topic == topic)))
                .Where(x => x.s is not null)
                .ToList();
            if (candidates.Count == 0) return null;
            var (replica, sub) = candidates[app.NextReplica++ % candidates.Count];
            if (app.NextReplica == int.MaxValue) app.NextReplica = 0;
            return (replica, sub!);
        }
    }

    async Task DeliverAsync(string appId, Message m)
    {
        var ct = stopping.Token;
        string? deadLetterTopic = null;
        for (int attempt = 1; attempt <= options.MaxDeliveryAttempts; attempt++)
        {
            if (Volatile.Read(ref paused) is { } gateTask) await gateTask.Task.WaitAsync(ct);

            var pick = PickReplica(appId, m.Pubsub, m.Topic);
            if (pick is null)
            {
                Warn($"message {m.Id} on {m.Pubsub}/{m.Topic} dropped: app {appId} no longer has a subscribed replica");
                return;
            }
            var (replica, sub) = pick.Value;
            deadLetterTopic = sub.DeadLetterTopic;

            // What the app gets: the envelope from the broker, or (rawPayload subscriptions) the bytes wrapped as data_base64.
            byte[] body = sub.RawPayload ? CloudEvents.FromRawPayload(m.Payload, m.Topic, m.Pubsub) : m.Payload;
            JsonElement cloudEvent;
            try
            {
                using var doc = JsonDocument.Parse(body);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("not a JSON object");
                cloudEvent = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                Record(m, appId, replica, "", attempt, DeliveryStatus.Drop, null, $"not a CloudEvent: {e.Message}");
                Finish(m, appId, deadLetterTopic, "the message is not a CloudEvent (published with rawPayload, subscribed without)");
                return;
            }

            var route = sub.MatchRoute(cloudEvent);
            if (route is null)
            {
                Finish(m, appId, deadLetterTopic, "no routing rule matched");
                return;
            }

            var (status, code, error) = await PostAsync(replica, route, body, cloudEvent, ct);
            Record(m, appId, replica, route, attempt, status, code, error);
            switch (status)
            {
                case DeliveryStatus.Success:
                    return;
                case DeliveryStatus.Drop:
                    Finish(m, appId, deadLetterTopic, code == 404 ? "the app answered 404" : "the app answered DROP");
                    return;
            }
            if (attempt < options.MaxDeliveryAttempts && options.RedeliveryBackoff > TimeSpan.Zero)
                await Task.Delay(options.RedeliveryBackoff, ct);
        }
        Finish(m, appId, deadLetterTopic, $"not delivered after {options.MaxDeliveryAttempts} attempts");
    }

    void Finish(Message m, string appId, string? deadLetterTopic, string reason)
    {
        if (deadLetterTopic is not null) DeadLetter(m, appId, deadLetterTopic, reason);
        else Warn($"message {m.Id} on {m.Pubsub}/{m.Topic} for app {appId} dropped: {reason}");
    }

    void Warn(string text) { lock (gate) warnings.Add(text); }

    void Record(Message m, string appId, Replica replica, string route, int attempt, DeliveryStatus status, int? code, string? error)
    {
        var r = new DeliveryRecord(m.Pubsub, m.Topic, appId, replica.BaseAddress, route, m.Id, attempt, status, code, error, DateTimeOffset.UtcNow);
        lock (gate) deliveries.Add(r);
    }

    async Task<(DeliveryStatus, int?, string?)> PostAsync(Replica replica, string route, byte[] body, JsonElement cloudEvent, CancellationToken ct)
    {
        System.Diagnostics.Activity.Current = null;   // the delivery loop's context is not the message's
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(replica.BaseAddress, route.TrimStart('/')));
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(CloudEvents.ContentType);
        if (!string.IsNullOrEmpty(replica.Token)) request.Headers.TryAddWithoutValidation("dapr-api-token", replica.Token);
        if (cloudEvent.TryGetProperty("traceparent", out var tp) && tp.ValueKind == JsonValueKind.String && tp.GetString() is { Length: > 0 } traceParent)
            request.Headers.TryAddWithoutValidation("traceparent", traceParent);
        if (cloudEvent.TryGetProperty("tracestate", out var ts) && ts.ValueKind == JsonValueKind.String && ts.GetString() is { Length: > 0 } traceState)
            request.Headers.TryAddWithoutValidation("tracestate", traceState);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.AppRequestTimeout);
        try
        {
            using var response = await http.SendAsync(request, timeout.Token);
            int code = (int)response.StatusCode;
            var text = await response.Content.ReadAsStringAsync(timeout.Token);
            if (code >= 200 && code <= 299) return (Classify(text), code, null);
            if (code == 404) return (DeliveryStatus.Drop, code, Shorten(text));
            return (DeliveryStatus.Failed, code, Shorten(text));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (DeliveryStatus.Failed, null, $"no answer within {options.AppRequestTimeout}");
        }
        catch (HttpRequestException e)
        {
            return (DeliveryStatus.Failed, null, e.Message);
        }
    }

    static string? Shorten(string text) => text.Length == 0 ? null : text.Length > 500 ? text[..500] : text;

    /// <summary>daprd's reading of a 2xx answer: only a JSON object whose "status" is RETRY/DROP (or unknown) is not a success.</summary>
    static DeliveryStatus Classify(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return DeliveryStatus.Success;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return DeliveryStatus.Success;
            JsonElement? status = null;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                // Go matches field names case-insensitively and keeps the last duplicate.
                if (string.Equals(p.Name, "status", StringComparison.OrdinalIgnoreCase)) status = p.Value;
            }
            if (status is null || status.Value.ValueKind == JsonValueKind.Null) return DeliveryStatus.Success;
            if (status.Value.ValueKind != JsonValueKind.String) return DeliveryStatus.Success; // a decode error: daprd skips the check
            return status.Value.GetString() switch
            {
                "" or "SUCCESS" => DeliveryStatus.Success,
                "DROP" => DeliveryStatus.Drop,
                _ => DeliveryStatus.Retry, // RETRY, and any status daprd does not know
            };
        }
        catch (JsonException)
        {
            return DeliveryStatus.Success;
        }
    }

    // ---------------------------------------------------------------- control and observation

    public void Pause()
    {
        lock (gate) paused ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void Resume()
    {
        TaskCompletionSource? tcs;
        lock (gate)
        {
            tcs = paused;
            paused = null;
        }
        tcs?.TrySetResult();
    }

    public int Pending => Volatile.Read(ref pending);

    public async Task WaitForIdleAsync(TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Volatile.Read(ref pending) > 0)
        {
            if (DateTime.UtcNow >= deadline)
            {
                var isPaused = Volatile.Read(ref paused) is not null;
                throw new TimeoutException($"the test sidecar still has {Pending} message deliveries pending after {timeout}" +
                    (isPaused ? " (delivery is paused)" : "") + $"; last deliveries: {string.Join("; ", Deliveries.TakeLast(5))}");
            }
            await Task.Delay(10, ct);
        }
    }

    public IReadOnlyList<PublishedMessage> Published { get { lock (gate) return published.ToArray(); } }
    public IReadOnlyList<PublishedMessage> DeadLettered { get { lock (gate) return deadLettered.ToArray(); } }
    public IReadOnlyList<DeliveryRecord> Deliveries { get { lock (gate) return deliveries.ToArray(); } }

    public void ClearRecords()
    {
        lock (gate)
        {
            published.Clear();
            deadLettered.Clear();
            deliveries.Clear();
            warnings.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Resume();
        await stopping.CancelAsync();
        Task[] loops;
        lock (gate)
        {
            foreach (var d in dispatchers.Values) d.Queue.Writer.TryComplete();
            loops = dispatchers.Values.Select(d => d.Loop).ToArray();
        }
        try { await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(10)); }
        catch (TimeoutException) { }
        http.Dispose();
        stopping.Dispose();
    }
}
