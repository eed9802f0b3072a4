using System.Text;
using System.Text.Json;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>What one delivery attempt (one HTTP POST to an app) ended with, as daprd classifies the answer
/// (dapr: pkg/runtime/subscription/postman/http/http.go 86-157).</summary>
public enum DeliveryStatus
{
    /// <summary>2xx with status SUCCESS, an empty or null status, an empty body or a body daprd cannot decode: acked.</summary>
    Success,
    /// <summary>2xx with status RETRY or a status daprd does not know (case-sensitive): retried by the inbound policy.</summary>
    Retry,
    /// <summary>
    /// 2xx with status DROP (dead-lettered when the subscription has a dead-letter topic, then acked), or HTTP 404
    /// (acked and NOT dead-lettered; daprd only counts it as a drop in its metrics, http.go 140-148).
    /// </summary>
    Drop,
    /// <summary>Another non-2xx answer, a connection failure or an expired <see cref="TestSidecarOptions.AppRequestTimeout"/>: retried.</summary>
    Failed,
}

/// <summary>
/// One delivery attempt to one replica of one app-id. <paramref name="Attempt"/> counts the attempts of the inbound
/// retry policy within one broker delivery (it starts again at 1 when the broker redelivers a requeued message);
/// <paramref name="BrokerDelivery"/> counts how often the broker handed this message to a sidecar of this app-id.
/// </summary>
public sealed record DeliveryRecord(
    string PubsubName,
    string Topic,
    string AppId,
    Uri Replica,
    string Route,
    string? MessageId,
    int Attempt,
    DeliveryStatus Status,
    int? HttpStatusCode,
    string? Error,
    DateTimeOffset At,
    int BrokerDelivery = 1);

/// <summary>How a replica's sidecar settled one broker delivery with RabbitMQ.</summary>
public enum OutcomeKind
{
    /// <summary>Acked without a dead-letter publish (SUCCESS, 404, DROP or no matching route without a dead-letter topic, expired event).</summary>
    Acked,
    /// <summary>Published to the subscription's dead-letter topic, then acked.</summary>
    DeadLettered,
    /// <summary>Nacked with requeue (requeueInFailure: true): back in the queue, where any replica's sidecar may take it.</summary>
    Requeued,
    /// <summary>The replica was removed while the message was unacked: the broker put it back in the queue.</summary>
    ReplicaRemoved,
}

/// <summary>The end of one broker delivery: what the sidecar told the broker, and why.</summary>
public sealed record MessageOutcome(
    string PubsubName,
    string Topic,
    string AppId,
    Uri Replica,
    string? MessageId,
    int BrokerDelivery,
    int Attempts,
    OutcomeKind Kind,
    string Reason,
    DateTimeOffset At);

/// <summary>
/// A message as it went onto a topic: published by an app, or dead-lettered by a sidecar. Only <see cref="Payload"/>
/// travels to subscribers; <see cref="PublishRequestMetadata"/> is what the publisher handed to the pub/sub component
/// and never reaches a subscriber (RabbitMQ maps only a few keys to AMQP properties, contrib: pubsub/rabbitmq/rabbitmq.go
/// 247-263, and daprd's consumer side does not read them back unless publishMessagePropertiesToMetadata is on, 631-633).
/// </summary>
public sealed class PublishedMessage
{
    internal PublishedMessage(string pubsubName, string topic, string? id, string dataContentType, byte[] data, byte[] payload,
        IReadOnlyDictionary<string, string> publishRequestMetadata, string? originalTopic = null, string? deadLetteredBy = null, string? deadLetterReason = null)
    {
        PubsubName = pubsubName;
        Topic = topic;
        Id = id;
        DataContentType = dataContentType;
        Data = data;
        Payload = payload;
        PublishRequestMetadata = publishRequestMetadata;
        OriginalTopic = originalTopic;
        DeadLetteredBy = deadLetteredBy;
        DeadLetterReason = deadLetterReason;
        At = DateTimeOffset.UtcNow;
    }

