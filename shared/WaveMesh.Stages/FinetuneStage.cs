using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Engine.Baselines;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Models;

namespace WaveMesh.Stages;

/// <summary>
/// The finetuner: stage 3, a plain ViT trained from its initialisation (a stored model such as WAVE's, timm's scratch
/// initialisation, or weight selection from a teacher). Teachers are trained by this stage too.
/// </summary>
public sealed class FinetuneStage : StageUnit<FinetuneTarget>
{
    /// <summary>Size of the fixed test subset the learning curve is measured on.</summary>
    public const int CurveExamples = 2000;

    public override string Stage => StageNames.Finetune;

    protected override IntegrationEvent Run(FinetuneTarget job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var spec = ModelMapping.Spec(job.Family, job.Target);
        using var model = job.Init.Kind switch
        {
            InitSource.Model => StageArtifacts.LoadModel(context, Required(job.Init)),
            InitSource.Scratch => VisionTransformer.Create(spec, job.Seed, context.Device),
            InitSource.WeightSelection => SelectFrom(context, Required(job.Init), spec),
            _ => throw new ArgumentException($"unknown initialisation '{job.Init.KindName}'"),
        };
        if (model.Spec != spec)
            throw new ArgumentException($"initial model is {model.Spec.Describe()}, the job asks for {spec.Describe()}");
        var data = context.Datasets.Load(job.Data, context.Store);
        var initDigest = job.Init.Kind == InitSource.Model
            ? job.Init.Digest!
            : StageArtifacts.SaveModel(context, model, StageArtifacts.TrainedOn(job.Data, data.Normalization,
                new Dictionary<string, string> { [MetadataKeys.Init] = job.Init.KindName }));

        // Noise relative to each matrix's RMS, added after the initialisation was stored (the init digest names the
        // unperturbed model) and seeded by the job, so a rerun is identical.
        if (job.Training.Perturb is > 0 and var perturb) Perturbation.Apply(model, perturb, job.Seed);

        var curve = new List<CurvePoint>();
        var curveSteps = Enumerable.Range(1, Math.Max(0, job.CurvePoints - 1))
            .Select(i => (int)Math.Round((double)i * job.Training.Steps / job.CurvePoints)).Where(s => s > 0).ToHashSet();
        using var curveData = curveSteps.Count > 0 ? data.Test.Subset(CurveExamples, seed: 0) : null;
        var training = Finetuning.Train(model, data.Train, data.Normalization, context.Device, EngineMapping.Schedule(job.Training), job.Seed,
            EngineMapping.Augmentation(job.Training.Augmentation), progress, cancellation, job.Method,
            afterStep: step =>
            {
                if (curveData is not null && curveSteps.Contains(step))
                    curve.Add(new CurvePoint(step, Evaluation.Run(model, curveData, data.Normalization, context.Device).Accuracy));
            });
        var stats = Stats(training, clock, context, cancellation);
        var digest = StageArtifacts.SaveModel(context, model, StageArtifacts.TrainedOn(job.Data, data.Normalization, new Dictionary<string, string>
        {
            [MetadataKeys.Method] = job.Method,
            [MetadataKeys.InitDigest] = initDigest,
            [MetadataKeys.Steps] = job.Training.Steps.ToString(),
        }));
        return new TargetFinetuned(job.Key, job.Target, job.Method, initDigest, digest, spec.ParameterCount, curve,
            stats with { Seconds = clock.Elapsed.TotalSeconds });
    }

    static VisionTransformer SelectFrom(StageContext context, string teacherDigest, VitSpec spec)
    {
        using var teacher = StageArtifacts.LoadModel(context, teacherDigest);
        return WeightSelection.Select(teacher, spec);
    }

    static string Required(InitSource init) =>
        init.Digest ?? throw new ArgumentException($"initialisation '{init.Kind}' needs an artifact digest");
}
