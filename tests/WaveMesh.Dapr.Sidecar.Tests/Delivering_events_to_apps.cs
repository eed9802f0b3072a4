using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Dapr;
using Dapr.Client;
using Grpc.Core;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace WaveMesh.Dapr.Sidecar.Tests;

/// <summary>Pub/sub: DaprClient publishes, a real ASP.NET Core app with Dapr.AspNetCore subscribes.</summary>
public sealed class Delivering_events_to_apps : IAsyncLifetime
{
    TestSidecar sidecar = null!;
    DaprClient dapr = null!;
    readonly List<SubscriberApp> apps = [];

    public async Task InitializeAsync()
    {
        sidecar = await TestSidecar.StartAsync(Sdk.Fast(o => o.AppId = "publisher"));
        dapr = Sdk.Client(sidecar);
    }

    public async Task DisposeAsync()
    {
        dapr.Dispose();
        await sidecar.DisposeAsync();
        foreach (var app in apps) await app.DisposeAsync();
    }

    async Task<SubscriberApp> App(Action<WebApplication> map, Action<WebApplicationBuilder>? configure = null,
        CloudEventsMiddlewareOptions? cloudEvents = null, Action<WebApplication>? beforeEndpoints = null, bool useCloudEvents = true)
    {
        var app = await SubscriberApp.StartAsync(map, configure, cloudEvents, beforeEndpoints, useCloudEvents);
        apps.Add(app);
        return app;
    }

    static IResult Status(string status) => Results.Json(new { status });

    // contrib: pubsub/envelope.go 72-126 (the envelope's fields) and dapr: pkg/api/grpc/grpc.go 211 (json.Marshal: keys in order).
    [Fact]
    public async Task A_published_object_reaches_the_subscribed_endpoint_inside_a_daprd_style_CloudEvent()
    {
        var got = new ConcurrentQueue<(Order Order, string Type, string Source, string Id, string Topic, string SpecVersion)>();
        var app = await App(a =>
        {
            a.MapSubscribeHandler();
            a.MapPost("/orders", (Order order, HttpRequest r) =>
            {
                got.Enqueue((order, r.Headers["Cloudevent.type"].ToString(), r.Headers["Cloudevent.source"].ToString(),
                    r.Headers["Cloudevent.id"].ToString(), r.Headers["Cloudevent.topic"].ToString(), r.Headers["Cloudevent.specversion"].ToString()));
                return Results.Ok();
            }).WithTopic("pubsub", "orders");
        }, cloudEvents: new CloudEventsMiddlewareOptions { ForwardCloudEventPropertiesAsHeaders = true });
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        await dapr.PublishEventAsync("pubsub", "orders", new Order("o-1", 3));
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        var published = Assert.Single(sidecar.Published);
        var delivered = Assert.Single(got);
        Assert.Equal(new Order("o-1", 3), delivered.Order);
        Assert.Equal(("com.dapr.event.sent", "publisher", published.Id, "orders", "1.0"),
            (delivered.Type, delivered.Source, delivered.Id, delivered.Topic, delivered.SpecVersion));

        var ce = published.CloudEvent();
        Assert.Equal(JsonValueKind.Object, ce.GetProperty("data").ValueKind);
        Assert.Equal("o-1", ce.GetProperty("data").GetProperty("id").GetString());
        Assert.Equal("application/json", ce.GetProperty("datacontenttype").GetString());
        Assert.Equal("pubsub", ce.GetProperty("pubsubname").GetString());
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", ce.GetProperty("traceparent").GetString());
        var keys = ce.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys); // Go writes map keys in order, so does the fake
        Assert.Equal(new Order("o-1", 3), published.GetData<Order>());

