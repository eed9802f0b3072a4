using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        foreach (var (key, value) in settings) builder.UseSetting(key, value);
        builder.ConfigureAppConfiguration(c => c.AddInMemoryCollection(settings));
        builder.ConfigureLogging(l =>
        {
            l.ClearProviders();
            l.AddProvider(new SinkProvider(Name, logs));
            l.SetMinimumLevel(LogLevel.Information);
            l.AddFilter("Microsoft", LogLevel.Warning);
            l.AddFilter("System", LogLevel.Warning);
            l.AddFilter("Grpc", LogLevel.Warning);
        });
    }

    /// <summary>Builds the host, starts Kestrel and reads the port it got.</summary>
    public void Start()
    {
        StartServer();
        var addresses = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        baseAddress = new Uri(addresses.Single(a => a.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)));
    }

    public override string ToString() => $"{AppId}/{Name} at {baseAddress}";

    sealed class SinkProvider(string host, LogSink sink) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(host, categoryName, sink);
        public void Dispose() { }
    }

    sealed class Logger(string host, string category, LogSink sink) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = formatter(state, exception);
            if (exception is not null)
                text += $" ({exception.GetType().Name}: {exception.Message.ReplaceLineEndings(" ")}" +
                        $" at {string.Join(" < ", (exception.StackTrace ?? "").Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("at WaveMesh", StringComparison.Ordinal)).Take(4))})";
            sink.Add($"{DateTime.UtcNow:HH:mm:ss.fff} [{host}] {logLevel} {category.Split('.').Last()}: {text}");
        }
    }
}

/// <summary>Log lines of every host of a test, to print when a test wants to show what happened.</summary>
public sealed class LogSink
{
    readonly ConcurrentQueue<string> lines = new();

    public void Add(string line)
    {
        lines.Enqueue(line);
        while (lines.Count > 20_000 && lines.TryDequeue(out _)) { }
    }

    public IReadOnlyList<string> Lines => [.. lines];
}
