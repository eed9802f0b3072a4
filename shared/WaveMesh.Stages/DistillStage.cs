using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;

namespace WaveMesh.Stages;

/// <summary>The distiller: stage 1, templates and auxiliary scalers from a teacher.</summary>
public sealed class DistillStage : StageUnit<DistillTemplates>
{
    /// <summary>Record naming the auxiliary scalers and teacher of a templates artifact.</summary>
    public static string AuxScalersRecord(string templatesDigest) => $"templates/{templatesDigest}";

    public override string Stage => StageNames.Distill;

    protected override IntegrationEvent Run(DistillTemplates job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        using var teacher = StageArtifacts.LoadModel(context, job.TeacherDigest);
        var data = context.Datasets.Load(job.Data, context.Store);
        var aux = ModelMapping.Spec(job.Family, job.Auxiliary);
        var options = new DistillOptions
        {
            Schedule = EngineMapping.Schedule(job.Training), Temperature = job.Temperature, Seed = job.Seed,
            Scales = EngineMapping.Scales(job.Scales), Augmentation = EngineMapping.Augmentation(job.Training.Augmentation),
        };
        using var teacherLogits = ReferenceLogits.Get(context, $"teacher {job.TeacherDigest}", job.Data, data, teacher, job.Training.Augmentation);
        var result = Distillation.DistillTemplates(teacher, aux, EngineMapping.Config(job.Templates), data.Train, data.Normalization,
            context.Device, options, progress, cancellation, teacherLogits);
        using var templatesModule = result.Templates;
        using var auxScalers = result.AuxScalers;
        var stats = Stats(result.Training, clock, context, cancellation);
        using var auxModel = new TemplatedVit(result.Templates, result.AuxScalers);
        var auxAccuracy = Evaluation.Run(auxModel, data.Test, data.Normalization, context.Device).Accuracy;
        var templates = StageArtifacts.SaveTemplates(context, result.Templates, job.TeacherDigest);
        var scalers = StageArtifacts.SaveScalers(context, result.AuxScalers, templates);
        // Lets a later "init" that has only the templates find the auxiliary scalers to resize from.
        context.Records.SetRecordAsync(AuxScalersRecord(templates), ContractJson.Serialize(new AuxScalersIndex(scalers, job.TeacherDigest))).GetAwaiter().GetResult();
        return new TemplatesDistilled(job.Key, job.TeacherDigest, templates, scalers, auxAccuracy,
            result.Templates.TemplateParameterCount, stats with { Seconds = clock.Elapsed.TotalSeconds });
    }
}

/// <summary>What the store knows about a templates artifact beyond its file: its auxiliary scalers and its teacher.</summary>
public sealed record AuxScalersIndex(string AuxScalersDigest, string TeacherDigest);
