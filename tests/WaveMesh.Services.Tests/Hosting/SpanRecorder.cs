using System.Collections.Concurrent;
using System.Diagnostics;

namespace WaveMesh.Services.Tests.Hosting;

/// <summary>One ended span, as a trace viewer would get it from the services' OpenTelemetry exporter.</summary>
public sealed record Span(ActivityTraceId TraceId, ActivitySpanId SpanId, ActivitySpanId ParentSpanId, string Source, string Name,
    IReadOnlyDictionary<string, string?> Tags)
{
    public string? Tag(string name) => Tags.TryGetValue(name, out var value) ? value : null;
}

/// <summary>
/// Records every span ended in the test process (WaveMesh's, ASP.NET Core's requests, HTTP and gRPC clients), for every
/// host. The services create their spans exactly as in production (their OpenTelemetry setup listens to the same
/// sources); this listener only collects them.
/// </summary>
public sealed class SpanRecorder : IDisposable
{
    readonly ConcurrentQueue<Span> spans = new();
    readonly ActivityListener listener;

    public SpanRecorder()
    {
        listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => spans.Enqueue(new Span(a.TraceId, a.SpanId, a.ParentSpanId, a.Source.Name, a.DisplayName,
                a.TagObjects.ToDictionary(t => t.Key, t => t.Value?.ToString()))),
        };
        ActivitySource.AddActivityListener(listener);
    }

    public IReadOnlyList<Span> All => [.. spans];

    public void Dispose() => listener.Dispose();
}
