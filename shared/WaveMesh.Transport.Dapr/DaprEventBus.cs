using System.Diagnostics;
using System.Text;
using Dapr.Client;
using Microsoft.Extensions.Options;
using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Transport.Dapr;

/// <summary>Publishes every message on its topic through the Dapr sidecar, as contract JSON, with the current W3C trace context.</summary>
public sealed class DaprEventBus(DaprClient dapr, IOptions<DaprOptions> options) : IEventBus, IDeadLetters
{
    public Task PublishAsync(object message, CancellationToken cancellation = default) =>
        Publish(Topics.Of(message.GetType()), message, cancellation);

    /// <summary>
    /// The job goes to its dead-letter topic marked as failed for good (CloudEvent type <see cref="DaprTransport.FailedJobType"/>).
    /// The reason travels in the <see cref="StageFailed"/> event published before: daprd passes publish metadata to the
    /// broker only, never to subscribers (pkg/runtime/pubsub/cloudevents.go).
    /// </summary>
    public Task SendAsync(StageJob job, string reason, CancellationToken cancellation = default) =>
        Publish(Topics.DeadLetter(Topics.Of(job.GetType())), job, cancellation, DaprTransport.FailedJobType);

    Task Publish(string topic, object message, CancellationToken cancellation, string? cloudEventType = null)
    {
        var metadata = new Dictionary<string, string>();
        // daprd writes cloudevent.traceparent into the envelope it delivers (pkg/runtime/pubsub/cloudevents.go), so one
        // pipeline run is one trace across services whatever the gRPC call itself carries.
        if (Activity.Current is { } activity) metadata["cloudevent.traceparent"] = activity.Id!;
        if (cloudEventType is not null) metadata["cloudevent.type"] = cloudEventType;
        var json = Encoding.UTF8.GetBytes(ContractJson.Serialize(message));
        return dapr.PublishByteEventAsync(options.Value.PubSub, topic, json, "application/json", metadata, cancellation);
    }
}
