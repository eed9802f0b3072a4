using System.Collections.Concurrent;
using System.Net;
using Dapr;
using Dapr.Client;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WaveMesh.Dapr.Sidecar.Tests;

public sealed record Order(string Id, int Quantity);

internal static class Sdk
{
    /// <summary>The real SDK client pointed at the sidecar; token "" means none (the builder would otherwise read DAPR_API_TOKEN).</summary>
    public static DaprClient Client(TestSidecar sidecar, string? token = null) =>
        new DaprClientBuilder()
            .UseGrpcEndpoint(sidecar.GrpcEndpoint)
            .UseHttpEndpoint(sidecar.HttpEndpoint)
            .UseDaprApiToken(token ?? sidecar.Options.DaprApiToken ?? "")
            .Build();

    /// <summary>The gRPC status under the SDK's DaprException.</summary>
    public static async Task<RpcException> RpcFailure(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<DaprException>(call);
        return Assert.IsType<RpcException>(e.InnerException);
    }

    public static TestSidecarOptions Fast(Action<TestSidecarOptions>? change = null)
    {
        var o = new TestSidecarOptions { RedeliveryBackoff = TimeSpan.FromMilliseconds(10), AppRequestTimeout = TimeSpan.FromSeconds(10) };
        change?.Invoke(o);
        return o;
    }

    public static readonly TimeSpan Idle = TimeSpan.FromSeconds(15);
}

/// <summary>A real ASP.NET Core app on 127.0.0.1 (ephemeral port) with Dapr.AspNetCore's CloudEvents middleware.</summary>
internal sealed class SubscriberApp : IAsyncDisposable
{
    SubscriberApp(WebApplication app, Uri baseAddress, ConcurrentQueue<(string Path, string? Token)> requests)
    {
        App = app;
        BaseAddress = baseAddress;
        Requests = requests;
    }

    public WebApplication App { get; }
    public Uri BaseAddress { get; }

    /// <summary>Every request the app got: path and the dapr-api-token header.</summary>
    public ConcurrentQueue<(string Path, string? Token)> Requests { get; }

    public static async Task<SubscriberApp> StartAsync(
        Action<WebApplication> map,
        Action<WebApplicationBuilder>? configure = null,
        CloudEventsMiddlewareOptions? cloudEvents = null,
        Action<WebApplication>? beforeEndpoints = null,
        bool useCloudEvents = true)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(SubscriberApp).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Production",
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        configure?.Invoke(builder);
        var app = builder.Build();
        var requests = new ConcurrentQueue<(string Path, string? Token)>();
        app.Use(async (context, next) =>
        {
            requests.Enqueue((context.Request.Path.Value ?? "", context.Request.Headers["dapr-api-token"].FirstOrDefault()));
            await next(context);
        });
        if (useCloudEvents) app.UseCloudEvents(cloudEvents ?? new CloudEventsMiddlewareOptions());
        beforeEndpoints?.Invoke(app);
        map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new SubscriberApp(app, new Uri(address), requests);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
