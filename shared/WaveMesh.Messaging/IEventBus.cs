namespace WaveMesh.Messaging;

/// <summary>
/// The only way WaveMesh's parts talk: publish a message (an event or a job); every subscriber whose type accepts it
/// gets it. Implementations: in-process (embedded mode), Dapr pub/sub, MassTransit on RabbitMQ.
/// </summary>
public interface IEventBus
{
    Task PublishAsync(object message, CancellationToken cancellation = default);
}

/// <summary>Subscribing by message type; a handler that throws has failed that delivery.</summary>
public interface ISubscriber
{
    /// <summary>
    /// Delivers every published message assignable to <typeparamref name="T"/> to <paramref name="handler"/>, with at
    /// most <paramref name="concurrency"/> deliveries at a time, in publication order when it is 1.
    /// </summary>
    IDisposable Subscribe<T>(Func<T, CancellationToken, Task> handler, int concurrency = 1) where T : class;
}

/// <summary>What the orchestrator does with every event, whatever transport delivered it.</summary>
public interface IEventHandler
{
    Task HandleAsync(WaveMesh.Contracts.IntegrationEvent e, CancellationToken cancellation);
}
