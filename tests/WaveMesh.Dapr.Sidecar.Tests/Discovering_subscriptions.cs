using System.Net;
using System.Net.Sockets;

namespace WaveMesh.Dapr.Sidecar.Tests;

/// <summary>GET /dapr/subscribe: when daprd asks, what it sends, and what it makes of the answer.</summary>
public sealed class Discovering_subscriptions : IAsyncLifetime
{
    readonly List<IAsyncDisposable> owned = [];
    TestSidecar sidecar = null!;

    public async Task InitializeAsync() => owned.Add(sidecar = await TestSidecar.StartAsync(Sdk.Fast()));

    public async Task DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(owned)) await d.DisposeAsync();
    }

    async Task<RawApp> App(string subscriptions, int status = 200)
    {
        var a = await RawApp.StartAsync(subscriptions, subscribeStatus: status);
        owned.Add(a);
        return a;
    }

    // daprd: pkg/runtime/pubsub/subscriptions.go 101-110 (GET dapr/subscribe, content type application/json, header
    // Dapr-App-Id), pkg/channel/http/http_channel.go 551-553 (dapr-api-token), and
    // pkg/runtime/processor/subscriber/subscriber.go 510-526 (asked once per sidecar).
    [Fact]
    public async Task The_sidecar_asks_once_per_replica_with_the_app_id_and_the_app_token()
    {
        var app = await App("""[{"pubsubname":"pubsub","topic":"orders","route":"/orders"}]""");
        await sidecar.AddAppAsync("shop", app.BaseAddress, "app-token");
        sidecar.Publish("pubsub", "orders", "{}"u8.ToArray());
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        var call = Assert.Single(app.SubscribeCalls);
        Assert.Equal(("GET", "application/json", "shop", "app-token"),
            (call.Method, call.Header("content-type"), call.Header("dapr-app-id"), call.Header("dapr-api-token")));
        Assert.Single(app.Posts);
    }

    // daprd: subscriptions.go 136-198: only a 200 is read; 404 means no subscriptions, any other status is logged and
    // means no subscriptions too; none of them is an error for the sidecar.
    [Theory]
    [InlineData(404, false)]
    [InlineData(204, true)]
    [InlineData(401, true)]
    [InlineData(500, true)]
    [InlineData(503, true)]
    public async Task Any_answer_but_200_means_no_subscriptions_and_no_exception(int status, bool warned)
    {
        var app = await App("""[{"pubsubname":"pubsub","topic":"orders","route":"/orders"}]""", status);

        await sidecar.AddAppAsync("shop", app.BaseAddress);

        Assert.Empty(sidecar.Subscriptions);
        Assert.Equal(warned, sidecar.Warnings.Any(w => w.Contains($"status code {status}")));
        Assert.Single(app.SubscribeCalls);
    }

    // daprd: subscriptions.go 138-143 (json.Decoder: an empty body is no subscriptions, a syntax error fails them all,
    // only the first JSON value is read) and Go's encoding/json (a value of the wrong type fails the whole decode).
    [Theory]
    [InlineData("", 0, false)]
    [InlineData("null", 0, false)]
    [InlineData("[{\"pubsubname\":\"pubsub\",\"topic\":\"orders\",\"route\":\"/o\"}] trailing", 1, false)]
    [InlineData("[{\"pubsubname\":\"pubsub\",\"topic\":\"orders\",\"route\":\"/o\"}", 0, true)]
    [InlineData("[{\"pubsubname\":\"pubsub\",\"topic\":\"orders\",\"route\":\"/o\",\"metadata\":{\"n\":1}}]", 0, true)]
    [InlineData("{\"pubsubname\":\"pubsub\"}", 0, true)]
    public async Task The_answer_is_decoded_like_Gos_json_Decoder(string body, int subscriptions, bool warned)
    {
        var app = await App(body);

        await sidecar.AddAppAsync("shop", app.BaseAddress);

        Assert.Equal(subscriptions, sidecar.Subscriptions.Count);
        Assert.Equal(warned, sidecar.Warnings.Any(w => w.Contains("deserializing")));
    }

    // daprd: subscriptions.go 306-320 (CreateRoutingRule: an empty or blank match is a rule without expression, i.e. a
    // catch-all) and 201-212 (filterSubscriptions: a subscription without any route is dropped with a warning).
    [Fact]
    public async Task A_blank_match_is_a_catch_all_and_a_subscription_without_routes_is_dropped()
    {
        var app = await App("""
            [{"pubsubname":"pubsub","topic":"orders","routes":{"rules":[{"match":"  ","path":"/all"},{"match":"event.type == 'x'","path":"/x"}]}},
             {"pubsubname":"pubsub","topic":"nowhere"}]
            """);

        await sidecar.AddAppAsync("shop", app.BaseAddress);
        sidecar.Publish("pubsub", "orders", "{}"u8.ToArray());
        await sidecar.WaitForIdleAsync(Sdk.Idle);

        var sub = Assert.Single(sidecar.Subscriptions).Subscription;
        Assert.Equal([(null, "/all"), ("event.type == 'x'", "/x")], sub.Rules.Select(r => (r.Match, r.Path)));
        Assert.Contains(sidecar.Warnings, w => w.Contains("topic nowhere has an empty routes"));
        Assert.Equal(["/all"], app.Posts.Select(p => p.Path));
    }

    // daprd: subscriptions.go 113-128 with pkg/resiliency/resiliency.go 403-417: a transport error is retried 3 times,
    // then only logged ("failed to subscribe"); the sidecar runs without subscriptions.
    [Fact]
    public async Task An_unreachable_app_is_a_warning_after_three_retries()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now

        await sidecar.AddAppAsync("ghost", new Uri($"http://127.0.0.1:{port}/"));

        Assert.Empty(sidecar.Subscriptions);
        Assert.Contains(sidecar.Warnings, w => w.Contains("failed to subscribe to topics"));
    }
}
