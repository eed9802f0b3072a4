using WaveMesh.Contracts;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;

namespace WaveMesh.Stages;

/// <summary>Contract records (what travels in jobs and events) to the engine's types and back.</summary>
public static class EngineMapping
{
    public static VitSpec Spec(ModelFamily family, ModelSize size) => new VitSpec
    {
        ImageSize = family.ImageSize, Channels = family.Channels, PatchSize = family.PatchSize, MlpRatio = family.MlpRatio,
        Classes = family.Classes, Pooling = family.Pooling == "mean" ? Pooling.Mean : Pooling.Token,
        Depth = size.Depth, Width = size.Width, Heads = size.Heads,
    }.Validated();

    public static TemplateConfig Config(TemplateSettings t) => new()
    {
        TemplateSize = t.Size, MatrixTemplates = t.Matrix, VectorTemplates = t.Vector, EmbeddingTemplates = t.Embedding,
    };

    public static Engine.Training.TrainSchedule Schedule(TrainSettings t) => new()
    {
        Steps = t.Steps, BatchSize = t.BatchSize, LearningRate = t.LearningRate, WeightDecay = t.WeightDecay, WarmupFraction = t.WarmupFraction,
    };

    public static Data.Augmentation Augmentation(string name) => name switch
    {
        "none" => Data.Augmentation.None,
        "crop_flip" => Data.Augmentation.RandomCropFlip,
        _ => throw new ArgumentException($"unknown augmentation '{name}': use none or crop_flip"),
    };

    public static ModelSize Size(VitSpec s) => new(s.Depth, s.Width, s.Heads);

    public static ModelFamily Family(VitSpec s) =>
        new(s.ImageSize, s.Channels, s.PatchSize, s.MlpRatio, s.Classes, s.Pooling == Pooling.Mean ? "mean" : "token");
}
