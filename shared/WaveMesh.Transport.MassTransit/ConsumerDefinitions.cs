using MassTransit;
using Microsoft.Extensions.Options;
using WaveMesh.Contracts;

namespace WaveMesh.Transport.MassTransit;

/// <summary>Jobs a worker runs at once: each of its job queues' prefetch and concurrency.</summary>
public sealed record JobSlots(int Count);

/// <summary>
/// Where a stage's jobs are consumed: the durable queue <c>&lt;prefix&gt;-&lt;stage&gt;</c>, shared by the stage's replicas,
/// with prefetch and concurrency equal to the worker's slots (so the queue keeps what this replica cannot start for the
/// others) and the transport's retry policy for a delivery that could not be offered (the state store unreachable).
/// </summary>
public sealed class JobConsumerDefinition<TJob> : ConsumerDefinition<JobConsumer<TJob>> where TJob : StageJob
{
    readonly int slots;

    public JobConsumerDefinition(IOptions<RabbitMqOptions> options, JobSlots slots)
    {
        this.slots = Math.Max(1, slots.Count);
        EndpointName = options.Value.Queue(Topics.StageOf(typeof(TJob)));
        ConcurrentMessageLimit = this.slots;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<JobConsumer<TJob>> consumerConfigurator, IRegistrationContext context)
    {
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit) rabbit.PrefetchCount = slots;
        endpointConfigurator.UseMessageRetry(Redelivery.Policy);
    }
}

/// <summary>
/// Where the orchestrator consumes events: every event type on one queue, <c>&lt;prefix&gt;-control</c>, one at a time (the
/// orchestrator handles events in order), with the transport's retry policy for a handler that failed.
/// </summary>
public sealed class EventConsumerDefinition<TEvent> : ConsumerDefinition<EventConsumer<TEvent>> where TEvent : IntegrationEvent
{
    public EventConsumerDefinition(IOptions<RabbitMqOptions> options)
    {
        EndpointName = options.Value.ControlQueue;
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<EventConsumer<TEvent>> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(Redelivery.Policy);
}

/// <summary>The one retry policy of WaveMesh's consumers: five more tries, backing off from 200 ms to 10 s.</summary>
static class Redelivery
{
    public static void Policy(IRetryConfigurator r) =>
        r.Exponential(5, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(500));
}
