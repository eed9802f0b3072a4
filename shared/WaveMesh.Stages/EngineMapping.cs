using WaveMesh.Contracts;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;

namespace WaveMesh.Stages;

/// <summary>Contract records (what travels in jobs and events) to the engine's training types; model shapes map in <see cref="ModelMapping"/>.</summary>
public static class EngineMapping
{
    public static TemplateConfig Config(TemplateSettings t) => new()
    {
        TemplateSize = t.Size, MatrixTemplates = t.Matrix, VectorTemplates = t.Vector, EmbeddingTemplates = t.Embedding,
        Carry = t.Carry is { } c
            ? new CarryConfig { Vectors = Carry(c.Vectors), PosEmbed = Carry(c.PosEmbed), ClsToken = Carry(c.ClsToken), PatchEmbed = Carry(c.PatchEmbed), Head = Carry(c.Head) }
            : new CarryConfig(),
    };

    static Engine.Wave.Carry Carry(Contracts.Carry c) => c switch
    {
        Contracts.Carry.Templated => Engine.Wave.Carry.Templated,
        Contracts.Carry.Scalers => Engine.Wave.Carry.Scalers,
        Contracts.Carry.Shared => Engine.Wave.Carry.Shared,
        _ => throw new ArgumentException($"unknown carry '{c}'"),
    };

    public static Engine.Wave.LearningRateScales Scales(Contracts.LearningRateScales? s) => s is null
        ? Engine.Wave.LearningRateScales.One
        : new() { Templates = s.Templates, Scalers = s.Scalers, Vectors = s.Vectors, Embeddings = s.Embeddings };

    public static Engine.Wave.ScalerInit Init(Contracts.ScalerInit i) =>
        i == Contracts.ScalerInit.Random ? Engine.Wave.ScalerInit.Random : Engine.Wave.ScalerInit.Resized;

    public static Engine.Wave.DepthMapping Depth(Contracts.DepthMapping? d) =>
        d == Contracts.DepthMapping.Nearest ? Engine.Wave.DepthMapping.Nearest : Engine.Wave.DepthMapping.Interpolate;

    public static Engine.Wave.WidthMapping Width(Contracts.WidthMapping? w) =>
        w == Contracts.WidthMapping.Select ? Engine.Wave.WidthMapping.Select : Engine.Wave.WidthMapping.Interpolate;

    public static Engine.Training.TrainSchedule Schedule(TrainSettings t) => new()
    {
        Steps = t.Steps, BatchSize = t.BatchSize, LearningRate = t.LearningRate, WeightDecay = t.WeightDecay, WarmupFraction = t.WarmupFraction,
        WarmupSteps = t.WarmupSteps,
    };

    public static Data.Augmentation Augmentation(Contracts.Augmentation a) => a switch
    {
        Contracts.Augmentation.None => Data.Augmentation.None,
        Contracts.Augmentation.CropFlip => Data.Augmentation.RandomCropFlip,
        _ => throw new ArgumentException($"unknown augmentation '{a}'"),
    };
}
