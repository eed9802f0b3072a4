using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using WaveMesh.Transport.Dapr;

namespace WaveMesh.Hosting;

/// <summary>The broker a service talks through, chosen at start-up by WaveMesh:Transport.</summary>
public static class Transport
{
    public const string Key = "WaveMesh:Transport";
    public const string Dapr = "dapr";
    public static readonly string[] Known = [Dapr];

    public static string Selected(WebApplicationBuilder builder)
    {
        var name = (builder.Configuration[Key] ?? Dapr).Trim().ToLowerInvariant();
        return Known.Contains(name) ? name
            : throw new InvalidOperationException($"{Key} is '{name}': use one of {string.Join(", ", Known)}");
    }

    /// <summary>Registers the selected transport's bus, artifact store, leases and dead letters.</summary>
    public static WebApplicationBuilder AddWaveMeshTransport(this WebApplicationBuilder builder)
    {
        switch (Selected(builder))
        {
            case Dapr:
                builder.Services.AddDaprTransport(builder.Configuration);
                break;
        }
        return builder;
    }

    /// <summary>The selected transport's inbound side: Dapr's CloudEvents middleware, subscription discovery and the app token check.</summary>
    public static WebApplication UseWaveMeshTransport(this WebApplication app)
    {
        if (Selected(app) == Dapr)
        {
            app.UseAppApiToken();
            app.UseDaprSubscriptions();
        }
        return app;
    }

    static string Selected(WebApplication app) => (app.Configuration[Key] ?? Dapr).Trim().ToLowerInvariant();
}
