using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace WaveMesh.Testing;

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

/// <summary>
/// What every in-process host of a real service's Program.cs does in the tests (Dapr and RabbitMQ alike): the
/// Production environment, the test's settings added last so they win over appsettings.json, and log lines (Information
/// and up; framework categories at Warning) into the test's <see cref="LogSink"/>, named after the host.
/// </summary>
public static class ServiceHosting
{
    public static void Configure(IWebHostBuilder builder, string name, IReadOnlyDictionary<string, string?> settings, LogSink logs,
        params string[] quietCategories)
    {
        builder.UseEnvironment("Production");
        foreach (var (key, value) in settings) builder.UseSetting(key, value);
        builder.ConfigureAppConfiguration(c => c.AddInMemoryCollection(settings));
        builder.ConfigureLogging(l =>
        {
            l.ClearProviders();
            l.AddProvider(new SinkProvider(name, logs));
            l.SetMinimumLevel(LogLevel.Information);
            foreach (var category in (string[])["Microsoft", "System", .. quietCategories]) l.AddFilter(category, LogLevel.Warning);
        });
    }

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
