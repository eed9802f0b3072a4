using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;
using static TorchSharp.torch;

namespace WaveMesh.Stages;

/// <summary>The scaler-trainer: stage 2, a target size's scalers with the templates frozen, and the model they make.</summary>
public sealed class ScalerStage : StageUnit<TrainScalers>
{
    public override string Stage => StageNames.Scalers;

    protected override IntegrationEvent Run(TrainScalers job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        using var templates = WaveFiles.LoadTemplates(StageArtifacts.Fetch(context, job.TemplatesDigest), context.Device).Templates;
        var target = templates.Family.WithSize(job.Target.Depth, job.Target.Width, job.Target.Heads);
        var init = EngineMapping.Init(job.Init);
        bool imitateAux = job.Reference == ScalerReference.Auxiliary;
        using var aux = init == Engine.Wave.ScalerInit.Resized || imitateAux
            ? WaveFiles.LoadScalers(StageArtifacts.Fetch(context, job.AuxScalersDigest), context.Device).Scalers
            : null;
        // The model whose logits the scalers imitate: the teacher, or the auxiliary model the templates were distilled into.
        using nn.Module<Tensor, Tensor> reference = imitateAux ? new TemplatedVit(templates, aux!) : StageArtifacts.LoadModel(context, job.TeacherDigest);
        var data = context.Datasets.Load(job.Data, context.Store);
        using var initial = ScalerTraining.InitialScalers(templates, target, init, aux, job.Seed, EngineMapping.Depth(job.Depth), EngineMapping.Width(job.Width));
        var options = new DistillOptions
        {
            Schedule = EngineMapping.Schedule(job.Training), Temperature = job.Temperature, Seed = job.Seed, Scales = EngineMapping.Scales(job.Scales),
            Augmentation = EngineMapping.Augmentation(job.Training.Augmentation),
        };
        using var referenceLogits = ReferenceLogits.Get(context, imitateAux ? $"auxiliary {job.TemplatesDigest} {job.AuxScalersDigest}" : $"teacher {job.TeacherDigest}",
            job.Data, data, reference, job.Training.Augmentation);
        var (scalers, training) = ScalerTraining.TrainScalers(reference, templates, target, initial, data.Train, data.Normalization,
            context.Device, options, progress, cancellation, referenceLogits);
        var stats = Stats(training, clock, context, cancellation);
        var scalersDigest = StageArtifacts.SaveScalers(context, scalers, job.TemplatesDigest);
        using var view = new TemplatedVit(templates, scalers);
        using var model = view.Materialize();
        var modelDigest = StageArtifacts.SaveModel(context, model, StageArtifacts.TrainedOn(job.Data, data.Normalization, new Dictionary<string, string>
        {
            [MetadataKeys.Init] = "wave",
            [MetadataKeys.TemplatesDigest] = job.TemplatesDigest,
            [MetadataKeys.ScalersDigest] = scalersDigest,
        }));
        return new ScalersTrained(job.Key, job.TemplatesDigest, job.Target, scalersDigest, modelDigest, scalers.ScalerCount,
            stats with { Seconds = clock.Elapsed.TotalSeconds });
    }
}
