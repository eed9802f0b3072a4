using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WaveMesh.Observability;

namespace WaveMesh.Dashboard.Tests;

/// <summary>The real ledger API and the embedded dashboard on a free loopback port, as the Control service serves them.</summary>
public sealed class DashboardServer : IAsyncDisposable
{
    readonly WebApplication app;

    DashboardServer(WebApplication app, RunLedger ledger)
    {
        this.app = app;
        Ledger = ledger;
    }

    public RunLedger Ledger { get; }

    /// <summary>The base address, e.g. http://127.0.0.1:41234/.</summary>
    public string Url => app.Urls.First().TrimEnd('/') + "/";

    /// <summary>Serves <paramref name="ledger"/> on 127.0.0.1, on a free port unless <paramref name="port"/> is given.</summary>
    public static async Task<DashboardServer> StartAsync(RunLedger ledger, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        // Open event streams end when the browser closes; never wait long for them.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var app = builder.Build();
        app.MapLedgerApi(ledger, new LedgerFeed(ledger));
        app.MapDashboard();
        await app.StartAsync();
        return new DashboardServer(app, ledger);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
