using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>
/// A span the sidecar started, as daprd exports its own spans to the trace collector next to the apps' spans: a
/// publish (the gRPC call's server span) or a delivery (the client span of the POST to the app). With them a test can
/// follow a trace across the sidecar, as a user does in Jaeger.
/// </summary>
public sealed record SidecarSpan(string TraceId, string SpanId, string? ParentSpanId, string Name);

/// <summary>A W3C trace context (traceparent), parsed like daprd does.</summary>
internal readonly record struct TraceContext(string TraceId, string SpanId, string Flags)
{
    public override string ToString() => $"00-{TraceId}-{SpanId}-{Flags}";

    /// <summary>
    /// daprd: pkg/diagnostics/tracing.go 57-110 (SpanContextFromW3CString): at least 4 dash-separated sections (exactly 4
    /// for version 00), a hex version below ff, 32 lower-case hex digits of trace id and 16 of span id (OpenTelemetry's
    /// TraceIDFromHex/SpanIDFromHex accept only a-f0-9), neither all zero, and hex flags of which the first byte counts.
    /// </summary>
    public static TraceContext? Parse(string? w3c)
    {
        if (string.IsNullOrEmpty(w3c)) return null;
        var s = w3c.Split('-');
        if (s.Length < 4 || s[0].Length != 2 || !s[0].All(Uri.IsHexDigit)) return null;
        if (s[0] is "ff" or "FF" or "fF" or "Ff" || (s[0] == "00" && s.Length != 4)) return null;
        if (s[1].Length != 32 || !IsLowerHex(s[1]) || s[1].All(c => c == '0')) return null;
        if (s[2].Length != 16 || !IsLowerHex(s[2]) || s[2].All(c => c == '0')) return null;
        if (s[3].Length < 2 || s[3].Length % 2 != 0 || !s[3].All(Uri.IsHexDigit)) return null;
        return new TraceContext(s[1], s[2], s[3][..2].ToLowerInvariant());
    }

    static bool IsLowerHex(string s) => s.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));

    /// <summary>A span started under <paramref name="parent"/>: same trace id and flags, new span id; a new (unsampled) trace without a parent.</summary>
    public static TraceContext ChildOf(TraceContext? parent) =>
        parent is { } p ? p with { SpanId = RandomHex(8) } : new TraceContext(RandomHex(16), RandomHex(8), "00");

    static string RandomHex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}

/// <summary>
/// Builds the bytes daprd puts on the broker for a publish: a CloudEvents 1.0 JSON envelope around the data (or the
/// publisher's own CloudEvent completed by daprd, or the raw data when metadata <c>rawPayload</c> is true), written
/// the way Go's json.Marshal writes a map.
/// </summary>
internal static class CloudEvents
{
    public const string EventType = "com.dapr.event.sent";
    public const string SpecVersion = "1.0";
    public const string ContentType = "application/cloudevents+json";
    /// <summary>contrib: pubsub/envelope.go DefaultCloudEventSource.</summary>
    const string DefaultSource = "Dapr";

    public sealed record Built(byte[] Payload, string? Id, string DataContentType);

    /// <summary>
    /// contrib: contenttype/utils.go 58-70 (isContentType): lower-cased, equal to <paramref name="expected"/> or equal to
    /// it before the first ';' (no whitespace trimming).
    /// </summary>
    public static bool IsContentType(string? contentType, string expected)
    {
        if (string.IsNullOrEmpty(contentType)) return false;
        var lower = contentType.ToLowerInvariant();
        if (lower == expected) return true;
        var semicolon = lower.IndexOf(';', StringComparison.Ordinal);
        return semicolon >= 0 && lower[..semicolon] == expected;
    }

    /// <summary>Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False, nothing else.</summary>
    public static bool TryParseGoBool(string text, out bool value)
    {
        switch (text)
        {
            case "1" or "t" or "T" or "TRUE" or "true" or "True": value = true; return true;
            case "0" or "f" or "F" or "FALSE" or "false" or "False": value = false; return true;
            default: value = false; return false;
        }
    }

