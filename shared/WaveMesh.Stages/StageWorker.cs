using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Stages;

/// <summary>
/// A stage worker on any bus: runs each job it is handed (once per job key, see <see cref="StageRunner"/>), publishes
/// progress while it runs and the result event when it ends. A failure the transport will not retry any more becomes
/// a <see cref="StageFailed"/> event with a one-line reason.
/// </summary>
public sealed class StageWorker(StageRunner runner, IEventBus bus)
{
    public StageRunner Runner => runner;

    /// <summary>Runs <paramref name="job"/>; when <paramref name="finalAttempt"/> is false a failure is rethrown for the transport to retry.</summary>
    public async Task HandleAsync(StageJob job, CancellationToken cancellation, int attempt = 1, bool finalAttempt = true)
    {
        IntegrationEvent result;
        try
        {
            result = await runner.RunAsync(job, p => _ = bus.PublishAsync(p, cancellation), cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (finalAttempt)
        {
            result = new StageFailed(job.Key, job.Stage, job.Describe(), Reason(e), attempt) { RunId = job.RunId, CausationId = job.Id };
        }
        await bus.PublishAsync(result, cancellation);
    }

    /// <summary>One line a person can act on: the exception's message, with its type when the message alone is not telling.</summary>
    public static string Reason(Exception e)
    {
        var inner = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : e;
        var message = inner.Message.ReplaceLineEndings(" ").Trim();
        return inner is ArgumentException or InvalidOperationException or IOException ? message : $"{inner.GetType().Name}: {message}";
    }
}
