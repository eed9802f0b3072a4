using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Dapr.Client;
using Grpc.Core;

namespace WaveMesh.Dapr.Sidecar.Tests;

/// <summary>PublishEvent: the CloudEvent daprd builds, and the request the subscriber's sidecar sends with it.</summary>
public sealed class Publishing_cloud_events : IAsyncLifetime
{
    TestSidecar sidecar = null!;
    DaprClient dapr = null!;
    RawApp app = null!;

    public async Task InitializeAsync()
    {
        sidecar = await TestSidecar.StartAsync(Sdk.Fast(o => o.AppId = "publisher"));
        dapr = Sdk.Client(sidecar);
        app = await RawApp.StartAsync("""
            [{"pubsubname":"pubsub","topic":"orders","route":"/orders"},
             {"pubsubname":"pubsub","topic":"raw","route":"/raw"}]
            """);
        await sidecar.AddAppAsync("sub", app.BaseAddress, appApiToken: "app-token");
    }

    public async Task DisposeAsync()
    {
        dapr.Dispose();
        await app.DisposeAsync();
        await sidecar.DisposeAsync();
    }

    static readonly Order SomeOrder = new("o-1", 2);

    static (string TraceId, string SpanId, string Flags) Parts(string traceparent)
    {
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", traceparent);
        var p = traceparent.Split('-');
        return (p[1], p[2], p[3]);
    }

    // daprd: pkg/diagnostics/grpc_tracing.go 99-113 + 296-321: daprd's span of the PublishEvent call is a child of the
    // traceparent header the .NET gRPC client sends; pkg/api/grpc/grpc.go 186-199 writes that span into traceid and
    // traceparent (contrib: pubsub/envelope.go 113-115). The tracestate header is lost (grpc_tracing.go 316-318 discards
    // the WithTraceState result). Without a trace context daprd starts a new trace.
    [Fact]
    public async Task The_envelope_carries_a_child_span_of_the_calls_trace_context()
    {
        using var activity = new Activity("publish").SetIdFormat(ActivityIdFormat.W3C);
        activity.ActivityTraceFlags = ActivityTraceFlags.Recorded;
        activity.TraceStateString = "vendor=value";
        activity.Start();
        await dapr.PublishEventAsync("pubsub", "orders", SomeOrder);
        activity.Stop();
        Activity.Current = null;
        await dapr.PublishEventAsync("pubsub", "orders", SomeOrder);

        var traced = sidecar.Published[0].CloudEvent();
        var (traceId, spanId, flags) = Parts(traced.GetProperty("traceparent").GetString()!);
        Assert.Equal((activity.TraceId.ToHexString(), "01"), (traceId, flags));
        Assert.NotEqual(activity.SpanId.ToHexString(), spanId);
        Assert.Equal(traced.GetProperty("traceparent").GetString(), traced.GetProperty("traceid").GetString());
        Assert.Equal("", traced.GetProperty("tracestate").GetString());

        var untraced = sidecar.Published[1].CloudEvent();
        Assert.NotEqual(traceId, Parts(untraced.GetProperty("traceid").GetString()!).TraceId);
    }

    // daprd: pkg/runtime/pubsub/cloudevents.go 25-56: only metadata cloudevent.id|source|type|traceid|traceparent|
    // tracestate override the envelope (traceparent wins over traceid); plain traceparent/tracestate keys and
    // cloudevent.subject do nothing (subject is always empty, 55-56).
    [Fact]
    public async Task Only_the_cloudevent_prefixed_trace_id_source_and_type_keys_override_the_envelope()
    {
        const string forced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        const string ignored = "00-11111111111111111111111111111111-2222222222222222-01";
        await dapr.PublishEventAsync("pubsub", "orders", SomeOrder, new Dictionary<string, string>
        {
            ["traceparent"] = ignored,
            ["tracestate"] = "ignored=1",
            ["cloudevent.subject"] = "ignored",
            ["cloudevent.traceid"] = ignored,
            ["cloudevent.traceparent"] = forced,
            ["cloudevent.tracestate"] = "kept=1",
            ["cloudevent.id"] = "my-id",
            ["CloudEvent.Source"] = "my-source",
            ["cloudevent.type"] = "my.type",
        });

        var ce = sidecar.Published.Single().CloudEvent();
        Assert.Equal((forced, forced, "kept=1"), (ce.GetProperty("traceid").GetString(), ce.GetProperty("traceparent").GetString(), ce.GetProperty("tracestate").GetString()));
        Assert.Equal(("my-id", "my-source", "my.type"), (ce.GetProperty("id").GetString(), ce.GetProperty("source").GetString(), ce.GetProperty("type").GetString()));
        Assert.False(ce.TryGetProperty("subject", out _));
        Assert.Equal("my-id", sidecar.Published.Single().Id);
    }

