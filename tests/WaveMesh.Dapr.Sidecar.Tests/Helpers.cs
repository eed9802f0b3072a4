using System.Collections.Concurrent;
using System.Net;
using Dapr;
using Dapr.Client;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
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

    /// <summary>daprd's behaviour with our resiliency.yaml, only faster: 10 ms between inbound retries, breaker open 30 s.</summary>
    public static TestSidecarOptions Fast(Action<TestSidecarOptions>? change = null)
    {
        var o = new TestSidecarOptions { InboundRetryInterval = TimeSpan.FromMilliseconds(10) };
        change?.Invoke(o);
        return o;
    }

    public static readonly TimeSpan Idle = TimeSpan.FromSeconds(15);

    /// <summary>Repeats <paramref name="call"/> until it succeeds (e.g. while a gRPC channel reconnects), for up to 15 s.</summary>
    public static async Task<T> Eventually<T>(Func<Task<T>> call)
    {
        var deadline = DateTime.UtcNow + Idle;
        while (true)
        {
            try { return await call(); }
            catch (DaprException) when (DateTime.UtcNow < deadline) { await Task.Delay(50); }
        }
    }

    public static Task Eventually(Func<Task> call) => Eventually(async () => { await call(); return true; });

    /// <summary>Polls <paramref name="condition"/> until it holds (a positive signal), failing after <paramref name="timeout"/> (15 s by default).</summary>
    public static async Task Until(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Idle);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited for: {what}");
            await Task.Delay(10);
        }
    }
}

/// <summary>One request a <see cref="RawApp"/> got.</summary>
internal sealed record Received(string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => System.Text.Encoding.UTF8.GetString(Body);
    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var v) ? v : null;
}

/// <summary>
/// An app without Dapr.AspNetCore: answers GET /dapr/subscribe with <c>subscribe</c> (status and body) and every other
/// request with <c>answer</c>; records everything it gets, the way the sidecar sent it.
/// </summary>
internal sealed class RawApp : IAsyncDisposable
{
    readonly WebApplication app;

    RawApp(WebApplication app, Uri baseAddress)
    {
        this.app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }
    public ConcurrentQueue<Received> Requests { get; } = new();
    public IEnumerable<Received> Posts => Requests.Where(r => r.Method == "POST");
    public IEnumerable<Received> SubscribeCalls => Requests.Where(r => r.Path == "/dapr/subscribe");

    /// <summary>The app answers with <paramref name="answer"/>(request, how many posts it had before it, 0-based).</summary>
    public static async Task<RawApp> StartAsync(string subscriptionsJson, Func<Received, int, Task<IResult>>? answer = null, int subscribeStatus = 200)
    {
        var builder = LoopbackApp.CreateBuilder();
        var web = builder.Build();
        RawApp? self = null;
        int posts = -1;
        web.Run(async context =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
            var received = new Received(context.Request.Method, context.Request.Path.Value ?? "", headers, buffer.ToArray());
            self!.Requests.Enqueue(received);
            IResult result;
            if (received.Path == "/dapr/subscribe")
                result = subscribeStatus == 200 ? Results.Text(subscriptionsJson, "application/json") : Results.StatusCode(subscribeStatus);
            else
                result = answer is null ? Results.Ok() : await answer(received, Interlocked.Increment(ref posts));
            await result.ExecuteAsync(context);
        });
        await web.StartAsync();
        var address = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        self = new RawApp(web, new Uri(address));
        return self;
    }

    public static IResult Status(string status) => Results.Json(new { status });

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
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
        var builder = LoopbackApp.CreateBuilder();
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

/// <summary>A quiet web app on a free loopback port: the apps these tests put behind the sidecar start from it.</summary>
internal static class LoopbackApp
{
    public static WebApplicationBuilder CreateBuilder()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(LoopbackApp).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Production",
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        return builder;
    }
}
