using System.Diagnostics;
using System.Text;
using Dapr.Client;
using Microsoft.Extensions.Options;
using WaveMesh.Contracts;
using WaveMesh.Messaging;
using WaveMesh.Workers;

namespace WaveMesh.Transport.Dapr;

/// <summary>Publishes every message on its topic through the Dapr sidecar, as contract JSON, with the current W3C trace context.</summary>
public sealed class DaprEventBus(DaprClient dapr, IOptions<DaprOptions> options) : IEventBus, IDeadLetters
{
    public Task PublishAsync(object message, CancellationToken cancellation = default) =>
        Publish(Topics.Of(message.GetType()), message, cancellation);

    public Task SendAsync(StageJob job, string reason, CancellationToken cancellation = default) =>
        Publish(Topics.DeadLetter(Topics.Of(job.GetType())), job, cancellation, reason);

    Task Publish(string topic, object message, CancellationToken cancellation, string? reason = null)
    {
        var metadata = new Dictionary<string, string>();
        // Dapr carries traceparent to the subscriber, so one pipeline run is one trace across services.
        if (Activity.Current is { } activity) metadata["traceparent"] = activity.Id!;
        if (reason is not null) metadata["wavemesh.reason"] = reason;
        var json = Encoding.UTF8.GetBytes(ContractJson.Serialize(message));
        return dapr.PublishByteEventAsync(options.Value.PubSub, topic, json, "application/json", metadata, cancellation);
    }
}
