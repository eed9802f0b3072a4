using System.Text;
using Microsoft.AspNetCore.Http;

namespace WaveMesh.Dapr.Sidecar.Tests;

/// <summary>
/// What a replica's sidecar does with each answer of its app, how its inbound resiliency policy and circuit breaker
/// retry, and when a message is dead-lettered, acked or given back to the broker.
/// </summary>
public sealed class Redelivering_and_dead_lettering : IAsyncLifetime
{
    readonly List<IAsyncDisposable> owned = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(owned)) await d.DisposeAsync();
    }

    async Task<TestSidecar> Sidecar(Action<TestSidecarOptions>? change = null)
    {
        var s = await TestSidecar.StartAsync(Sdk.Fast(change));
        owned.Add(s);
        return s;
    }

    async Task<RawApp> App(string subscriptions, Func<Received, int, Task<IResult>>? answer = null)
    {
        var a = await RawApp.StartAsync(subscriptions, answer);
        owned.Insert(0, a);
        return a;
    }

    static string Orders(string? deadLetter = null) =>
        $$"""[{"pubsubname":"pubsub","topic":"orders","route":"/orders"{{(deadLetter is null ? "" : $",\"deadLetterTopic\":\"{deadLetter}\"")}}}]""";

    static byte[] Order(string id) => Encoding.UTF8.GetBytes($$"""{"id":"{{id}}","quantity":1}""");

    static Task<IResult> Answer(int status, string body) =>
        Task.FromResult(Results.Text(body, "application/json", statusCode: status));

    // daprd: pkg/runtime/subscription/postman/http/http.go 105-125: a 2xx whose body does not decode into
    // {status string} (empty, not JSON, not an object, status not a string) is a success, and so are "" / null / SUCCESS.
    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{}")]
    [InlineData("""{"status":""}""")]
    [InlineData("""{"status":null}""")]
    [InlineData("""{"status":"SUCCESS"}""")]
    [InlineData("""{"other":"RETRY"}""")]
    [InlineData("not json")]
    [InlineData("""["RETRY"]""")]
    [InlineData("\"RETRY\"")]
    [InlineData("""{"status":5}""")]
    [InlineData("""{"status":{"value":"RETRY"}}""")]
    [InlineData("""{"status":"RETRY","status":7}""")]
    [InlineData("""{"status":"RETRY" """)]
    public async Task Answers_daprd_acks_after_one_delivery(string body)
    {
        var sidecar = await Sidecar();
        var app = await App(Orders("orders.dead"), (_, _) => Answer(200, body));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-1"));
        await Sdk.Until(() => sidecar.Outcomes.Count == 1, "the message was settled");
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        var delivery = Assert.Single(sidecar.Deliveries);
        Assert.Equal((DeliveryStatus.Success, 200), (delivery.Status, delivery.HttpStatusCode));
        Assert.Equal(OutcomeKind.Acked, Assert.Single(sidecar.Outcomes).Kind);
        Assert.Empty(sidecar.DeadLettered);
    }

    // daprd: http.go 126-137 (RETRY and any unknown, case-sensitive status are retriable; json.Decoder reads only the
    // first JSON value, matches keys case-insensitively, the last duplicate wins and null changes nothing), 150-157
    // (every non-2xx except 404 is retriable) and subscription.go 275-296 (retried by the same sidecar's policy).
    [Theory]
    [InlineData(200, """{"status":"RETRY"}""", DeliveryStatus.Retry)]
    [InlineData(200, """{"status":"RETRY"} trailing garbage""", DeliveryStatus.Retry)]
    [InlineData(200, """{"status":"RETRY"}{"status":"SUCCESS"}""", DeliveryStatus.Retry)]
    [InlineData(200, """{"STATUS":"RETRY"}""", DeliveryStatus.Retry)]
    [InlineData(200, """{"status":"SUCCESS","Status":"RETRY"}""", DeliveryStatus.Retry)]
    [InlineData(200, """{"status":"RETRY","status":null}""", DeliveryStatus.Retry)]
    [InlineData(200, """{"status":"retry"}""", DeliveryStatus.Retry)]
    [InlineData(200, """{"status":"Ok"}""", DeliveryStatus.Retry)]
    [InlineData(202, """{"status":"success"}""", DeliveryStatus.Retry)]
    [InlineData(400, "bad request", DeliveryStatus.Failed)]
    [InlineData(401, "", DeliveryStatus.Failed)]
    [InlineData(409, """{"status":"SUCCESS"}""", DeliveryStatus.Failed)]
    [InlineData(429, "", DeliveryStatus.Failed)]
    [InlineData(500, "boom", DeliveryStatus.Failed)]
    [InlineData(503, "", DeliveryStatus.Failed)]
    public async Task Answers_daprd_retries_to_the_same_replica(int status, string body, DeliveryStatus expected)
    {
        var sidecar = await Sidecar();
        var app = await App(Orders("orders.dead"), (_, n) => n == 0 ? Answer(status, body) : Answer(200, ""));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-1"));
        await Sdk.Until(() => sidecar.Outcomes.Count == 1, "the message was settled");

        Assert.Equal([(1, 1, expected), (1, 2, DeliveryStatus.Success)], sidecar.Deliveries.Select(d => (d.BrokerDelivery, d.Attempt, d.Status)));
        Assert.Single(sidecar.Deliveries.Select(d => d.Replica).Distinct());
        var outcome = Assert.Single(sidecar.Outcomes);
        Assert.Equal((OutcomeKind.Acked, 2), (outcome.Kind, outcome.Attempts));
        Assert.Empty(sidecar.DeadLettered);
    }

    sealed class DropConnection : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Abort();
            return Task.CompletedTask;
        }
    }

    // daprd: http.go 87-93: an error of the app channel (here the app drops the connection) is retriable, so the same
    // sidecar delivers again to the same replica.
    [Fact]
    public async Task A_connection_error_is_retried_to_the_same_replica()
    {
        var sidecar = await Sidecar();
        var app = await App(Orders("orders.dead"), (_, n) => Task.FromResult(n == 0 ? (IResult)new DropConnection() : Results.Ok()));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-reset"));
        await Sdk.Until(() => sidecar.Outcomes.Count == 1, "the message was settled");

        Assert.Equal([(1, DeliveryStatus.Failed, (int?)null), (2, DeliveryStatus.Success, 200)],
            sidecar.Deliveries.Select(d => (d.Attempt, d.Status, d.HttpStatusCode)));
        Assert.Contains("error returned from app channel", sidecar.Deliveries[0].Error);
        Assert.Single(sidecar.Deliveries.Select(d => d.Replica).Distinct());
        Assert.Equal(OutcomeKind.Acked, Assert.Single(sidecar.Outcomes).Kind);
    }

    // daprd: http.go 140-148: a 404 is logged as non-retriable and returns nil, so the message is acked; subscription.go
    // only dead-letters ErrMessageDropped or a final error, so a 404 is NOT dead-lettered even with a dead-letter topic.
    [Fact]
    public async Task A_404_is_acked_and_not_dead_lettered()
    {
        var sidecar = await Sidecar();
        var app = await App(Orders("orders.dead"), (_, _) => Answer(404, "no such route"));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-404"));
        await Sdk.Until(() => sidecar.Outcomes.Count == 1, "the message was settled");
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        var delivery = Assert.Single(sidecar.Deliveries);
        Assert.Equal((DeliveryStatus.Drop, 404), (delivery.Status, delivery.HttpStatusCode));
        var outcome = Assert.Single(sidecar.Outcomes);
        Assert.Equal(OutcomeKind.Acked, outcome.Kind);
        Assert.Contains("404", outcome.Reason);
        Assert.Empty(sidecar.DeadLettered);
    }

    // daprd: subscription.go 282-291: DROP without a dead-letter topic returns nil -> acked, one delivery.
    [Fact]
    public async Task DROP_without_a_dead_letter_topic_is_acked()
    {
        var sidecar = await Sidecar();
        var app = await App(Orders(), (_, _) => Task.FromResult(RawApp.Status("DROP")));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-drop"));
        await Sdk.Until(() => sidecar.Outcomes.Count == 1, "the message was settled");

        Assert.Equal(DeliveryStatus.Drop, Assert.Single(sidecar.Deliveries).Status);
        Assert.Equal(OutcomeKind.Acked, Assert.Single(sidecar.Outcomes).Kind);
        Assert.Empty(sidecar.DeadLettered);
    }

    // daprd: subscription.go 275-310 + kit retry/retry.go 117-137 (constant back-off, maxRetries 6 of dapr/resiliency.yaml
    // deliveryRetry = 7 deliveries to the same replica) then 301-306 + 343-358 (the exact broker bytes go to the
    // dead-letter topic, then the message is acked; it never returns to the queue).
    [Fact]
    public async Task Deliveries_the_app_keeps_refusing_are_retried_6_times_then_dead_lettered_and_acked()
    {
        var sidecar = await Sidecar(o =>
        {
            o.InboundRetryInterval = TimeSpan.FromMilliseconds(50);
            o.CircuitBreakerConsecutiveFailures = null; // only the retry policy here; the breaker has its own tests
        });
        var app = await App(Orders("orders.dead"), (_, _) => Task.FromResult(RawApp.Status("RETRY")));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-7"));
        await Sdk.Until(() => sidecar.Outcomes.Count == 1, "the message was settled");

        Assert.Equal(Enumerable.Range(1, 7), sidecar.Deliveries.Select(d => d.Attempt));
        Assert.All(sidecar.Deliveries, d => Assert.Equal((DeliveryStatus.Retry, 1), (d.Status, d.BrokerDelivery)));
        Assert.Single(sidecar.Deliveries.Select(d => d.Replica).Distinct());
        var gaps = sidecar.Deliveries.Zip(sidecar.Deliveries.Skip(1), (a, b) => b.At - a.At);
        Assert.All(gaps, g => Assert.True(g >= TimeSpan.FromMilliseconds(40), $"retried after {g.TotalMilliseconds} ms"));
        var letter = Assert.Single(sidecar.DeadLettered);
        Assert.Equal(("orders.dead", "orders"), (letter.Topic, letter.OriginalTopic));
        Assert.Equal(sidecar.Published.Single().Payload, letter.Payload);
        var outcome = Assert.Single(sidecar.Outcomes);
        Assert.Equal((OutcomeKind.DeadLettered, 7), (outcome.Kind, outcome.Attempts));
        Assert.Equal(0, sidecar.QueueDepths[("shop", "pubsub", "orders")]);
    }

    // dapr/resiliency.yaml as daprd runs it: the pubsub component's breaker (dependencyBreaker, consecutiveFailures >= 5)
    // is shared by inbound deliveries and outbound publishes of that sidecar (dapr: pkg/resiliency/resiliency.go 846-906);
    // it opens after the 5th failed delivery, the 6th attempt is refused and ends the retries (pkg/resiliency/policy.go
    // 206-230), the dead-letter publish fails on the same open breaker, so the handler returns the error and RabbitMQ
    // requeues (subscription.go 297-310, contrib: pubsub/rabbitmq/rabbitmq.go 635-646); every redelivery is refused again.
    [Fact]
    public async Task With_our_resiliency_yaml_an_always_RETRY_message_gets_5_deliveries_then_the_open_breaker_requeues_it()
    {
        var sidecar = await Sidecar();
        var app = await App(Orders("orders.dead"), (_, _) => Task.FromResult(RawApp.Status("RETRY")));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-busy"));
        await Sdk.Until(() => sidecar.Outcomes.Count(o => o.Kind == OutcomeKind.Requeued) >= 3, "the message was requeued three times");

        Assert.Equal(Enumerable.Range(1, 5), sidecar.Deliveries.Select(d => d.Attempt));
        Assert.All(sidecar.Deliveries, d => Assert.Equal(1, d.BrokerDelivery));
        Assert.Empty(sidecar.DeadLettered);
        var outcomes = sidecar.Outcomes;
        Assert.Equal(5, outcomes[0].Attempts);
        Assert.Contains("circuit breaker is open", outcomes[0].Reason);
        Assert.Contains("the dead-letter publish failed: circuit breaker is open", outcomes[0].Reason);
        Assert.All(outcomes.Skip(1), o => Assert.Equal((OutcomeKind.Requeued, 0), (o.Kind, o.Attempts)));
        Assert.Equal(CircuitBreakerState.Open, sidecar.PubSubCircuitBreakerState("shop", app.BaseAddress));

        // A replica that goes away leaves the message in the durable queue.
        sidecar.RemoveApp("shop");
        await sidecar.WaitForIdleAsync(Sdk.Idle);
        Assert.Equal(1, sidecar.QueueDepths[("shop", "pubsub", "orders")]);
        Assert.Equal(5, sidecar.Deliveries.Count);
    }

    // github.com/sony/gobreaker v0.5.0 as daprd wraps it (dapr: pkg/resiliency/breaker/circuitbreaker.go 78-138): after
    // `timeout` the open breaker turns half-open and lets maxRequests (1) through; a success closes it.
    [Fact]
    public async Task An_open_breaker_lets_one_delivery_through_after_its_timeout_and_closes_when_it_succeeds()
    {
        var sidecar = await Sidecar(o => o.CircuitBreakerTimeout = TimeSpan.FromSeconds(1));
        bool healthy = false;
        var app = await App(Orders("orders.dead"), (_, _) => Task.FromResult(Volatile.Read(ref healthy) ? Results.Ok() : RawApp.Status("RETRY")));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-later"));
        await Sdk.Until(() => sidecar.PubSubCircuitBreakerState("shop", app.BaseAddress) == CircuitBreakerState.Open, "the breaker opened");
        Volatile.Write(ref healthy, true);
        await Sdk.Until(() => sidecar.Outcomes.Any(o => o.Kind == OutcomeKind.Acked), "the message was acked");

        Assert.Equal(6, sidecar.Deliveries.Count);
        var last = sidecar.Deliveries[^1];
        Assert.Equal((DeliveryStatus.Success, 1), (last.Status, last.Attempt));
        Assert.True(last.BrokerDelivery > 1);
        Assert.Equal(CircuitBreakerState.Closed, sidecar.PubSubCircuitBreakerState("shop", app.BaseAddress));
        Assert.Empty(sidecar.DeadLettered);
    }

    // Each replica is its own daprd with its own breaker (dapr: pkg/resiliency/resiliency.go 994-1017 caches breakers per
    // sidecar process); the requeued message can be taken by another replica's consumer (rabbitmq.go 635-646).
    [Fact]
    public async Task A_message_requeued_by_a_replica_whose_breaker_opened_is_taken_by_another_replica()
    {
        var sidecar = await Sidecar();
        var busy = await App(Orders("orders.dead"), (_, _) => Task.FromResult(RawApp.Status("RETRY")));
        var free = await App(Orders("orders.dead"));
        await sidecar.AddAppAsync("worker", busy.BaseAddress);
        await sidecar.AddAppAsync("worker", free.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-moves"));
        await Sdk.Until(() => sidecar.Outcomes.Any(o => o.Kind == OutcomeKind.Acked), "the message was acked");

        Assert.Equal(5, busy.Posts.Count());
        Assert.Single(free.Posts);
        Assert.Equal([(busy.BaseAddress.Port, 1), (free.BaseAddress.Port, 2)],
            sidecar.Deliveries.Select(d => (d.Replica.Port, d.BrokerDelivery)).Distinct());
        Assert.Equal([OutcomeKind.Requeued, OutcomeKind.Acked], sidecar.Outcomes.Select(o => o.Kind));
        Assert.Equal(CircuitBreakerState.Open, sidecar.PubSubCircuitBreakerState("worker", busy.BaseAddress));
        Assert.Equal(CircuitBreakerState.Closed, sidecar.PubSubCircuitBreakerState("worker", free.BaseAddress));
        Assert.Empty(sidecar.DeadLettered);
    }

    // daprd: pkg/resiliency/policy.go 232-234: without a resiliency target there is no retry, so one delivery per broker
    // delivery; the error goes to the component (subscription.go 297-310), which nacks with requeue (rabbitmq.go
    // 635-646), and RabbitMQ delivers it again.
    [Fact]
    public async Task Without_a_resiliency_target_every_broker_delivery_is_one_attempt_and_failures_are_requeued()
    {
        var sidecar = await Sidecar(o => { o.InboundRetries = null; o.CircuitBreakerConsecutiveFailures = null; });
        var app = await App(Orders(), (_, n) => n < 2 ? Answer(500, "") : Answer(200, ""));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-again"));
        await Sdk.Until(() => sidecar.Outcomes.Any(o => o.Kind == OutcomeKind.Acked), "the message was acked");

        Assert.Equal([(1, 1, DeliveryStatus.Failed), (2, 1, DeliveryStatus.Failed), (3, 1, DeliveryStatus.Success)],
            sidecar.Deliveries.Select(d => (d.BrokerDelivery, d.Attempt, d.Status)));
        Assert.Equal([OutcomeKind.Requeued, OutcomeKind.Requeued, OutcomeKind.Acked], sidecar.Outcomes.Select(o => o.Kind));
    }

    // daprd: subscription.go 275 (a new policy runner, so a new attempt count, for every message the component hands
    // over) and 297-310 (no dead-letter topic: nack and requeue after the last attempt).
    [Fact]
    public async Task A_requeued_message_starts_a_fresh_retry_cycle()
    {
        var sidecar = await Sidecar(o => { o.InboundRetries = 2; o.CircuitBreakerConsecutiveFailures = null; });
        var app = await App(Orders(), (_, n) => n < 4 ? Answer(503, "") : Answer(200, ""));
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        sidecar.Publish("pubsub", "orders", Order("o-cycle"));
        await Sdk.Until(() => sidecar.Outcomes.Any(o => o.Kind == OutcomeKind.Acked), "the message was acked");

        Assert.Equal([(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)], sidecar.Deliveries.Select(d => (d.BrokerDelivery, d.Attempt)));
        Assert.Equal([(OutcomeKind.Requeued, 3), (OutcomeKind.Acked, 2)], sidecar.Outcomes.Select(o => (o.Kind, o.Attempts)));
    }

    // daprd: subscription.go 196-210: a message that is not a JSON object is dead-lettered and acked when the
    // subscription has a dead-letter topic, otherwise the error nacks it (requeued, again and again), and 154-166: the
    // same for a subscription whose rawPayload metadata is not a bool. The app is never called.
    [Fact]
    public async Task A_message_daprd_cannot_read_is_dead_lettered_or_requeued_without_reaching_the_app()
    {
        var sidecar = await Sidecar();
        var app = await App("""
            [{"pubsubname":"pubsub","topic":"withdlq","route":"/a","deadLetterTopic":"withdlq.dead"},
             {"pubsubname":"pubsub","topic":"nodlq","route":"/b"},
             {"pubsubname":"pubsub","topic":"badmeta","route":"/c","deadLetterTopic":"badmeta.dead","metadata":{"rawPayload":"yes"}}]
            """);
        await sidecar.AddAppAsync("reader", app.BaseAddress);
        var raw = new Dictionary<string, string> { ["rawPayload"] = "true" };

        sidecar.Publish("pubsub", "withdlq", "not json"u8.ToArray(), "text/plain", raw);
        sidecar.Publish("pubsub", "nodlq", "[1,2]"u8.ToArray(), "application/json", raw);
        sidecar.Publish("pubsub", "badmeta", Order("o-meta"));
        await Sdk.Until(() => sidecar.Outcomes.Count(o => o.Topic == "nodlq") >= 2 && sidecar.DeadLettered.Count == 2, "two dead letters and two requeues");

        Assert.Empty(app.Posts);
        Assert.Empty(sidecar.Deliveries);
        Assert.Equal(["badmeta.dead", "withdlq.dead"], sidecar.DeadLettered.Select(d => d.Topic).Order());
        Assert.Equal("not json", sidecar.DeadLettered.Single(d => d.Topic == "withdlq.dead").PayloadText);
        Assert.All(sidecar.Outcomes.Where(o => o.Topic == "nodlq"), o => Assert.Equal(OutcomeKind.Requeued, o.Kind));
        Assert.Contains("not a JSON object", sidecar.Outcomes.First(o => o.Topic == "nodlq").Reason);
        Assert.Contains("rawPayload", sidecar.DeadLettered.Single(d => d.Topic == "badmeta.dead").DeadLetterReason);
        sidecar.RemoveApp("reader");
    }

    // daprd: subscription.go 256-264 (no rule matched: acked, and dead-lettered when possible) and 242-254 with
    // cel-go semantics (selecting a missing key is an evaluation error: dead-lettered, or nacked without a dead-letter
    // topic; || and && absorb the error when the other side decides).
    [Fact]
    public async Task Routing_rules_that_match_nothing_ack_and_rules_that_fail_to_evaluate_dead_letter_or_requeue()
    {
        var sidecar = await Sidecar();
        var app = await App("""
            [{"pubsubname":"pubsub","topic":"nomatch","deadLetterTopic":"nomatch.dead","routes":{"rules":[{"match":"event.type == 'x'","path":"/x"}]}},
             {"pubsubname":"pubsub","topic":"nomatch2","routes":{"rules":[{"match":"event.type == 'x'","path":"/x"}]}},
             {"pubsubname":"pubsub","topic":"broken","deadLetterTopic":"broken.dead","routes":{"rules":[{"match":"event.data.kind == 'x'","path":"/x"}],"default":"/d"}},
             {"pubsubname":"pubsub","topic":"broken2","routes":{"rules":[{"match":"event.data.kind == 'x'","path":"/x"}],"default":"/d"}},
             {"pubsubname":"pubsub","topic":"absorbed","routes":{"rules":[{"match":"event.type == 'com.dapr.event.sent' || event.data.kind == 'x'","path":"/x"}]}}]
            """);
        await sidecar.AddAppAsync("router", app.BaseAddress);

        foreach (var topic in new[] { "nomatch", "nomatch2", "broken", "broken2", "absorbed" }) sidecar.Publish("pubsub", topic, Order(topic));
        await Sdk.Until(() => sidecar.Outcomes.Count(o => o.Topic == "broken2") >= 2 &&
                              new[] { "nomatch", "nomatch2", "broken", "absorbed" }.All(t => sidecar.Outcomes.Any(o => o.Topic == t)),
            "every message was settled and broken2 requeued twice");

        MessageOutcome First(string topic) => sidecar.Outcomes.First(o => o.Topic == topic);
        Assert.Equal((OutcomeKind.DeadLettered, "no matching route"), (First("nomatch").Kind, First("nomatch").Reason));
        Assert.Equal((OutcomeKind.Acked, "no matching route"), (First("nomatch2").Kind, First("nomatch2").Reason));
        Assert.Equal(OutcomeKind.DeadLettered, First("broken").Kind);
        Assert.Contains("no such key: kind", First("broken").Reason);
        Assert.Equal(OutcomeKind.Requeued, First("broken2").Kind);
        Assert.Equal(OutcomeKind.Acked, First("absorbed").Kind);
        Assert.Equal(["/x"], app.Posts.Select(p => p.Path));
        Assert.Equal(["broken.dead", "nomatch.dead"], sidecar.DeadLettered.Select(d => d.Topic).Order());
        sidecar.RemoveApp("router");
    }

    // daprd: pkg/runtime/channels/channels.go 335-340 (the app HTTP client has no timeout) and dapr/resiliency.yaml (no
    // timeout on pubsub inbound): a delivery waits for its answer; only a resiliency timeout (pkg/resiliency/policy.go
    // 143-193) ends an attempt, which then counts as a failure and is retried.
    [Fact]
    public async Task A_slow_app_holds_its_delivery_and_only_an_inbound_timeout_ends_the_attempt()
    {
        Assert.Null(new TestSidecarOptions().AppRequestTimeout);

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sidecar = await Sidecar();
        var slow = await App(Orders(), async (_, _) => { await release.Task; return Results.Ok(); });
        await sidecar.AddAppAsync("slow", slow.BaseAddress);
        sidecar.Publish("pubsub", "orders", Order("o-slow"));
        await Sdk.Until(() => slow.Posts.Any(), "the app got the delivery");
        Assert.Empty(sidecar.Outcomes); // held: neither acked nor failed while the app works on it
        release.SetResult();
        await Sdk.Until(() => sidecar.Outcomes.Count == 1, "the message was settled");
        Assert.Equal((DeliveryStatus.Success, 1), (sidecar.Deliveries.Single().Status, sidecar.Deliveries.Single().Attempt));

        var timed = await Sidecar(o => { o.AppRequestTimeout = TimeSpan.FromMilliseconds(200); o.InboundRetries = 1; });
        var hanging = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stuck = await App(Orders("orders.dead"), async (r, _) => { await hanging.Task; return Results.Ok(); });
        await timed.AddAppAsync("stuck", stuck.BaseAddress);
        timed.Publish("pubsub", "orders", Order("o-stuck"));
        await Sdk.Until(() => timed.Outcomes.Count == 1, "the message was settled");
        hanging.SetResult();

        Assert.Equal([(1, DeliveryStatus.Failed), (2, DeliveryStatus.Failed)], timed.Deliveries.Select(d => (d.Attempt, d.Status)));
        Assert.All(timed.Deliveries, d => Assert.Contains("context deadline exceeded", d.Error));
        Assert.Equal(OutcomeKind.DeadLettered, timed.Outcomes.Single().Kind);
    }

    // The defaults are daprd 1.16 with components/pubsub.yaml (prefetchCount 1) and dapr/resiliency.yaml (deliveryRetry:
    // constant 5 s, maxRetries 6; dependencyBreaker: consecutiveFailures >= 5, timeout 30 s, interval 60 s, maxRequests 1;
    // no inbound timeout).
    [Fact]
    public void The_defaults_are_daprd_with_our_components_and_resiliency_yaml()
    {
        var o = new TestSidecarOptions();
        Assert.Equal((1, 6, TimeSpan.FromSeconds(5), (TimeSpan?)null), (o.PrefetchCount, o.InboundRetries, o.InboundRetryInterval, o.AppRequestTimeout));
        Assert.Equal((5, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60), 1),
            (o.CircuitBreakerConsecutiveFailures, o.CircuitBreakerTimeout, o.CircuitBreakerInterval, o.CircuitBreakerMaxRequests));
        Assert.False(o.StartUnavailable);
    }
}
