using WaveMesh.Data;
using WaveMesh.Engine.Vit;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Training;

/// <summary>Stage 3 (and training a teacher or a scratch baseline): a plain ViT trained with cross-entropy.</summary>
public static class Finetuning
{
    public static TrainResult Train(VisionTransformer model, ImageDataset train, Normalization normalization, Device device,
        TrainSchedule schedule, long seed, Augmentation augmentation = Augmentation.None,
        IProgress<StepReport>? progress = null, CancellationToken cancellation = default, string stage = "finetune",
        Action<int>? afterStep = null)
    {
        var loader = new BatchLoader(train, schedule.BatchSize, shuffle: true, seed, normalization, device, dropLast: true, augmentation);
        return Trainer.Run(stage, model, Trainer.DecayGroups(model, schedule.WeightDecay), loader, schedule,
            (logits, labels, _, _) => Losses.CrossEntropy(logits, labels), progress, cancellation, afterStep);
    }
}
