using System.Text;
using Microsoft.AspNetCore.Http;

namespace WaveMesh.Dapr.Sidecar.Tests;

/// <summary>
/// The broker side: RabbitMQ as components-contrib's pubsub.rabbitmq uses it with components/pubsub.yaml (durable queue
/// per app-id and topic, prefetchCount, concurrencyMode parallel, requeue of unacked messages).
/// </summary>
public sealed class Queueing_messages_like_RabbitMQ : IAsyncLifetime
{
    readonly List<IAsyncDisposable> owned = [];
    TestSidecar sidecar = null!;

    const string OrdersSubscription = """[{"pubsubname":"pubsub","topic":"orders","route":"/orders"}]""";

    public async Task InitializeAsync() => owned.Add(sidecar = await TestSidecar.StartAsync(Sdk.Fast()));

    public async Task DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(owned)) await d.DisposeAsync();
    }

    async Task<RawApp> App(Func<Received, int, Task<IResult>>? answer = null, string subscriptions = OrdersSubscription)
    {
        var a = await RawApp.StartAsync(subscriptions, answer);
        owned.Add(a);
        return a;
    }

    static byte[] Order(string id) => Encoding.UTF8.GetBytes($$"""{"id":"{{id}}","quantity":1}""");

    static Func<Received, int, Task<IResult>> Holding(TaskCompletionSource release) =>
        async (_, _) => { await release.Task; return Results.Ok(); };

    // contrib: pubsub/rabbitmq/rabbitmq.go 472-480 (basic.qos prefetchCount per consumer, components/pubsub.yaml: 1) and
    // 611-618 (concurrencyMode parallel): every replica's sidecar holds one unacked message, so two replicas work on two
    // messages at once while the third waits in the queue.
    [Fact]
    public async Task Every_replica_holds_up_to_prefetchCount_unacked_messages_at_once()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = await App(Holding(release));
        var second = await App(Holding(release));
        await sidecar.AddAppAsync("worker", first.BaseAddress);
        await sidecar.AddAppAsync("worker", second.BaseAddress);

        foreach (var id in new[] { "a", "b", "c" }) sidecar.Publish("pubsub", "orders", Order(id));
        await Sdk.Until(() => first.Posts.Count() == 1 && second.Posts.Count() == 1, "both replicas hold a message");

        Assert.Equal(1, sidecar.QueueDepths[("worker", "pubsub", "orders")]);
        Assert.Empty(sidecar.Outcomes);
        release.SetResult();
        await sidecar.WaitForIdleAsync(Sdk.Idle);
        Assert.Equal(3, first.Posts.Count() + second.Posts.Count());
        Assert.Equal(3, sidecar.Outcomes.Count(o => o.Kind == OutcomeKind.Acked));
    }

    // contrib: pubsub/rabbitmq/rabbitmq.go 472-480 and 611-618: with prefetchCount 2 one replica's sidecar handles two
    // messages in parallel.
    [Fact]
    public async Task With_prefetchCount_2_one_replica_handles_two_messages_in_parallel()
    {
        await using var two = await TestSidecar.StartAsync(Sdk.Fast(o => o.PrefetchCount = 2));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var app = await App(Holding(release));
        await two.AddAppAsync("worker", app.BaseAddress);

        foreach (var id in new[] { "a", "b", "c" }) two.Publish("pubsub", "orders", Order(id));
        await Sdk.Until(() => app.Posts.Count() == 2, "the replica holds two messages");

        Assert.Equal(1, two.QueueDepths[("worker", "pubsub", "orders")]);
        release.SetResult();
        await two.WaitForIdleAsync(Sdk.Idle);
        Assert.Equal(3, app.Posts.Count());
    }

    // contrib: pubsub/rabbitmq/rabbitmq.go 328-334 + 465 (the queue <app-id>-<topic> is declared by the first subscription,
    // durable and not deleted when unused, components/pubsub.yaml) and 482-496 (bound to the topic's fanout exchange):
    // before that a publish is lost for the app-id; afterwards messages wait in the queue while no replica consumes it.
    [Fact]
    public async Task A_topic_no_app_id_ever_subscribed_loses_messages_and_a_declared_queue_keeps_them_while_no_replica_runs()
    {
        sidecar.Publish("pubsub", "orders", Order("too-early"));
        Assert.Contains(sidecar.Warnings, w => w.Contains("no queue is bound") && w.Contains("pubsub/orders"));

        var app = await App();
        await sidecar.AddAppAsync("worker", app.BaseAddress);
        await sidecar.WaitForIdleAsync(Sdk.Idle);
        Assert.Equal(0, sidecar.QueueDepths[("worker", "pubsub", "orders")]);
        Assert.Empty(sidecar.Outcomes);

        sidecar.RemoveApp("worker");
        sidecar.Publish("pubsub", "orders", Order("kept"));
        await sidecar.WaitForIdleAsync(Sdk.Idle); // nothing could take it: not pending
        Assert.Equal(1, sidecar.QueueDepths[("worker", "pubsub", "orders")]);

        var later = await App();
        await sidecar.AddAppAsync("worker", later.BaseAddress);
        await Sdk.Until(() => sidecar.Outcomes.Count == 1, "the kept message was delivered");
        Assert.Contains("\"kept\"", Assert.Single(later.Posts).BodyText);
        Assert.DoesNotContain(app.Posts.Concat(later.Posts), p => p.BodyText.Contains("too-early"));
    }

    // RabbitMQ requeues the unacked messages of a consumer whose channel closes (the sidecar went away with its replica);
    // daprd does not dead-letter while shutting down (dapr: pkg/runtime/subscription/subscription.go 297-298).
    [Fact]
    public async Task A_removed_replica_gives_its_unacked_message_back_to_the_queue_for_another_replica()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var dying = await App(Holding(never));
        await sidecar.AddAppAsync("worker", dying.BaseAddress);
        sidecar.Publish("pubsub", "orders", Order("survivor"));
        await Sdk.Until(() => dying.Posts.Any(), "the first replica got the message");

        Assert.True(sidecar.RemoveApp("worker", dying.BaseAddress));
        var removed = Assert.Single(sidecar.Outcomes);
        Assert.Equal((OutcomeKind.ReplicaRemoved, 1), (removed.Kind, removed.BrokerDelivery));
        Assert.Equal(1, sidecar.QueueDepths[("worker", "pubsub", "orders")]);
        never.SetResult();

        var heir = await App();
        await sidecar.AddAppAsync("worker", heir.BaseAddress);
        await Sdk.Until(() => sidecar.Outcomes.Any(o => o.Kind == OutcomeKind.Acked), "the other replica acked it");
        Assert.Single(heir.Posts);
        var delivered = sidecar.Deliveries.Single(d => d.Replica.Port == heir.BaseAddress.Port);
        Assert.Equal((2, 1, DeliveryStatus.Success), (delivered.BrokerDelivery, delivered.Attempt, delivered.Status));
        Assert.Empty(sidecar.DeadLettered);
    }

    // contrib: pubsub/rabbitmq/rabbitmq.go 371-377 + 482-496: a fanout exchange per topic, one queue per app-id, so a
    // dead-letter topic (published like any other, dapr: subscription.go 343-358) reaches every app-id subscribed to it.
    [Fact]
    public async Task Every_app_id_gets_its_own_copy_and_replicas_share_one()
    {
        var w1 = await App();
        var w2 = await App();
        var audit = await App();
        await sidecar.AddAppAsync("worker", w1.BaseAddress);
        await sidecar.AddAppAsync("worker", w2.BaseAddress);
        await sidecar.AddAppAsync("audit", audit.BaseAddress);

        for (int i = 0; i < 4; i++) sidecar.Publish("pubsub", "orders", Order($"o-{i}"));
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        Assert.Equal(4, w1.Posts.Count() + w2.Posts.Count());
        Assert.Equal(4, audit.Posts.Count());
        Assert.Equal(8, sidecar.Outcomes.Count(o => o.Kind == OutcomeKind.Acked));
    }
}