    /// <summary>
    /// contrib: metadata/utils.go 103-115 (IsRawPayload): key "rawPayload" (exact); missing or empty = false; otherwise
    /// strconv.ParseBool, whose failure is an error.
    /// </summary>
    public static bool IsRawPayload(IReadOnlyDictionary<string, string> metadata, out string? error)
    {
        error = null;
        if (!metadata.TryGetValue("rawPayload", out var v) || v.Length == 0) return false;
        if (TryParseGoBool(v, out var b)) return b;
        error = $"rawPayload value must be a valid boolean: actual is '{v}'";
        return false;
    }

    /// <summary>
    /// PublishEvent as daprd 1.16 builds the broker message (dapr: pkg/api/grpc/grpc.go 174-229).
    /// <paramref name="span"/> is daprd's span of the gRPC call, whose W3C string becomes traceid/traceparent.
    /// </summary>
    public static Built Build(string pubsub, string topic, byte[] data, string? dataContentType, IReadOnlyDictionary<string, string> metadata,
        string source, TraceContext span)
    {
        // daprd: grpc.go 165-169, a rawPayload value that is no bool is InvalidArgument "failed deserializing metadata".
        bool raw = IsRawPayload(metadata, out var rawError);
        if (rawError is not null)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"failed deserializing metadata. Error: {rawError}"));
        // daprd: grpc.go 219-222, raw payloads go to the broker as they are (traceid/tracestate only as component metadata).
        if (raw) return new Built(data, null, string.IsNullOrEmpty(dataContentType) ? "text/plain" : dataContentType);

        // daprd: diag.TraceIDAndStateFromSpan (tracing.go 180-198). The tracestate of the incoming call is lost: daprd
        // discards the result of sc.WithTraceState (pkg/diagnostics/grpc_tracing.go 316-318), so it is always "".
        var traceId = span.ToString();
        var traceState = "";

        JsonObject ce;
        if (IsContentType(dataContentType, ContentType))
        {
            // daprd: pkg/runtime/pubsub/cloudevents.go 40-42 -> contrib: pubsub/envelope.go 129-170 (FromCloudEvent). The
            // cloudevent.* metadata overrides do not apply on this path.
            if (!GoJson.TryDecodeFirst(data, out var parsed, out _) || parsed.ValueKind != JsonValueKind.Object)
                throw new RpcException(new Status(StatusCode.InvalidArgument, "cannot create cloudevent"));
            ce = (JsonObject)GoJson.ToNode(parsed)!;
            if (!ce.ContainsKey("time")) ce["time"] = Now();
            if (!ce.ContainsKey("traceid"))
            {
                ce["traceid"] = traceId;
                ce["traceparent"] = traceId;
            }
            if (!ce.ContainsKey("tracestate")) ce["tracestate"] = traceState;
            ce["topic"] = topic;
            ce["pubsubname"] = pubsub;
            if (ce["source"] is null) ce["source"] = DefaultSource;
            if (ce["type"] is null) ce["type"] = EventType;
            if (ce["specversion"] is null) ce["specversion"] = SpecVersion;
        }
        else
        {
            // daprd: cloudevents.go 25-36, 46: mapstructure.WeakDecode of the metadata into the fields tagged
            // cloudevent.id|source|type|traceid|tracestate|traceparent (case-insensitive keys); nothing else, so no
            // cloudevent.subject and no plain traceparent/tracestate.
            string id = "", eventType = "", ceSource = source, ceTraceParent = "";
            if (Override(metadata, "cloudevent.id") is { } oid) id = oid;
            if (Override(metadata, "cloudevent.source") is { } osrc) ceSource = osrc;
            if (Override(metadata, "cloudevent.type") is { } otype) eventType = otype;
            if (Override(metadata, "cloudevent.traceid") is { } otid) traceId = otid;
            if (Override(metadata, "cloudevent.tracestate") is { } ots) traceState = ots;
            if (Override(metadata, "cloudevent.traceparent") is { } otp) ceTraceParent = otp;
            // cloudevents.go 52-54: a traceparent override wins over traceid.
            if (ceTraceParent.Length > 0) traceId = ceTraceParent;

            // contrib: pubsub/envelope.go 72-126 (NewCloudEventsEnvelope), defaults at 76-87.
            var contentType = string.IsNullOrEmpty(dataContentType) ? "text/plain" : dataContentType;
            ce = new JsonObject
            {
                ["id"] = id.Length > 0 ? id : Guid.NewGuid().ToString(),
                ["specversion"] = SpecVersion,
                ["datacontenttype"] = contentType,
                ["source"] = ceSource.Length > 0 ? ceSource : DefaultSource,
                ["type"] = eventType.Length > 0 ? eventType : EventType,
                ["topic"] = topic,
                ["pubsubname"] = pubsub,
                ["traceid"] = traceId,
                ["traceparent"] = traceId,
                ["tracestate"] = traceState,
                ["time"] = Now(),
            };
            if (IsContentType(contentType, "application/json"))
            {
                // envelope.go 92-103: decoded with UseNumber (first value only); undecodable (empty included) -> the text.
                ce["data"] = GoJson.TryDecodeFirst(data, out var value, out _) ? GoJson.ToNode(value) : JsonValue.Create(Encoding.UTF8.GetString(data));
            }
            else if (IsContentType(contentType, "application/octet-stream") || IsContentType(contentType, "application/cloudevents+protobuf"))
            {
                ce["data_base64"] = Convert.ToBase64String(data);
            }
            else
            {
                ce["data"] = Encoding.UTF8.GetString(data);
            }
        }

        var ceId = ce["id"] is JsonValue idValue && idValue.GetValueKind() == JsonValueKind.String ? idValue.GetValue<string>() : null;
        // daprd: grpc.go 211, json.Marshal of the map.
        return new Built(GoJson.Marshal(ce), ceId, string.IsNullOrEmpty(dataContentType) ? "text/plain" : dataContentType);
    }

    /// <summary>mapstructure's case-insensitive key match: the exact key first, else any key equal ignoring case.</summary>
    static string? Override(IReadOnlyDictionary<string, string> metadata, string key)
    {
        if (metadata.TryGetValue(key, out var v)) return v;
        foreach (var (k, value) in metadata)
            if (string.Equals(k, key, StringComparison.OrdinalIgnoreCase)) return value;
        return null;
    }

    /// <summary>Go's time.Now().Format(time.RFC3339) in a UTC container: seconds, "Z".</summary>
    static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// The envelope daprd makes on the subscriber's side for a subscription with metadata rawPayload=true
    /// (contrib: pubsub/envelope.go 173-188 FromRawPayload, serialised at dapr: subscription.go 183); the id is new for
    /// every broker delivery.
    /// </summary>
    public static byte[] FromRawPayload(byte[] payload, string topic, string pubsub, string id)
    {
        var ce = new JsonObject
        {
            ["id"] = id,
            ["specversion"] = SpecVersion,
            ["datacontenttype"] = "application/octet-stream",
            ["source"] = DefaultSource,
            ["type"] = EventType,
            ["topic"] = topic,
            ["pubsubname"] = pubsub,
            ["data_base64"] = Convert.ToBase64String(payload),
        };
        return GoJson.Marshal(ce);
    }

    /// <summary>
    /// contrib: pubsub/envelope.go 190-203 (HasExpired): an "expiration" that parses as RFC 3339 and lies in the past.
    /// </summary>
    public static bool HasExpired(JsonElement cloudEvent, DateTimeOffset now)
    {
        if (!cloudEvent.TryGetProperty("expiration", out var e)) return false;
        var text = e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText();
        if (string.IsNullOrEmpty(text)) return false;
        if (!DateTimeOffset.TryParseExact(text, ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFFFK"], CultureInfo.InvariantCulture,
                DateTimeStyles.None, out var expiration)) return false;
        return expiration < now;
    }
}
