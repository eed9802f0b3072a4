using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Wave;

namespace WaveMesh.Stages;

/// <summary>The scaler-trainer: stage 2, a target size's scalers with the templates frozen, and the model they make.</summary>
public sealed class ScalerStage : StageUnit<TrainScalers>
{
    public override string Stage => StageNames.Scalers;

    protected override IntegrationEvent Run(TrainScalers job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        using var teacher = StageArtifacts.LoadModel(context, job.TeacherDigest);
        using var templates = WaveFiles.LoadTemplates(StageArtifacts.Fetch(context, job.TemplatesDigest), context.Device).Templates;
        var target = templates.Family.WithSize(job.Target.Depth, job.Target.Width, job.Target.Heads);
        var init = job.Init switch
        {
            "resized" => ScalerInit.Resized,
            "random" => ScalerInit.Random,
            _ => throw new ArgumentException($"unknown scaler initialisation '{job.Init}': use resized or random"),
        };
        using var aux = init == ScalerInit.Resized ? WaveFiles.LoadScalers(StageArtifacts.Fetch(context, job.AuxScalersDigest), context.Device).Scalers : null;
        var data = context.Datasets.Load(job.Data);
        using var initial = ScalerTraining.InitialScalers(templates, target, init, aux, job.Seed);
        var options = new DistillOptions { Schedule = EngineMapping.Schedule(job.Training), Temperature = job.Temperature, Seed = job.Seed };
        var (scalers, training) = ScalerTraining.TrainScalers(teacher, templates, target, initial, data.Train, data.Normalization,
            context.Device, options, progress, cancellation);
        var stats = Stats(training, clock, context, cancellation);
        var scalersDigest = StageArtifacts.SaveScalers(context, scalers, job.TemplatesDigest);
        using var view = new TemplatedVit(templates, scalers);
        using var model = view.Materialize();
        var modelDigest = StageArtifacts.SaveModel(context, model, new Dictionary<string, string>
        {
            ["wavemesh.init"] = "wave",
            [MetadataKeys.TemplatesDigest] = job.TemplatesDigest,
            ["wavemesh.scalers_digest"] = scalersDigest,
        });
        return new ScalersTrained(job.Key, job.TemplatesDigest, job.Target, scalersDigest, modelDigest, scalers.ScalerCount,
            stats with { Seconds = clock.Elapsed.TotalSeconds });
    }
}