    // contrib: pubsub/envelope.go 129-170 (FromCloudEvent): a publisher's own CloudEvent keeps its traceid (and gets
    // daprd's only when it has none), gets `time` only when missing, keeps its other fields, gets topic and pubsubname;
    // cloudevent.* metadata does not apply to it. Invalid JSON is InvalidArgument "cannot create cloudevent"
    // (dapr: pkg/api/errors/pubsub.go 162-169).
    [Fact]
    public async Task A_publishers_own_CloudEvent_keeps_its_trace_and_gets_time_when_missing()
    {
        var own = """{"id":"ce-1","specversion":"1.0","type":"my.type","source":"me","traceid":"mine","data":{"x":1},"extra":true}""";
        await dapr.PublishByteEventAsync("pubsub", "orders", Encoding.UTF8.GetBytes(own), "application/cloudevents+json",
            new Dictionary<string, string> { ["cloudevent.id"] = "not-applied" });
        await dapr.PublishByteEventAsync("pubsub", "orders", """{"id":"ce-2","time":"2020-01-01T00:00:00Z"}"""u8.ToArray(), "application/cloudevents+json");

        var first = sidecar.Published[0].CloudEvent();
        Assert.Equal(("ce-1", "mine", "me", "orders", "pubsub", true), (first.GetProperty("id").GetString(), first.GetProperty("traceid").GetString(),
            first.GetProperty("source").GetString(), first.GetProperty("topic").GetString(), first.GetProperty("pubsubname").GetString(), first.GetProperty("extra").GetBoolean()));
        Assert.False(first.TryGetProperty("traceparent", out _));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", first.GetProperty("time").GetString());

        var second = sidecar.Published[1].CloudEvent();
        Assert.Equal("2020-01-01T00:00:00Z", second.GetProperty("time").GetString());
        Parts(second.GetProperty("traceid").GetString()!);
        Assert.Equal(("Dapr", "com.dapr.event.sent", "1.0"), (second.GetProperty("source").GetString(), second.GetProperty("type").GetString(), second.GetProperty("specversion").GetString()));

        var invalid = await Sdk.RpcFailure(() => dapr.PublishByteEventAsync("pubsub", "orders", "[1]"u8.ToArray(), "application/cloudevents+json"));
        Assert.Equal((StatusCode.InvalidArgument, "cannot create cloudevent"), (invalid.StatusCode, invalid.Status.Detail));
    }

    // contrib: metadata/utils.go 103-115 (IsRawPayload: strconv.ParseBool) and dapr: pkg/api/grpc/grpc.go 165-169 (an
    // invalid value is InvalidArgument "failed deserializing metadata").
    [Fact]
    public async Task rawPayload_is_read_like_Gos_ParseBool()
    {
        static Dictionary<string, string> Raw(string v) => new() { ["rawPayload"] = v };
        await dapr.PublishByteEventAsync("pubsub", "raw", "one"u8.ToArray(), "text/plain", Raw("1"));
        await dapr.PublishByteEventAsync("pubsub", "raw", "two"u8.ToArray(), "text/plain", Raw("T"));
        await dapr.PublishByteEventAsync("pubsub", "raw", "three"u8.ToArray(), "text/plain", Raw("FALSE"));
        await dapr.PublishByteEventAsync("pubsub", "raw", "four"u8.ToArray(), "text/plain", Raw(""));
        var invalid = await Sdk.RpcFailure(() => dapr.PublishByteEventAsync("pubsub", "raw", "five"u8.ToArray(), "text/plain", Raw("yes")));

        Assert.Equal(["one", "two"], sidecar.Published.Take(2).Select(p => p.PayloadText));
        Assert.All(sidecar.Published.Skip(2), p => Assert.Equal(JsonValueKind.Object, p.CloudEvent().ValueKind));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Equal("failed deserializing metadata. Error: rawPayload value must be a valid boolean: actual is 'yes'", invalid.Status.Detail);
        Assert.Equal(4, sidecar.Published.Count);
    }

    // dapr: pkg/api/grpc/grpc.go 224-229: the publish metadata goes to the component only; RabbitMQ maps none of these keys
    // to the message (contrib: pubsub/rabbitmq/rabbitmq.go 247-263), so subscribers never see it.
    [Fact]
    public async Task Publish_metadata_is_not_delivered_with_the_message()
    {
        await dapr.PublishEventAsync("pubsub", "orders", SomeOrder, new Dictionary<string, string> { ["wavemesh.reason"] = "worker crashed" });
        await Sdk.Until(() => sidecar.Outcomes.Count == 1, "the message was delivered");

        var published = sidecar.Published.Single();
        Assert.Equal("worker crashed", published.PublishRequestMetadata["wavemesh.reason"]);
        Assert.DoesNotContain("wavemesh", published.PayloadText);
        var delivered = app.Posts.Single();
        Assert.DoesNotContain("wavemesh", delivered.BodyText);
        Assert.DoesNotContain(delivered.Headers, h => h.Key.Contains("wavemesh") || h.Value.Contains("worker crashed"));
    }

