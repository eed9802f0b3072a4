using System.Net;
using Grpc.Core;

namespace WaveMesh.Dapr.Sidecar.Tests;

/// <summary>Health endpoints and a sidecar that is not up yet (daprd initialising its components) or goes away.</summary>
public sealed class Starting_the_sidecar
{
    // daprd: pkg/runtime/runtime.go 606-701 (the components are initialised before the gRPC and HTTP servers start, so
    // nothing answers meanwhile): DaprClient's probes see no sidecar and gRPC calls fail with Unavailable; once up,
    // WaitForSidecarAsync (polling /v1.0/healthz/outbound) returns. daprd reads /dapr/subscribe only after that.
    [Fact]
    public async Task A_sidecar_that_is_not_up_yet_refuses_everything_until_it_becomes_available()
    {
        await using var sidecar = await TestSidecar.StartAsync(Sdk.Fast(o => o.StartUnavailable = true));
        using var dapr = Sdk.Client(sidecar);
        await using var app = await RawApp.StartAsync("[]");

        Assert.False(sidecar.IsAvailable);
        Assert.False(await dapr.CheckHealthAsync());
        Assert.False(await dapr.CheckOutboundHealthAsync());
        var refused = await Sdk.RpcFailure(() => dapr.SaveStateAsync("statestore", "k", 1));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        await Assert.ThrowsAsync<InvalidOperationException>(() => sidecar.AddAppAsync("shop", app.BaseAddress));
        Assert.Empty(app.SubscribeCalls);

        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var waiting = dapr.WaitForSidecarAsync(patience.Token);
        Assert.False(waiting.IsCompleted);

        sidecar.BecomeAvailable();
        await waiting;
        Assert.True(await dapr.CheckHealthAsync());
        // The client's gRPC channel reconnects on its own back-off after the refused connection.
        await Sdk.Eventually(() => dapr.SaveStateAsync("statestore", "k", 1));
        await sidecar.AddAppAsync("shop", app.BaseAddress);
        Assert.Single(app.SubscribeCalls);
    }

    // daprd: pkg/api/http/healthz.go 58-88 + pkg/messages/predefined.go 76-78: /v1.0/healthz/outbound is 204 once the
    // servers run (pkg/runtime/runtime.go 719); /v1.0/healthz is 500 ERR_HEALTH_NOT_READY "dapr is not ready: [runtime]"
    // until daprd found the app listening and set the runtime target ready (runtime.go 371-391, 720, 1280-1326);
    // ?appid= of another app is 500 ERR_HEALTH_APPID_NOT_MATCH.
    [Fact]
    public async Task Healthz_is_not_ready_until_the_app_is_there_while_outbound_is_already_204()
    {
        await using var sidecar = await TestSidecar.StartAsync(Sdk.Fast(o => { o.WaitForApp = true; o.AppId = "shop"; }));
        using var dapr = Sdk.Client(sidecar);
        using var http = new HttpClient { BaseAddress = new Uri(sidecar.HttpEndpoint) };
        await using var app = await RawApp.StartAsync("[]");

        Assert.Equal(HttpStatusCode.NoContent, (await http.GetAsync("/v1.0/healthz/outbound")).StatusCode);
        using var notReady = await http.GetAsync("/v1.0/healthz");
        Assert.Equal(HttpStatusCode.InternalServerError, notReady.StatusCode);
        Assert.Equal("application/json", notReady.Content.Headers.ContentType?.MediaType);
        Assert.Equal("""{"errorCode":"ERR_HEALTH_NOT_READY","message":"dapr is not ready: [runtime]"}""", await notReady.Content.ReadAsStringAsync());
        Assert.False(await dapr.CheckHealthAsync());
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(15))) await dapr.WaitForSidecarAsync(patience.Token);

        await sidecar.AddAppAsync("shop", app.BaseAddress);

        Assert.True(sidecar.IsReady);
        Assert.Equal(HttpStatusCode.NoContent, (await http.GetAsync("/v1.0/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await http.GetAsync("/v1.0/healthz?appid=shop")).StatusCode);
        using var other = await http.GetAsync("/v1.0/healthz?appid=someone-else");
        Assert.Equal(HttpStatusCode.InternalServerError, other.StatusCode);
        Assert.Contains("ERR_HEALTH_APPID_NOT_MATCH", await other.Content.ReadAsStringAsync());
    }

    // A sidecar that goes away closes its connections (its servers stop, dapr: pkg/runtime/runtime.go): the probes fail,
    // gRPC calls are Unavailable, and its consumers take no new messages; it can come back.
    [Fact]
    public async Task A_sidecar_that_becomes_unavailable_fails_calls_and_stops_delivering_until_it_is_back()
    {
        await using var sidecar = await TestSidecar.StartAsync(Sdk.Fast());
        using var dapr = Sdk.Client(sidecar);
        await using var app = await RawApp.StartAsync("""[{"pubsubname":"pubsub","topic":"orders","route":"/orders"}]""");
        await sidecar.AddAppAsync("shop", app.BaseAddress);
        await dapr.SaveStateAsync("statestore", "k", 1);

        sidecar.BecomeUnavailable();

        Assert.False(await dapr.CheckHealthAsync());
        Assert.Equal(StatusCode.Unavailable, (await Sdk.RpcFailure(() => dapr.GetStateAsync<int>("statestore", "k"))).StatusCode);
        Assert.Equal(StatusCode.Unavailable, Assert.Throws<RpcException>(() => sidecar.Publish("pubsub", "orders", "{}"u8.ToArray())).StatusCode);

        sidecar.BecomeAvailable();
        sidecar.Publish("pubsub", "orders", "{}"u8.ToArray());
        await sidecar.WaitForIdleAsync(Sdk.Idle);
        Assert.Single(app.Posts);
        // The client's gRPC channel reconnects on its own back-off after the connection was lost.
        Assert.Equal(1, await Sdk.Eventually(() => dapr.GetStateAsync<int>("statestore", "k")));
    }
}
