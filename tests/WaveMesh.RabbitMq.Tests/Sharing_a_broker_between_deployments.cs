using WaveMesh.Contracts;
using WaveMesh.RabbitMq.Tests.Infrastructure;

namespace WaveMesh.RabbitMq.Tests;

/// <summary>QueuePrefix keeps deployments on one broker apart: queues and the message-type exchanges MassTransit publishes to.</summary>
[Trait("Category", "Integration")]
public sealed class Sharing_a_broker_between_deployments : IAsyncLifetime
{
    readonly string[] prefixes = ["wmt-" + Guid.NewGuid().ToString("N")[..10], "wmt-" + Guid.NewGuid().ToString("N")[..10]];
    readonly List<EventObserver> observers = [];

    public async Task InitializeAsync()
    {
        await Servers.RequireAsync();
        foreach (var prefix in prefixes) observers.Add(await EventObserver.StartAsync(Deployment.RabbitOptions(prefix)));
    }

    public async Task DisposeAsync()
    {
        foreach (var observer in observers) await observer.DisposeAsync();
        foreach (var prefix in prefixes) await Servers.DeleteBrokerEntitiesAsync(prefix);
    }

    [Fact]
    public async Task A_deployment_never_receives_the_messages_of_another_deployment_with_another_prefix()
    {
        var (a, b) = (observers[0], observers[1]);
        var mine = new StageFailed("key-a", StageNames.Evaluate, "only for a", "test", 1) { RunId = Guid.NewGuid() };
        var theirs = new StageFailed("key-b", StageNames.Evaluate, "only for b", "test", 1) { RunId = Guid.NewGuid() };

        await a.PublishAsync(mine);
        await b.PublishAsync(theirs);
        await a.WaitForAsync<StageFailed>(f => f.Id == mine.Id, TimeSpan.FromSeconds(20), "a's own event");
        await b.WaitForAsync<StageFailed>(f => f.Id == theirs.Id, TimeSpan.FromSeconds(20), "b's own event");
        // Routing happens when a message is published: had b's event been routed into a's queue, it would sit there ahead
        // of a's marker, published after it (publisher confirms), and a's queue delivers in order. So once each marker
        // is in, nothing of the other deployment can still arrive.
        var markerA = mine with { Id = Guid.NewGuid(), Description = "marker" };
        var markerB = theirs with { Id = Guid.NewGuid(), Description = "marker" };
        await a.PublishAsync(markerA);
        await b.PublishAsync(markerB);
        await a.WaitForAsync<StageFailed>(f => f.Id == markerA.Id, TimeSpan.FromSeconds(20), "a's marker");
        await b.WaitForAsync<StageFailed>(f => f.Id == markerB.Id, TimeSpan.FromSeconds(20), "b's marker");

        Assert.Equal([mine.Id, markerA.Id], a.All<StageFailed>().Select(f => f.Id));
        Assert.Equal([theirs.Id, markerB.Id], b.All<StageFailed>().Select(f => f.Id));
        // Every exchange and queue the two buses declared carries its deployment's prefix.
        foreach (var prefix in prefixes)
        {
            Assert.Contains($"{prefix}.WaveMesh.Contracts:StageFailed", await Servers.ExchangesAsync(prefix));
            Assert.Contains($"{prefix}-observer", (await Servers.QueuesAsync(prefix)).Select(q => q.Name));
        }
    }
}
