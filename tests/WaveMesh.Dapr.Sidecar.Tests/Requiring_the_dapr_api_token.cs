using System.Net;
using Dapr.Client;
using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace WaveMesh.Dapr.Sidecar.Tests;

/// <summary>DAPR_API_TOKEN: what an app must send to the sidecar.</summary>
public sealed class Requiring_the_dapr_api_token : IAsyncLifetime
{
    const string Token = "sidecar-secret";
    TestSidecar sidecar = null!;

    public async Task InitializeAsync() => sidecar = await TestSidecar.StartAsync(new TestSidecarOptions { DaprApiToken = Token });

    public async Task DisposeAsync() => await sidecar.DisposeAsync();

    // daprd: pkg/api/grpc/auth.go 42-59: a missing or different dapr-api-token is Unauthenticated.
    [Fact]
    public async Task gRPC_calls_without_the_token_or_with_another_one_are_Unauthenticated()
    {
        using var none = Sdk.Client(sidecar, token: "");
        using var wrong = Sdk.Client(sidecar, token: "guess");
        using var right = Sdk.Client(sidecar, token: Token);

        var missing = await Sdk.RpcFailure(() => none.SaveStateAsync("statestore", "k", 1));
        var mismatch = await Sdk.RpcFailure(() => wrong.GetStateAsync<int>("statestore", "k"));
        var publish = await Sdk.RpcFailure(() => none.PublishEventAsync("pubsub", "orders", new Order("o", 1)));

        Assert.Equal(StatusCode.Unauthenticated, missing.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, mismatch.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, publish.StatusCode);
        Assert.Empty(sidecar.Snapshot("statestore"));
        Assert.Empty(sidecar.Published);

        await right.SaveStateAsync("statestore", "k", 1);
        Assert.Equal(1, await right.GetStateAsync<int>("statestore", "k"));
        Assert.Equal(3, sidecar.Counters.Failed);
    }

    // daprd: pkg/api/http/healthz.go 29-55: both health endpoints are AlwaysAllowed (no token needed).
    [Fact]
    public async Task HTTP_calls_need_the_token_except_the_health_probes()
    {
        using var http = new HttpClient { BaseAddress = new Uri(sidecar.HttpEndpoint) };

        Assert.Equal(HttpStatusCode.NoContent, (await http.GetAsync("/v1.0/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await http.GetAsync("/v1.0/healthz/outbound")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1.0/metadata")).StatusCode);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1.0/metadata");
        request.Headers.Add("dapr-api-token", Token);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"statestore\"", await response.Content.ReadAsStringAsync());

        // So WaitForSidecarAsync works even for a client that has no token (as with daprd).
        using var none = Sdk.Client(sidecar, token: "");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await none.WaitForSidecarAsync(timeout.Token);
    }

    // Wiring only (DAPR_GRPC_ENDPOINT, DAPR_HTTP_ENDPOINT, DAPR_API_TOKEN as the Dapr SDK reads them); daprd checks the token as in pkg/api/grpc/auth.go 42-59.
    [Fact]
    public async Task An_app_configured_with_the_sidecars_configuration_keys_reaches_it_through_AddDaprClient()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(sidecar.ClientConfiguration()).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddDaprClient();
        await using var provider = services.BuildServiceProvider();
        var dapr = provider.GetRequiredService<DaprClient>();

        await dapr.SaveStateAsync("statestore", "wired", "yes");

        Assert.Equal("yes", await dapr.GetStateAsync<string>("statestore", "wired"));
        Assert.Equal(Token, configuration["DAPR_API_TOKEN"]);
    }
}
