using WaveMesh.Contracts;

namespace WaveMesh.Models;

/// <summary>A model's shape as contracts carry it (family and size) and as a <see cref="VitSpec"/>, both ways.</summary>
public static class ModelMapping
{
    public static VitSpec Spec(ModelFamily family, ModelSize size) => new VitSpec
    {
        ImageSize = family.ImageSize, Channels = family.Channels, PatchSize = family.PatchSize, MlpRatio = family.MlpRatio,
        Classes = family.Classes, Pooling = family.Pooling == Contracts.Pooling.Mean ? Pooling.Mean : Pooling.Token,
        Depth = size.Depth, Width = size.Width, Heads = size.Heads,
    }.Validated();

    public static ModelSize Size(VitSpec s) => new(s.Depth, s.Width, s.Heads);

    public static ModelFamily Family(VitSpec s) =>
        new(s.ImageSize, s.Channels, s.PatchSize, s.MlpRatio, s.Classes, s.Pooling == Pooling.Mean ? Contracts.Pooling.Mean : Contracts.Pooling.Token);
}
