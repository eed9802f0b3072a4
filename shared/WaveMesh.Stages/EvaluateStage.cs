using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Engine.Training;

namespace WaveMesh.Stages;

/// <summary>The evaluator: test accuracy and loss of a stored model.</summary>
public sealed class EvaluateStage : StageUnit<EvaluateModel>
{
    public override string Stage => StageNames.Evaluate;

    protected override IntegrationEvent Run(EvaluateModel job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        using var model = StageArtifacts.LoadModel(context, job.ModelDigest);
        var data = context.Datasets.Load(job.Data, context.Store);
        cancellation.ThrowIfCancellationRequested();
        var result = Evaluation.Run(model, data.Test, data.Normalization, context.Device);
        double seconds = clock.Elapsed.TotalSeconds;
        return new TargetEvaluated(job.Key, job.ModelDigest, job.Subject, result.Accuracy, result.Loss, result.Count,
            new StageStats(0, seconds, result.Count / Math.Max(seconds, 1e-9), false, context.Worker));
    }
}