    // dapr: pkg/api/grpc/grpc.go 211: json.Marshal writes map keys sorted and escapes < > & (Go src/encoding/json/encode.go);
    // contrib: pubsub/envelope.go 92-103: application/json data is decoded (first value only), anything undecodable is kept
    // as a string; contrib: contenttype/utils.go 58-70: content types are compared without trimming.
    [Fact]
    public async Task The_envelope_is_written_like_Gos_json_Marshal()
    {
        await dapr.PublishByteEventAsync("pubsub", "orders", """{"b":"<a&b>","a":[1.50,{"z":1,"y":2}]} trailing"""u8.ToArray(), "application/json");
        await dapr.PublishByteEventAsync("pubsub", "orders", "not json"u8.ToArray(), "application/json");
        await dapr.PublishByteEventAsync("pubsub", "orders", """{"a":1}"""u8.ToArray(), "application/json ; charset=utf-8");

        var text = sidecar.Published[0].PayloadText;
        Assert.Contains("""
            "data":{"a":[1.50,{"y":2,"z":1}],"b":"\u003ca\u0026b\u003e"}
            """.Trim(), text);
        Assert.Equal("not json", sidecar.Published[1].CloudEvent().GetProperty("data").GetString());
        Assert.Equal("""{"a":1}""", sidecar.Published[2].CloudEvent().GetProperty("data").GetString());
    }

    // daprd: pkg/runtime/subscription/postman/http/http.go 64-87: POST <route> with the broker's exact bytes, content type
    // application/cloudevents+json, the message metadata as headers (pubsubName, subscription.go 143-147), the app token
    // (pkg/channel/http/http_channel.go 551-553) and the traceparent of a client span under the event's traceparent, else
    // its traceid (http.go 76-84, http_channel.go 540-549): same trace id, new span id; none when the event has neither.
    [Fact]
    public async Task The_delivery_carries_the_broker_bytes_the_pubsub_name_the_token_and_a_child_span()
    {
        await dapr.PublishEventAsync("pubsub", "orders", SomeOrder);
        const string traceIdOnly = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        await dapr.PublishByteEventAsync("pubsub", "orders", Encoding.UTF8.GetBytes($$"""{"id":"x","traceid":"{{traceIdOnly}}"}"""), "application/json",
            new Dictionary<string, string> { ["rawPayload"] = "true" });
        await dapr.PublishByteEventAsync("pubsub", "orders", """{"id":"y"}"""u8.ToArray(), "application/json", new Dictionary<string, string> { ["rawPayload"] = "true" });
        await Sdk.Until(() => sidecar.Outcomes.Count == 3, "three messages delivered");

        var posts = app.Posts.ToList();
        var first = posts[0];
        Assert.Equal(sidecar.Published[0].Payload, first.Body);
        Assert.Equal("/orders", first.Path);
        Assert.Equal(("application/cloudevents+json", "pubsub", "app-token"), (first.Header("content-type"), first.Header("pubsubname"), first.Header("dapr-api-token")));
        var eventTrace = Parts(sidecar.Published[0].CloudEvent().GetProperty("traceparent").GetString()!);
        var sent = Parts(first.Header("traceparent")!);
        Assert.Equal(eventTrace.TraceId, sent.TraceId);
        Assert.NotEqual(eventTrace.SpanId, sent.SpanId);
        Assert.Null(first.Header("tracestate"));

        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", Parts(posts[1].Header("traceparent")!).TraceId);
        Assert.NotEqual("00f067aa0ba902b7", Parts(posts[1].Header("traceparent")!).SpanId);
        Assert.Null(posts[2].Header("traceparent"));
        Assert.Equal("""{"id":"y"}""", posts[2].BodyText);
    }

    // daprd: pkg/api/errors/pubsub.go 108-151 (validation errors) run before the envelope is built.
    [Fact]
    public async Task Invalid_publishes_are_refused_like_daprd()
    {
        // DaprClient refuses an empty topic itself; the test helper goes through the sidecar's own checks.
        var noTopic = Assert.Throws<RpcException>(() => sidecar.Publish("pubsub", "", "{}"u8.ToArray()));
        var unknown = await Sdk.RpcFailure(() => dapr.PublishEventAsync("other", "orders", SomeOrder));
        Assert.Equal((StatusCode.InvalidArgument, "topic is empty in pubsub pubsub"), (noTopic.StatusCode, noTopic.Status.Detail));
        Assert.Equal((StatusCode.InvalidArgument, "pubsub other is not found"), (unknown.StatusCode, unknown.Status.Detail));
        Assert.Empty(sidecar.Published);
    }
}
