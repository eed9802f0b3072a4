using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using WaveMesh.Testing;

namespace WaveMesh.Services.Tests.Hosting;

/// <summary>One running service: its app-id, replica name and the address its Kestrel listens on.</summary>
public interface IServiceHost : IAsyncDisposable
{
    string AppId { get; }
    string Name { get; }
    Uri BaseAddress { get; }
    IServiceProvider Services { get; }
}

/// <summary>
/// A service's real Program.cs (found through <typeparamref name="TMarker"/>'s assembly) hosted by WebApplicationFactory on
/// real Kestrel at 127.0.0.1 with an ephemeral port, so the sidecar can call it over HTTP like daprd calls its app. The
/// given settings are added last, so they win over the service's appsettings.json.
/// </summary>
public sealed class ServiceHost<TMarker> : WebApplicationFactory<TMarker>, IServiceHost where TMarker : class
{
    readonly IReadOnlyDictionary<string, string?> settings;
    readonly LogSink logs;
    Uri? baseAddress;

    public ServiceHost(string appId, string name, IReadOnlyDictionary<string, string?> settings, LogSink logs)
    {
        AppId = appId;
        Name = name;
        this.settings = settings;
        this.logs = logs;
        UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
    }

    public string AppId { get; }
    public string Name { get; }
    public Uri BaseAddress => baseAddress ?? throw new InvalidOperationException($"{Name} is not started");

    protected override void ConfigureWebHost(IWebHostBuilder builder) => ServiceHosting.Configure(builder, Name, settings, logs, "Grpc");

    /// <summary>Builds the host, starts Kestrel and reads the port it got.</summary>
    public void Start()
    {
        StartServer();
        var addresses = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        baseAddress = new Uri(addresses.Single(a => a.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)));
    }

    public override string ToString() => $"{AppId}/{Name} at {baseAddress}";
}