    public string PubsubName { get; }
    /// <summary>The topic the message went to (for a dead-lettered message: the dead-letter topic).</summary>
    public string Topic { get; }
    /// <summary>The CloudEvent id (null for a raw payload that is not a CloudEvent).</summary>
    public string? Id { get; }
    /// <summary>Content type of <see cref="Data"/> as the publisher gave it ("text/plain" when it gave none, like daprd).</summary>
    public string DataContentType { get; }
    /// <summary>The bytes the publisher sent in PublishEventRequest.data.</summary>
    public byte[] Data { get; }
    /// <summary>The bytes on the broker: the CloudEvent JSON envelope (or the raw data with metadata rawPayload=true).</summary>
    public byte[] Payload { get; }
    /// <summary>
    /// The metadata of the publish request (for a dead-lettered message: the delivery's metadata daprd republishes,
    /// i.e. pubsubName). An observation of what the publisher asked, not data of the message: subscribers never see it.
    /// </summary>
    public IReadOnlyDictionary<string, string> PublishRequestMetadata { get; }
    /// <summary>For a dead-lettered message: the topic it failed on.</summary>
    public string? OriginalTopic { get; }
    /// <summary>For a dead-lettered message: the app-id whose sidecar dead-lettered it.</summary>
    public string? DeadLetteredBy { get; }
    /// <summary>For a dead-lettered message: why (DROP, retries exhausted, no matching route, ...); an observation of the fake, not part of the message.</summary>
    public string? DeadLetterReason { get; }
    public DateTimeOffset At { get; }

    /// <summary><see cref="Payload"/> as text.</summary>
    public string PayloadText => Encoding.UTF8.GetString(Payload);

    /// <summary>The CloudEvent envelope (throws when the payload is not JSON).</summary>
    public JsonElement CloudEvent()
    {
        using var doc = JsonDocument.Parse(Payload);
        return doc.RootElement.Clone();
    }

    /// <summary>The envelope's <c>data</c> deserialized as <typeparamref name="T"/> (web defaults: camelCase, case-insensitive).</summary>
    public T? GetData<T>(JsonSerializerOptions? options = null)
    {
        var ce = CloudEvent();
        if (ce.ValueKind == JsonValueKind.Object && ce.TryGetProperty("data", out var data))
            return data.Deserialize<T>(options ?? JsonSerializerOptions.Web);
        return JsonSerializer.Deserialize<T>(Data, options ?? JsonSerializerOptions.Web);
    }

    public override string ToString() =>
        DeadLetterReason is null ? $"{PubsubName}/{Topic} id={Id}" : $"{PubsubName}/{Topic} id={Id} (dead letter of {OriginalTopic} by {DeadLetteredBy}: {DeadLetterReason})";
}

/// <summary>How many calls of each kind the sidecar answered (including those that ended in an error).</summary>
public sealed class SidecarCounters
{
    long getState, getBulkState, saveState, deleteState, deleteBulkState, transactions, publish, metadata, failed;

    public long GetState => Interlocked.Read(ref getState);
    public long GetBulkState => Interlocked.Read(ref getBulkState);
    public long SaveState => Interlocked.Read(ref saveState);
    public long DeleteState => Interlocked.Read(ref deleteState);
    public long DeleteBulkState => Interlocked.Read(ref deleteBulkState);
    public long ExecuteStateTransaction => Interlocked.Read(ref transactions);
    public long PublishEvent => Interlocked.Read(ref publish);
    public long GetMetadata => Interlocked.Read(ref metadata);
    /// <summary>gRPC calls that ended with a non-OK status (authentication failures included).</summary>
    public long Failed => Interlocked.Read(ref failed);

    internal void Count(string rpc)
    {
        switch (rpc)
        {
            case "GetState": Interlocked.Increment(ref getState); break;
            case "GetBulkState": Interlocked.Increment(ref getBulkState); break;
            case "SaveState": Interlocked.Increment(ref saveState); break;
            case "DeleteState": Interlocked.Increment(ref deleteState); break;
            case "DeleteBulkState": Interlocked.Increment(ref deleteBulkState); break;
            case "ExecuteStateTransaction": Interlocked.Increment(ref transactions); break;
            case "PublishEvent": Interlocked.Increment(ref publish); break;
            case "GetMetadata": Interlocked.Increment(ref metadata); break;
        }
    }

    internal void CountFailure() => Interlocked.Increment(ref failed);

    public void Reset()
    {
        Interlocked.Exchange(ref getState, 0);
        Interlocked.Exchange(ref getBulkState, 0);
        Interlocked.Exchange(ref saveState, 0);
        Interlocked.Exchange(ref deleteState, 0);
        Interlocked.Exchange(ref deleteBulkState, 0);
        Interlocked.Exchange(ref transactions, 0);
        Interlocked.Exchange(ref publish, 0);
        Interlocked.Exchange(ref metadata, 0);
        Interlocked.Exchange(ref failed, 0);
    }

    public override string ToString() =>
        $"get={GetState} bulkGet={GetBulkState} save={SaveState} delete={DeleteState} bulkDelete={DeleteBulkState} tx={ExecuteStateTransaction} publish={PublishEvent} failed={Failed}";
}
