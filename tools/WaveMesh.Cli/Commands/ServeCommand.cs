using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WaveMesh.ControlPlane;
using WaveMesh.Data;
using WaveMesh.ServiceDefaults;
using WaveMesh.StageHosting;
using WaveMesh.Stages;

namespace WaveMesh.Cli.Commands;

/// <summary>
/// <c>wavemesh serve</c>: the control plane and the four stage workers in one process, over the in-process transport
/// (bus, leases) and a file store; the same HTTP API, dashboard and token rules as the control service.
/// </summary>
static class ServeCommand
{
    static readonly Option<string> Store = new("--store") { Description = "Folder of the artifact and record store", DefaultValueFactory = _ => Path.Combine(".wavemesh", "store") };
    static readonly Option<int> Port = new("--port") { Description = "HTTP port of the API and dashboard", DefaultValueFactory = _ => 5080 };
    static readonly Option<string> Host = new("--host") { Description = "Address to listen on (0.0.0.0 for every interface)", DefaultValueFactory = _ => "127.0.0.1" };
    static readonly Option<string?> Token = new("--token") { Description = "Bearer token every mutating call must carry (default: $WAVEMESH_TOKEN; none: open)" };
    static readonly Option<int> Slots = new("--slots") { Description = "Jobs run at once", DefaultValueFactory = _ => 1 };

    public static Command Create()
    {
        var command = new Command("serve", "Run the control plane and the four stage workers in one process: the REST API, the dashboard and the model registry")
        {
            Store, Port, Host, Token, Slots, CliContext.Device, CliContext.Threads, CliContext.Data,
        };
        command.SetAction((parse, _) => Serve(parse));
        return command;
    }

    static async Task<int> Serve(ParseResult parse)
    {
        var store = Path.GetFullPath(parse.GetValue(Store)!);
        int port = parse.GetValue(Port);
        if (port is < 0 or > 65535) throw new CliUsageException($"--port {port} is not a TCP port");
        if (parse.GetValue(Slots) < 1) throw new CliUsageException("--slots must be at least 1");
        var token = parse.GetValue(Token) ?? Environment.GetEnvironmentVariable("WAVEMESH_TOKEN");
        Directory.CreateDirectory(store);

        var settings = new Dictionary<string, string?>
        {
            [Hosting.Transport.Key] = Hosting.Transport.InProcess,
            [Hosting.Transport.FileStoreKey] = store,
            ["WaveMesh:Control:ApiToken"] = string.IsNullOrWhiteSpace(token) ? null : token,
            ["WaveMesh:Control:UploadDirectory"] = Path.Combine(store, "uploads"),
            // Nothing is lost between a publication and its handler in one process: look for stalled jobs rarely.
            ["WaveMesh:Control:WatchdogInterval"] = "00:00:30",
            ["WaveMesh:Worker:Name"] = $"{Environment.MachineName}/serve",
            ["WaveMesh:Worker:Slots"] = parse.GetValue(Slots).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WaveMesh:Worker:Device"] = parse.GetValue(CliContext.Device),
            ["WaveMesh:Worker:Threads"] = parse.GetValue(CliContext.Threads).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WaveMesh:Worker:WorkDirectory"] = Path.Combine(store, "work"),
            // Jobs wait their turn for the one device; nothing else could take them.
            ["WaveMesh:Worker:SlotWait"] = "1.00:00:00",
            ["WaveMesh:Worker:MaxAttempts"] = "2",
            ["WaveMesh:Worker:RetryDelay"] = "00:00:01",
            // The control plane registers its copy of the data set as an artifact; jobs carry its digest, not this path.
            [$"WaveMesh:Control:DataPaths:{Datasets.FashionMnistName}"] = parse.GetValue(CliContext.Data) ?? FashionMnist.DefaultRoot,
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Microsoft"] = "Warning",
            ["Logging:LogLevel:System"] = "Warning",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") ?? "",
        };
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls($"http://{parse.GetValue(Host)}:{port}");
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.AddServiceDefaults();
        // One line per message, no scopes: this is a terminal, not a log pipeline.
        builder.Logging.AddSimpleConsole(o => { o.IncludeScopes = false; o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.AddControlPlane();
        builder.AddStageWorker(StageRunner.AllStages());

        await using var app = builder.Build();
        app.MapControlPlane();
        app.MapStageWorker();
        app.MapDefaultEndpoints();
        await app.StartAsync(CliContext.Cancellation);
        Console.WriteLine($"WaveMesh serving on {string.Join(", ", app.Urls)} (store {store}; " +
                          $"{(token is null ? "no token: every call is allowed" : "mutations need Authorization: Bearer <token>")}). Ctrl-C stops.");
        Console.WriteLine($"  dashboard: {app.Urls.First()}/   API: {app.Urls.First()}/api/   OpenAPI: {app.Urls.First()}/openapi/v1.json");
        // Ctrl-C (the CLI's token) or SIGTERM (the host's lifetime) stops it; unfinished runs resume at the next start.
        app.Lifetime.ApplicationStopping.Register(() => Console.WriteLine("wavemesh serve: stopping (unfinished runs resume when it starts again on this store)"));
        await app.WaitForShutdownAsync(CliContext.Cancellation);
        return 0;
    }
}