        var attempt = Assert.Single(sidecar.Deliveries);
        Assert.Equal(("shop", "orders", 1, DeliveryStatus.Success), (attempt.AppId, attempt.Route, attempt.Attempt, attempt.Status));
    }

    // contrib: pubsub/envelope.go 92-103 (text as data, octet-stream as data_base64).
    [Fact]
    public async Task Text_and_binary_data_reach_the_app_as_sent()
    {
        var got = new ConcurrentQueue<(string? ContentType, byte[] Body)>();
        var app = await App(a =>
        {
            a.MapSubscribeHandler();
            a.MapPost("/raw", async (HttpRequest r) =>
            {
                using var buffer = new MemoryStream();
                await r.Body.CopyToAsync(buffer);
                got.Enqueue((r.ContentType, buffer.ToArray()));
                return Results.Ok();
            }).WithTopic("pubsub", "raw");
        });
        await sidecar.AddAppAsync("sink", app.BaseAddress);

        await dapr.PublishByteEventAsync("pubsub", "raw", "héllo"u8.ToArray(), "text/plain");
        await sidecar.WaitForIdleAsync(Sdk.Idle);
        await dapr.PublishByteEventAsync("pubsub", "raw", new byte[] { 0, 255, 7 }, "application/octet-stream");
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        Assert.Equal([("text/plain", "héllo"u8.ToArray()), ("application/octet-stream", new byte[] { 0, 255, 7 })], got.ToArray());
        Assert.Equal("héllo", sidecar.Published[0].CloudEvent().GetProperty("data").GetString());
        Assert.Equal("AP8H", sidecar.Published[1].CloudEvent().GetProperty("data_base64").GetString());
    }

    // daprd: pkg/runtime/subscription/postman/http/http.go 126-129 (RETRY is a retriable error) and
    // pkg/runtime/subscription/subscription.go 275-296 (the inbound policy of the same sidecar delivers again).
    [Fact]
    public async Task RETRY_makes_the_sidecar_deliver_the_same_message_again()
    {
        var calls = new ConcurrentQueue<Order>();
        var app = await App(a =>
        {
            a.MapSubscribeHandler();
            a.MapPost("/orders", (Order order) =>
            {
                calls.Enqueue(order);
                return Status(calls.Count == 1 ? "RETRY" : "SUCCESS");
            }).WithTopic("pubsub", "orders");
        });
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        await dapr.PublishEventAsync("pubsub", "orders", new Order("o-2", 1));
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        Assert.Equal([new Order("o-2", 1), new Order("o-2", 1)], calls.ToArray());
        Assert.Equal([(1, 1, DeliveryStatus.Retry), (1, 2, DeliveryStatus.Success)], sidecar.Deliveries.Select(d => (d.BrokerDelivery, d.Attempt, d.Status)));
        Assert.Single(sidecar.Deliveries.Select(d => d.MessageId).Distinct());
        Assert.Empty(sidecar.DeadLettered);
        var outcome = Assert.Single(sidecar.Outcomes);
        Assert.Equal((OutcomeKind.Acked, 2), (outcome.Kind, outcome.Attempts));
    }

    // daprd: http.go 130-133 (DROP is ErrMessageDropped) and subscription.go 282-291 + 343-358 (published to the
    // dead-letter topic as the exact broker bytes, then acked).
    [Fact]
    public async Task DROP_sends_the_message_to_the_dead_letter_topic_whose_subscriber_gets_it()
    {
        var dead = new ConcurrentQueue<(Order Order, string Topic)>();
        var app = await App(a =>
        {
            a.MapSubscribeHandler();
            a.MapPost("/orders", (Order _) => Status("DROP"))
                .WithTopic(new TopicOptions { PubsubName = "pubsub", Name = "orders", DeadLetterTopic = "orders.dead" });
            a.MapPost("/orders-dead", (Order order, HttpRequest r) =>
            {
                dead.Enqueue((order, r.Headers["Cloudevent.topic"].ToString()));
                return Results.Ok();
            }).WithTopic("pubsub", "orders.dead");
        }, cloudEvents: new CloudEventsMiddlewareOptions { ForwardCloudEventPropertiesAsHeaders = true });
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        await dapr.PublishEventAsync("pubsub", "orders", new Order("bad", 0));
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        var letter = Assert.Single(sidecar.DeadLettered);
        Assert.Equal(("orders.dead", "orders", "shop"), (letter.Topic, letter.OriginalTopic, letter.DeadLetteredBy));
        Assert.Contains("DROP", letter.DeadLetterReason);
        // The dead-letter topic carries the original envelope, whose topic field still names the original topic (as in daprd).
        Assert.Equal([(new Order("bad", 0), "orders")], dead.ToArray());
        Assert.Equal([("orders", DeliveryStatus.Drop), ("orders.dead", DeliveryStatus.Success)],
            sidecar.Deliveries.Select(d => (d.Topic, d.Status)));
        Assert.Equal(sidecar.Published.Single().Payload, letter.Payload);
        Assert.Equal([("orders", OutcomeKind.DeadLettered), ("orders.dead", OutcomeKind.Acked)], sidecar.Outcomes.Select(o => (o.Topic, o.Kind)));
    }

    // daprd: subscription.go 275-310 with kit retry/retry.go 117-137 (maxRetries 2 = 3 deliveries, all to the same
    // replica), then the dead-letter publish and an ack; http.go 150-157 (a 500 is retriable).
    [Fact]
    public async Task A_message_that_keeps_failing_is_dead_lettered_after_the_last_attempt()
    {
        await using var sidecar3 = await TestSidecar.StartAsync(Sdk.Fast(o => o.InboundRetries = 2));
        using var client = Sdk.Client(sidecar3);
        var dead = new ConcurrentQueue<Order>();
        var app = await App(a =>
        {
            a.MapSubscribeHandler();
            a.MapPost("/orders", (Order _) => Results.StatusCode(500))
                .WithTopic(new TopicOptions { PubsubName = "pubsub", Name = "orders", DeadLetterTopic = "orders.dead" });
            a.MapPost("/dead", (Order o) => { dead.Enqueue(o); return Results.Ok(); }).WithTopic("pubsub", "orders.dead");
        });
        await sidecar3.AddAppAsync("shop", app.BaseAddress);

        await client.PublishEventAsync("pubsub", "orders", new Order("doomed", 1));
        await sidecar3.WaitForIdleAsync(Sdk.Idle);

        Assert.Equal([(1, 500), (2, 500), (3, 500)],
            sidecar3.Deliveries.Where(d => d.Topic == "orders").Select(d => (d.Attempt, d.HttpStatusCode ?? 0)));
        Assert.All(sidecar3.Deliveries.Where(d => d.Topic == "orders"), d => Assert.Equal((DeliveryStatus.Failed, 1), (d.Status, d.BrokerDelivery)));
        Assert.Contains("after 3 deliveries", Assert.Single(sidecar3.DeadLettered).DeadLetterReason);
        Assert.Equal([new Order("doomed", 1)], dead.ToArray());
        var outcome = sidecar3.Outcomes.First(o => o.Topic == "orders");
        Assert.Equal((OutcomeKind.DeadLettered, 3), (outcome.Kind, outcome.Attempts));
    }

    static void MapWorker(WebApplication a, ConcurrentQueue<string> got, Func<Order, IResult>? answer = null)
    {
        a.MapSubscribeHandler();
        a.MapPost("/orders", (Order order) =>
        {
            got.Enqueue(order.Id);
            return answer?.Invoke(order) ?? Results.Ok();
        }).WithTopic("pubsub", "orders");
    }

    // contrib: pubsub/rabbitmq/rabbitmq.go 328-334 (one queue <app-id>-<topic> per app-id: competing consumers) and
    // 371-377, 482-496 (a fanout exchange per topic: every app-id's queue gets a copy).
    [Fact]
    public async Task Replicas_of_one_app_id_share_the_messages_and_every_app_id_gets_each_message()
    {
        ConcurrentQueue<string> first = new(), second = new(), audit = new();
        var replica1 = await App(a => MapWorker(a, first));
        var replica2 = await App(a => MapWorker(a, second));
        var auditor = await App(a => MapWorker(a, audit));
        await sidecar.AddAppAsync("worker", replica1.BaseAddress);
        await sidecar.AddAppAsync("worker", replica2.BaseAddress);
        await sidecar.AddAppAsync("audit", auditor.BaseAddress);

        var ids = Enumerable.Range(1, 6).Select(i => $"o-{i}").ToList();
        foreach (var id in ids) await dapr.PublishEventAsync("pubsub", "orders", new Order(id, 1));
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        Assert.Equal(ids.Order(), first.Concat(second).Order()); // each message exactly once inside the app-id
        Assert.NotEmpty(first);
        Assert.NotEmpty(second);
        Assert.Equal(ids, audit.ToArray()); // and once more for the other app-id, in order
        Assert.Equal(2, sidecar.Deliveries.Where(d => d.AppId == "worker").Select(d => d.Replica).Distinct().Count());
    }

    // daprd: subscription.go 275-296 (retries run in the sidecar that got the message, to its own app, http.go 87),
    // 297-310 (no dead-letter topic: the error goes to the component) and contrib: pubsub/rabbitmq/rabbitmq.go 635-646
    // (nack with requeueInFailure true: the broker may give it to any consumer of the queue, with a fresh policy).
    [Fact]
    public async Task Retries_stay_on_the_replica_that_got_the_message_and_a_requeued_message_may_go_to_another()
    {
        await using var sc = await TestSidecar.StartAsync(Sdk.Fast(o => { o.InboundRetries = 2; o.CircuitBreakerConsecutiveFailures = null; }));
        using var client = Sdk.Client(sc);
        ConcurrentQueue<string> busy = new(), free = new();
        var busyReplica = await App(a => MapWorker(a, busy, _ => Status("RETRY")));
        var freeReplica = await App(a => MapWorker(a, free));
        await sc.AddAppAsync("worker", busyReplica.BaseAddress);
        await sc.AddAppAsync("worker", freeReplica.BaseAddress);

        await client.PublishEventAsync("pubsub", "orders", new Order("o-9", 1));
        await sc.WaitForIdleAsync(Sdk.Idle);

        var busyUri = sc.Subscriptions.First(s => s.Replica.Port == busyReplica.BaseAddress.Port).Replica;
        Assert.Equal(["o-9", "o-9", "o-9"], busy.ToArray());
        Assert.Equal(["o-9"], free.ToArray());
        Assert.Equal([(busyUri.Port, 1, 1), (busyUri.Port, 1, 2), (busyUri.Port, 1, 3), (freeReplica.BaseAddress.Port, 2, 1)],
            sc.Deliveries.Select(d => (d.Replica.Port, d.BrokerDelivery, d.Attempt)));
        Assert.Equal([OutcomeKind.Requeued, OutcomeKind.Acked], sc.Outcomes.Select(o => o.Kind));
        Assert.Empty(sc.DeadLettered);
    }

    // dapr: pkg/security/token.go 36-38 + pkg/channel/http/http_channel.go 551-553: APP_API_TOKEN goes as dapr-api-token on every request to the app.
    [Fact]
    public async Task The_app_api_token_reaches_the_app_on_every_request_and_Dapr_AspNetCore_accepts_it()
    {
        const string appToken = "app-secret";
        var got = new ConcurrentQueue<Order>();
        var app = await App(
            a =>
            {
                a.MapSubscribeHandler().RequireAuthorization("Dapr");
                a.MapPost("/orders", (Order o) => { got.Enqueue(o); return Results.Ok(); })
                    .WithTopic("pubsub", "orders").RequireAuthorization("Dapr");
            },
            configure: b =>
            {
                b.Services.AddAuthentication().AddDapr(o => o.Token = appToken);
                b.Services.AddAuthorization(o => o.AddDapr());
            },
            beforeEndpoints: a =>
            {
                a.UseAuthentication();
                a.UseAuthorization();
            });

        // daprd: pkg/runtime/pubsub/subscriptions.go 192-195: a non-200 answer (here 401) is logged, not an error; the
        // sidecar then has no subscriptions for that app.
        await sidecar.AddAppAsync("secure", app.BaseAddress, "wrong");
        Assert.Contains(sidecar.Warnings, w => w.Contains("401"));
        Assert.Empty(sidecar.Subscriptions);

        await sidecar.AddAppAsync("secure", app.BaseAddress, appToken);
        await dapr.PublishEventAsync("pubsub", "orders", new Order("o-7", 7));
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        Assert.Equal([new Order("o-7", 7)], got.ToArray());
        // daprd: pkg/channel/http/http_channel.go 551-553: the app token on every request to the app.
        var fromSidecar = app.Requests.Where(r => r.Token == appToken).Select(r => r.Path).ToList();
        Assert.Equal(["/dapr/subscribe", "/orders"], fromSidecar);

        using var direct = new HttpClient();
        var noToken = await direct.PostAsync(new Uri(app.BaseAddress, "/orders"), new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
    }

    // A test control, not a daprd behaviour: messages wait in the queue meanwhile.
    [Fact]
    public async Task Paused_delivery_queues_messages_until_resumed()
    {
        var got = new ConcurrentQueue<string>();
        var app = await App(a => MapWorker(a, got));
        await sidecar.AddAppAsync("worker", app.BaseAddress);

        sidecar.PauseDelivery();
        await dapr.PublishEventAsync("pubsub", "orders", new Order("held", 1));
        await Assert.ThrowsAsync<TimeoutException>(() => sidecar.WaitForIdleAsync(TimeSpan.FromMilliseconds(200)));
        Assert.Empty(got);

        sidecar.ResumeDelivery();
        await sidecar.WaitForIdleAsync(Sdk.Idle);
        Assert.Equal(["held"], got.ToArray());

        // Tests can also publish without a client.
        sidecar.Publish("pubsub", "orders", JsonSerializer.SerializeToUtf8Bytes(new Order("direct", 1), JsonSerializerOptions.Web));
        await sidecar.WaitForIdleAsync(Sdk.Idle);
        Assert.Equal(["held", "direct"], got.ToArray());
    }

    // daprd: pkg/api/errors/pubsub.go 78-85 (a failed publish is Internal) and 108-116 (an unknown pubsub is
    // InvalidArgument "pubsub X is not found").
    [Fact]
    public async Task Injected_and_invalid_publishes_fail_like_daprd()
    {
        sidecar.FailNextPublishes(1);

        var injected = await Sdk.RpcFailure(() => dapr.PublishEventAsync("pubsub", "orders", new Order("lost", 1)));
        await dapr.PublishEventAsync("pubsub", "orders", new Order("kept", 1));
        var unknown = await Sdk.RpcFailure(() => dapr.PublishEventAsync("nope", "orders", new Order("x", 1)));

        Assert.Equal(StatusCode.Internal, injected.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.Equal("pubsub nope is not found", unknown.Status.Detail);
        Assert.StartsWith("error when publishing to topic orders in pubsub pubsub: ", injected.Status.Detail);
        Assert.Equal(new Order("kept", 1), Assert.Single(sidecar.Published).GetData<Order>());
        Assert.Equal(3, sidecar.Counters.PublishEvent);
    }

    // daprd: pkg/runtime/pubsub/subscriptions.go 149-173 (rules in order, then the default route) and
    // pkg/runtime/subscription/subscription.go 362-400 (the first matching rule wins).
    [Fact]
    public async Task Routing_rules_from_TopicOptions_Match_pick_the_endpoint_and_the_default_takes_the_rest()
    {
        ConcurrentQueue<string> special = new(), plain = new();
        var app = await App(a =>
        {
            a.MapSubscribeHandler();
            a.MapPost("/special", (Order o) => { special.Enqueue(o.Id); return Results.Ok(); })
                .WithTopic(new TopicOptions { PubsubName = "pubsub", Name = "events", Match = "event.type == \"com.example.special\"", Priority = 1 });
            a.MapPost("/events", (Order o) => { plain.Enqueue(o.Id); return Results.Ok(); })
                .WithTopic("pubsub", "events");
        });
        await sidecar.AddAppAsync("router", app.BaseAddress);

        var subscription = Assert.Single(sidecar.Subscriptions).Subscription;
        Assert.Equal([("event.type == \"com.example.special\"", "special"), (null, "events")],
            subscription.Rules.Select(r => (r.Match, r.Path)));

        await dapr.PublishEventAsync("pubsub", "events", new Order("a", 1),
            new Dictionary<string, string> { ["cloudevent.type"] = "com.example.special" });
        await dapr.PublishEventAsync("pubsub", "events", new Order("b", 1));
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        Assert.Equal(["a"], special.ToArray());
        Assert.Equal(["b"], plain.ToArray());
    }

    // contrib: state/redis/redis.go 162-168 and pubsub/rabbitmq/rabbitmq.go 730-732 (the component types and features).
    [Fact]
    public async Task GetMetadata_lists_the_components_and_the_subscriptions()
    {
        var app = await App(a =>
        {
            a.MapSubscribeHandler();
            a.MapPost("/orders", (Order _) => Results.Ok())
                .WithTopic(new TopicOptions { PubsubName = "pubsub", Name = "orders", DeadLetterTopic = "orders.dead" });
        });
        await sidecar.AddAppAsync("shop", app.BaseAddress);

        var metadata = await dapr.GetMetadataAsync();

        Assert.Equal("publisher", metadata.Id);
        Assert.Equal([("pubsub", "pubsub.rabbitmq"), ("statestore", "state.redis")],
            metadata.Components.Select(c => (c.Name, c.Type)).Order());
        using var http = new HttpClient();
        var json = JsonDocument.Parse(await http.GetStringAsync(new Uri(new Uri(sidecar.HttpEndpoint), "/v1.0/metadata"))).RootElement;
        var subscription = Assert.Single(json.GetProperty("subscriptions").EnumerateArray());
        Assert.Equal(("orders", "orders.dead", "orders"), (subscription.GetProperty("topic").GetString(),
            subscription.GetProperty("deadLetterTopic").GetString(), subscription.GetProperty("rules")[0].GetProperty("path").GetString()));
    }

    // daprd: pkg/runtime/pubsub/subscriptions.go 64-88 (both subscription forms, Go's case-insensitive JSON keys),
    // pkg/runtime/processor/subscriber/subscriber.go 334-336 (an unknown pubsub is never subscribed) and
    // subscription.go 170-195 + contrib: pubsub/envelope.go 173-188 (rawPayload subscriptions get data_base64).
    [Fact]
    public async Task Hand_written_subscriptions_in_both_forms_and_raw_payloads_are_understood()
    {
        const string subscriptions = """
            [
              {"pubsubname":"pubsub","topic":"v1","route":"/v1-handler","deadLetterTopic":"v1.dead"},
              {"PubsubName":"pubsub","Topic":"v2","routes":{"rules":[{"match":"event.data.quantity > 5 && event.type != 'x'","path":"big"}],"default":"small"}},
              {"pubsubname":"pubsub","topic":"raw","route":"raw","metadata":{"rawPayload":"true"}},
              {"pubsubname":"elsewhere","topic":"ignored","route":"nope"}
            ]
            """;
        var got = new ConcurrentQueue<(string Path, string Body)>();
        var app = await App(a =>
        {
            a.MapGet("/dapr/subscribe", () => Results.Text(subscriptions, "application/json"));
            // No CloudEvents middleware in the way for these: record what the sidecar sent, envelope and all.
            a.MapPost("/{path}", async (string path, HttpRequest r) =>
            {
                using var reader = new StreamReader(r.Body);
                got.Enqueue((path, await reader.ReadToEndAsync()));
                return Results.Ok();
            });
        }, useCloudEvents: false);
        await sidecar.AddAppAsync("hand", app.BaseAddress);

        Assert.Equal(3, sidecar.Subscriptions.Count);
        Assert.Contains(sidecar.Warnings, w => w.Contains("elsewhere"));

        await dapr.PublishEventAsync("pubsub", "v1", new Order("one", 1));
        await dapr.PublishEventAsync("pubsub", "v2", new Order("big", 9));
        await dapr.PublishEventAsync("pubsub", "v2", new Order("small", 2));
        await dapr.PublishByteEventAsync("pubsub", "raw", "not json"u8.ToArray(), "text/plain",
            new Dictionary<string, string> { ["rawPayload"] = "true" });
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        var byPath = got.ToLookup(g => g.Path, g => g.Body);
        Assert.Equal(["big", "raw", "small", "v1-handler"], byPath.Select(g => g.Key).Order());
        // rawPayload: the bytes were published without an envelope; the subscriber gets them as data_base64.
        var raw = JsonDocument.Parse(byPath["raw"].Single()).RootElement;
        Assert.Equal("not json", Encoding.UTF8.GetString(raw.GetProperty("data_base64").GetBytesFromBase64()));
        Assert.Equal("application/octet-stream", raw.GetProperty("datacontenttype").GetString());
        Assert.Null(sidecar.Published[3].Id);
    }
}
