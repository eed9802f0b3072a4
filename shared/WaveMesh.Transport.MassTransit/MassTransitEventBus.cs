using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Transport.MassTransit;

/// <summary>
/// Publishes on RabbitMQ through MassTransit (publisher confirms on; W3C trace context in the headers). While the
/// broker is unreachable a publish is retried with backoff, so a result finished during a broker restart is not lost.
/// Dead letters are sent to the stage queue's error queue, where MassTransit puts messages it gave up on.
/// </summary>
public sealed class MassTransitEventBus(IBus bus, IOptions<RabbitMqOptions> options, ILogger<MassTransitEventBus> log) : IEventBus, IDeadLetters
{
    public Task PublishAsync(object message, CancellationToken cancellation = default) =>
        Resilient(() => bus.Publish(message, message.GetType(), cancellation), message.GetType().Name, cancellation);

    public async Task SendAsync(StageJob job, string reason, CancellationToken cancellation = default)
    {
        var endpoint = await bus.GetSendEndpoint(new Uri($"queue:{options.Value.ErrorQueue(job.Stage)}"));
        await Resilient(() => endpoint.Send(job, job.GetType(), c => c.Headers.Set("wavemesh-reason", reason), cancellation), "dead letter", cancellation);
    }

    async Task Resilient(Func<Task> publish, string what, CancellationToken cancellation)
    {
        var until = DateTime.UtcNow + options.Value.PublishRetryFor;
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                await publish();
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && DateTime.UtcNow < until)
            {
                log.LogWarning("publishing {What} failed ({Reason}); retrying in {Delay}", what, e.Message, delay);
                await Task.Delay(delay, cancellation);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }
}
