using WaveMesh.Data;
using WaveMesh.Engine.Training;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Wave;

/// <summary>
/// Stage 2: a new size's scalers (and the parameters it owns as they are) are fitted to a reference model (the
/// teacher or the auxiliary model) on a small subset, with the templates frozen.
/// </summary>
public static class ScalerTraining
{
    public static readonly DistillOptions Defaults = new()
    {
        Schedule = new TrainSchedule { Steps = 300, LearningRate = 3e-3, WeightDecay = 0, WarmupFraction = 0.05 },
    };

    /// <summary>The target's starting scalers: resized from the auxiliary scalers when given and asked for, else random.</summary>
    public static ScalerSet InitialScalers(TemplateSet templates, VitSpec target, ScalerInit init, ScalerSet? auxScalers, long seed,
        DepthMapping depth = DepthMapping.Interpolate, WidthMapping width = WidthMapping.Interpolate) =>
        init == ScalerInit.Resized && auxScalers is not null
            ? ScalerSet.Resized(auxScalers, target, templates, depth, width)
            : init == ScalerInit.Resized
                ? throw new ArgumentException("resized scaler initialisation needs the auxiliary scalers")
                : ScalerSet.Random(target, templates, seed);

    /// <param name="referenceLogits">The reference's logits for every sample of <paramref name="subset"/>, in order, when the
    /// caller has them (used only without augmentation); computed here when null.</param>
    public static (ScalerSet Scalers, TrainResult Training) TrainScalers(nn.Module<Tensor, Tensor> reference, TemplateSet templates,
        VitSpec target, ScalerSet initial, ImageDataset subset, Normalization normalization, Device device, DistillOptions options,
        IProgress<StepReport>? progress = null, CancellationToken cancellation = default, Tensor? referenceLogits = null)
    {
        if (initial.Target != target) throw new ArgumentException($"initial scalers are for {initial.Target.Describe()}, not {target.Describe()}");
        var groups = WaveParameters.ForScalers(initial, options.Scales, options.Schedule.WeightDecay);
        var trained = groups.SelectMany(g => g.Parameters).ToHashSet(ReferenceEqualityComparer.Instance);
        // Templates, and whatever the groups leave out, get no gradient at all (not merely no update).
        var frozen = templates.parameters().Concat(initial.parameters()).Where(p => !trained.Contains(p)).Select(p => (p, p.requires_grad)).ToList();
        foreach (var (p, _) in frozen) p.requires_grad = false;
        try
        {
            using var model = new TemplatedVit(templates, initial);
            var result = Distillation.FitToTeacher("scalers", model, groups, reference, subset, normalization, device, options, progress, cancellation, referenceLogits);
            return (initial, result);
        }
        finally
        {
            foreach (var (p, was) in frozen) p.requires_grad = was;
        }
    }
}
