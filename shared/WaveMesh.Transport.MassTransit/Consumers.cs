using MassTransit;
using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Transport.MassTransit;

/// <summary>
/// A stage's jobs from its durable queue (replicas of the service compete for them). The job is claimed and started
/// in the background and the message acknowledged at once, so no job ever runs into RabbitMQ's consumer timeout.
/// While every slot is busy the message is held (prefetch and concurrency equal the slots, so the queue keeps the rest
/// for other replicas); after the worker's slot wait the job is published again, to the back of the queue.
/// </summary>
public sealed class JobConsumer<TJob>(IJobOffer host) : IConsumer<TJob> where TJob : StageJob
{
    public async Task Consume(ConsumeContext<TJob> context)
    {
        switch (await host.OfferAsync(context.Message, context.CancellationToken))
        {
            case Offer.Rejected: throw new InvalidOperationException($"this worker does not run {typeof(TJob).Name} jobs");
            // Stopping before a slot came free: not acknowledged, so RabbitMQ delivers it again to a live replica.
            case Offer.Busy: throw new OperationCanceledException("the worker is stopping");
        }
    }
}

/// <summary>Every event, for the orchestrator; a handler failure is retried by MassTransit's retry policy.</summary>
public sealed class EventConsumer<TEvent>(IEventHandler handler) : IConsumer<TEvent> where TEvent : IntegrationEvent
{
    public Task Consume(ConsumeContext<TEvent> context) => handler.HandleAsync(context.Message, context.CancellationToken);
}

/// <summary>
/// A message the receive pipeline could not even read (malformed JSON, an unknown shape) has been moved to the error
/// queue by MassTransit; this publishes a <see cref="StageFailed"/> saying so, so the failure is visible.
/// </summary>
public sealed class MalformedMessageReporter(IEventBus bus, string queuePrefix) : IReceiveObserver
{
    public Task PreReceive(ReceiveContext context) => Task.CompletedTask;
    public Task PostReceive(ReceiveContext context) => Task.CompletedTask;
    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;
    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

    public Task ReceiveFault(ReceiveContext context, Exception exception)
    {
        var queue = context.InputAddress?.AbsolutePath.Trim('/') ?? "unknown queue";
        // Queues are named <prefix>-<stage>; the event names the stage.
        var stage = queue.StartsWith(queuePrefix + "-", StringComparison.Ordinal) ? queue[(queuePrefix.Length + 1)..] : queue;
        var reason = $"unreadable message on {queue} moved to the error queue: {exception.GetBaseException().Message.ReplaceLineEndings(" ")}";
        return bus.PublishAsync(new StageFailed("", stage, "malformed message", reason, 1));
    }
}
