using WaveMesh.Data;
using WaveMesh.Engine.Training;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Wave;

/// <summary>Options shared by the two distillation stages.</summary>
public sealed record DistillOptions
{
    public TrainSchedule Schedule { get; init; } = new() { Steps = 1000, LearningRate = 5e-4, WeightDecay = 0.05 };
    public double Temperature { get; init; } = 1.0;
    public long Seed { get; init; } = 0;
    /// <summary>Learning-rate multipliers per parameter group.</summary>
    public LearningRateScales Scales { get; init; } = LearningRateScales.One;
    /// <summary>Augmentation of the training images; with any, the reference model answers every batch afresh.</summary>
    public Augmentation Augmentation { get; init; } = Augmentation.None;
}

public sealed record DistillResult(TemplateSet Templates, ScalerSet AuxScalers, TrainResult Training);

/// <summary>
/// Stage 1: templates and the auxiliary model's scalers are trained together so that the auxiliary model, built
/// entirely from templates, imitates the teacher (KL at temperature tau + cross-entropy).
/// </summary>
public static class Distillation
{
    /// <param name="teacherLogits">The teacher's logits for every sample of <paramref name="train"/>, in order, when the
    /// caller has them (used only without augmentation); computed here when null.</param>
    public static DistillResult DistillTemplates(nn.Module<Tensor, Tensor> teacher, VitSpec auxSpec, TemplateConfig config,
        ImageDataset train, Normalization normalization, Device device, DistillOptions options,
        IProgress<StepReport>? progress = null, CancellationToken cancellation = default, Tensor? teacherLogits = null)
    {
        config.Check(auxSpec);
        var templates = TemplateSet.Create(auxSpec, config, options.Seed, device);
        var aux = ScalerSet.Random(auxSpec, templates, options.Seed + 1);
        using var model = new TemplatedVit(templates, aux);
        var groups = WaveParameters.ForDistillation(templates, aux, options.Scales, options.Schedule.WeightDecay);
        var result = FitToTeacher("distil", model, groups, teacher, train, normalization, device, options, progress, cancellation, teacherLogits);
        // The auxiliary head bias becomes the templates' size-free head bias that new targets start from.
        using (no_grad()) templates.Tensors()["head.bias"].copy_(aux.Tensors()["head.bias"]);
        return new DistillResult(templates, aux, result);
    }

    /// <summary>Trains <paramref name="groups"/> of <paramref name="student"/> with the distillation loss against <paramref name="teacher"/>'s logits.</summary>
    internal static TrainResult FitToTeacher(string stage, nn.Module<Tensor, Tensor> student, IReadOnlyList<ParameterGroup> groups,
        nn.Module<Tensor, Tensor> teacher, ImageDataset train, Normalization normalization, Device device, DistillOptions options,
        IProgress<StepReport>? progress, CancellationToken cancellation, Tensor? teacherLogits)
    {
        var loader = new BatchLoader(train, options.Schedule.BatchSize, shuffle: true, options.Seed, normalization, device, dropLast: true, options.Augmentation);
        if (options.Augmentation != Augmentation.None)
        {
            teacher.eval();
            return Trainer.Run(stage, student, groups, loader, options.Schedule, (logits, labels, _, inputs) =>
            {
                Tensor reference;
                using (no_grad()) reference = teacher.forward(inputs);
                return Losses.Distillation(logits, reference, labels, options.Temperature);
            }, progress, cancellation);
        }
        // Without augmentation the teacher's answer for a sample never changes: computed once (or given), not every epoch.
        if (teacherLogits is not null && (teacherLogits.dim() != 2 || teacherLogits.shape[0] != train.Count))
            throw new ArgumentException($"{stage}: the given teacher logits have shape [{string.Join(", ", teacherLogits.shape)}], not one row for each of the {train.Count} training images");
        using var computed = teacherLogits is null ? Evaluation.Logits(teacher, train, normalization, device) : null;
        var reference = teacherLogits ?? computed!;
        return Trainer.Run(stage, student, groups, loader, options.Schedule,
            (logits, labels, indices, _) => Losses.Distillation(logits, reference.index_select(0, indices), labels, options.Temperature),
            progress, cancellation);
    }
}
