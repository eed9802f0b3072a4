using System.Text;
using System.Text.Json;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>What one delivery attempt to an app ended with.</summary>
public enum DeliveryStatus
{
    /// <summary>2xx with status SUCCESS, an empty status, an empty body or a body that is not a JSON object.</summary>
    Success,
    /// <summary>2xx with status RETRY or a status daprd does not know (the values are case-sensitive, as in daprd).</summary>
    Retry,
    /// <summary>2xx with status DROP, or HTTP 404 (daprd treats a missing route as a drop, not as a retriable error).</summary>
    Drop,
    /// <summary>Another non-2xx answer, a timeout or a connection failure: retried.</summary>
    Failed,
}

/// <summary>One attempt to deliver one message to one replica of one app-id.</summary>
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
    DateTimeOffset At);

/// <summary>A message as it went onto a topic: published by an app, or dead-lettered by the sidecar.</summary>
public sealed class PublishedMessage
{
    internal PublishedMessage(string pubsubName, string topic, string? id, string dataContentType, byte[] data, byte[] payload,
        IReadOnlyDictionary<string, string> metadata, string? originalTopic = null, string? deadLetteredBy = null, string? deadLetterReason = null)
    {
        PubsubName = pubsubName;
        Topic = topic;
        Id = id;
        DataContentType = dataContentType;
        Data = data;
        Payload = payload;
        Metadata = metadata;
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
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>For a dead-lettered message: the topic it failed on.</summary>
    public string? OriginalTopic { get; }
    /// <summary>For a dead-lettered message: the app-id that could not (or would not) take it.</summary>
    public string? DeadLetteredBy { get; }
    /// <summary>For a dead-lettered message: why (DROP, retries exhausted, no matching route, ...).</summary>
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
