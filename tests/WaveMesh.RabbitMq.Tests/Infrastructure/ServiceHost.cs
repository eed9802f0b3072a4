using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using WaveMesh.Stages;
using WaveMesh.Testing;

namespace WaveMesh.RabbitMq.Tests.Infrastructure;

/// <summary>One running service (its real Program.cs) with a name for logs and a way to stop it.</summary>
public interface IServiceHost : IAsyncDisposable
{
    string Name { get; }
    IServiceProvider Services { get; }
    bool Stopped { get; }
}

/// <summary>
/// A service's real Program.cs, found through <typeparamref name="TMarker"/>'s assembly, hosted in this process by
/// WebApplicationFactory. The given settings win over the service's appsettings.json. MassTransit needs no inbound HTTP;
/// the control API is called through <see cref="WebApplicationFactory{TEntryPoint}.CreateClient()"/>.
/// </summary>
public sealed class ServiceHost<TMarker>(string name, IReadOnlyDictionary<string, string?> settings, LogSink logs)
    : WebApplicationFactory<TMarker>, IServiceHost where TMarker : class
{
    int stopped;

    public string Name { get; } = name;
    public bool Stopped => stopped == 1;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        ServiceHosting.Configure(builder, Name, settings, logs, "MassTransit");
        builder.ConfigureTestServices(services =>
        {
            // A fresh prefix has no queues yet: the host is started only once its receive endpoints are bound, so no
            // job published right after start-up is routed nowhere.
            services.Configure<MassTransitHostOptions>(o =>
            {
                o.WaitUntilStarted = true;
                o.StartTimeout = TimeSpan.FromSeconds(60);
                o.StopTimeout = TimeSpan.FromSeconds(15);
            });
            ShareDatasets(services);
        });
    }

    /// <summary>
    /// The worker's own StageContext (as its Program.cs builds it: store, device, name, scratch folder), except that
    /// Fashion-MNIST is loaded once per test process instead of once per service: decoding it takes seconds on these
    /// machines, and every test starts four or more workers.
    /// </summary>
    static void ShareDatasets(IServiceCollection services)
    {
        var original = services.LastOrDefault(d => d.ServiceType == typeof(StageContext));
        if (original?.ImplementationFactory is not { } factory) return;
        services.Remove(original);
        services.AddSingleton(sp =>
        {
            var own = (StageContext)factory(sp);
            return new StageContext { Store = own.Store, Datasets = SharedData.Datasets, Device = own.Device, Worker = own.Worker, WorkDirectory = own.WorkDirectory };
        });
    }

    /// <summary>Builds and starts the host (its bus included).</summary>
    public ServiceHost<TMarker> Start()
    {
        _ = Services;
        return this;
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref stopped, 1) == 1) return;
        await base.DisposeAsync();
    }

    public override string ToString() => Name;
}

/// <summary>Datasets shared by every worker and the teacher of this test process.</summary>
public static class SharedData
{
    public static readonly Datasets Datasets = new();
}
