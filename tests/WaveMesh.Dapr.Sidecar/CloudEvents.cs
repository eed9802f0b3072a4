using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>
/// Builds the bytes daprd puts on the broker for a publish: a CloudEvents 1.0 JSON envelope around the data (or the
/// publisher's own CloudEvent completed by daprd, or the raw data when metadata <c>rawPayload</c> is true).
/// Like daprd (Go maps), the envelope's keys are written in ordinal order.
/// </summary>
internal static class CloudEvents
{
    public const string EventType = "com.dapr.event.sent";
    public const string SpecVersion = "1.0";
    public const string ContentType = "application/cloudevents+json";
    const string DefaultSourceForForeignEvents = "Dapr";

    static readonly JsonSerializerOptions Output = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public sealed record Built(byte[] Payload, string? Id, string DataContentType);

    public static bool IsContentType(string? contentType, string expected)
    {
        if (string.IsNullOrEmpty(contentType)) return false;
        var semicolon = contentType.IndexOf(';', StringComparison.Ordinal);
        var media = (semicolon >= 0 ? contentType[..semicolon] : contentType).Trim();
        return string.Equals(media, expected, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>JSON as daprd's IsJSONContentType sees it: exactly application/json (parameters allowed), nothing else.</summary>
    static bool IsJson(string contentType) => IsContentType(contentType, "application/json");

    static bool IsBinary(string contentType) => IsContentType(contentType, "application/octet-stream");

    public static bool IsTrue(IReadOnlyDictionary<string, string> metadata, string key) =>
        metadata.TryGetValue(key, out var v) && bool.TryParse(v, out var b) && b;

    public static Built Build(string pubsub, string topic, byte[] data, string? dataContentType, IReadOnlyDictionary<string, string> metadata,
        string defaultSource, string? traceParentHeader, string? traceStateHeader)
    {
        var contentType = string.IsNullOrEmpty(dataContentType) ? "text/plain" : dataContentType;

        if (IsTrue(metadata, "rawPayload"))
            return new Built(data, null, contentType);

        string Meta(string key) => metadata.TryGetValue(key, out var v) ? v : "";
        var traceParent = FirstNonEmpty(Meta("cloudevent.traceparent"), Meta("traceparent"), ChildOf(traceParentHeader)) ?? NewTraceParent();
        var traceState = FirstNonEmpty(Meta("cloudevent.tracestate"), Meta("tracestate"), traceStateHeader) ?? "";

        JsonObject ce;
        if (IsContentType(contentType, ContentType))
        {
            // The publisher sent its own CloudEvent: daprd keeps it and sets the routing and tracing fields.
            try
            {
                ce = JsonNode.Parse(data) as JsonObject ?? throw new JsonException("not a JSON object");
            }
            catch (JsonException e)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"cannot create cloudevent: {e.Message}"));
            }
            ce["traceid"] = traceParent;
            ce["traceparent"] = traceParent;
            ce["tracestate"] = traceState;
            ce["topic"] = topic;
            ce["pubsubname"] = pubsub;
            if (ce["source"] is null) ce["source"] = DefaultSourceForForeignEvents;
            if (ce["type"] is null) ce["type"] = EventType;
            if (ce["specversion"] is null) ce["specversion"] = SpecVersion;
        }
        else
        {
            ce = new JsonObject
            {
                ["id"] = FirstNonEmpty(Meta("cloudevent.id")) ?? Guid.NewGuid().ToString(),
                ["source"] = FirstNonEmpty(Meta("cloudevent.source")) ?? defaultSource,
                ["type"] = FirstNonEmpty(Meta("cloudevent.type")) ?? EventType,
                ["specversion"] = SpecVersion,
                ["datacontenttype"] = contentType,
                ["topic"] = topic,
                ["pubsubname"] = pubsub,
                ["traceid"] = traceParent,
                ["traceparent"] = traceParent,
                ["tracestate"] = traceState,
                ["time"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            };
            if (FirstNonEmpty(Meta("cloudevent.subject")) is { } subject) ce["subject"] = subject;

            if (IsJson(contentType))
            {
                JsonNode? parsed;
                try
                {
                    parsed = data.Length == 0 ? throw new JsonException("empty") : JsonNode.Parse(data);
                }
                catch (JsonException)
                {
                    // daprd falls back to the data as a string when it is not valid JSON.
                    parsed = JsonValue.Create(Encoding.UTF8.GetString(data));
                }
                ce["data"] = parsed;
            }
            else if (IsBinary(contentType))
            {
                ce["data_base64"] = Convert.ToBase64String(data);
            }
            else
            {
                ce["data"] = Encoding.UTF8.GetString(data);
            }
        }

        var id = ce["id"] is JsonValue idValue && idValue.TryGetValue<string>(out var s) ? s : null;
        return new Built(Serialize(Sorted(ce)), id, contentType);
    }

    /// <summary>The envelope daprd makes on the subscriber's side for a subscription with metadata rawPayload=true.</summary>
    public static byte[] FromRawPayload(byte[] payload, string topic, string pubsub)
    {
        var ce = new JsonObject
        {
            ["id"] = Guid.NewGuid().ToString(),
            ["specversion"] = SpecVersion,
            ["datacontenttype"] = "application/octet-stream",
            ["source"] = DefaultSourceForForeignEvents,
            ["type"] = EventType,
            ["topic"] = topic,
            ["pubsubname"] = pubsub,
            ["data_base64"] = Convert.ToBase64String(payload),
        };
        return Serialize(Sorted(ce));
    }

    static byte[] Serialize(JsonNode? node) => JsonSerializer.SerializeToUtf8Bytes(node, Output);

    /// <summary>A copy with every object's keys in ordinal order (what Go's encoding/json does with maps).</summary>
    static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => new KeyValuePair<string, JsonNode?>(p.Key, Sorted(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
        null => null,
        _ => node.DeepClone(),
    };

    static string? FirstNonEmpty(params string?[] values) => values.FirstOrDefault(v => !string.IsNullOrEmpty(v));

    /// <summary>daprd continues the caller's trace in a span of its own: same trace id and flags, new span id.</summary>
    static string? ChildOf(string? traceParent)
    {
        if (string.IsNullOrEmpty(traceParent)) return null;
        var parts = traceParent.Split('-');
        if (parts.Length != 4 || parts[1].Length != 32 || parts[2].Length != 16 || parts[3].Length != 2) return null;
        return $"{parts[0]}-{parts[1]}-{RandomHex(8)}-{parts[3]}";
    }

    static string NewTraceParent() => $"00-{RandomHex(16)}-{RandomHex(8)}-00";

    static string RandomHex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}
