using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Engine.Training;

namespace WaveMesh.Stages;

/// <summary>One stage of the pipeline: takes a job and its input artifacts, returns the event that names its outputs. Knows no transport.</summary>
public interface IStageUnit
{
    string Stage { get; }
    Type JobType { get; }
    Task<IntegrationEvent> RunAsync(StageJob job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation);
}

/// <summary>Base of the four stages: runs the engine's synchronous code on a thread of its own.</summary>
public abstract class StageUnit<TJob> : IStageUnit where TJob : StageJob
{
    public abstract string Stage { get; }
    public Type JobType => typeof(TJob);

    public Task<IntegrationEvent> RunAsync(StageJob job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation) =>
        Task.Factory.StartNew(() =>
        {
            Directory.CreateDirectory(context.WorkDirectory);
            return Run((TJob)job, context, progress, cancellation);
        }, cancellation, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    protected abstract IntegrationEvent Run(TJob job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation);

    /// <summary>Stats of a training stage; the stage throws if training was cancelled, so nothing half-done is recorded.</summary>
    protected static StageStats Stats(TrainResult training, Stopwatch clock, StageContext context, CancellationToken cancellation)
    {
        if (training.Cancelled) cancellation.ThrowIfCancellationRequested();
        return new StageStats(training.Steps, clock.Elapsed.TotalSeconds, training.ExamplesPerSecond, false, context.Worker);
    }
}
