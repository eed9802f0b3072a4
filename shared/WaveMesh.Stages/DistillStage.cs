using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Wave;

namespace WaveMesh.Stages;

/// <summary>The distiller: stage 1, templates and auxiliary scalers from a teacher.</summary>
public sealed class DistillStage : StageUnit<DistillTemplates>
{
    public override string Stage => StageNames.Distill;

    protected override IntegrationEvent Run(DistillTemplates job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var teacher = StageArtifacts.LoadModel(context, job.TeacherDigest);
        var data = context.Datasets.Load(job.Data);
        var aux = EngineMapping.Spec(job.Family, job.Auxiliary);
        var options = new DistillOptions { Schedule = EngineMapping.Schedule(job.Training), Temperature = job.Temperature, Seed = job.Seed };
        var result = Distillation.DistillTemplates(teacher, aux, EngineMapping.Config(job.Templates), data.Train, data.Normalization,
            context.Device, options, progress, cancellation);
        var stats = Stats(result.Training, clock, context, cancellation);
        var auxAccuracy = Evaluation.Run(new TemplatedVit(result.Templates, result.AuxScalers), data.Test, data.Normalization, context.Device).Accuracy;
        var templates = StageArtifacts.SaveTemplates(context, result.Templates, job.TeacherDigest);
        var scalers = StageArtifacts.SaveScalers(context, result.AuxScalers, templates);
        return new TemplatesDistilled(job.Key, job.TeacherDigest, templates, scalers, auxAccuracy,
            result.Templates.TemplateParameterCount, stats with { Seconds = clock.Elapsed.TotalSeconds });
    }
}
