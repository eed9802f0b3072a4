using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using WaveMesh.Observability;

namespace WaveMesh.Cli;

/// <summary>The control service's dashboard and ledger API, served from the embedded mode's own ledger.</summary>
sealed class DashboardServer : IAsyncDisposable
{
    readonly WebApplication app;

    DashboardServer(WebApplication app) => this.app = app;

    public string Url => app.Urls.First();

    public static async Task<DashboardServer> StartAsync(RunLedger ledger, int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapLedgerApi(ledger, new LedgerFeed(ledger));
        app.MapDashboard();
        await app.StartAsync();
        return new DashboardServer(app);
    }

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}
