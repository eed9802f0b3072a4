using WaveMesh.Data;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;

namespace WaveMesh.Engine.Tests;

/// <summary>Small models and data that keep the suite fast on two CPU cores.</summary>
static class Tiny
{
    public static readonly VitSpec Family = new() { ImageSize = 28, Channels = 1, PatchSize = 7, Depth = 2, Width = 32, Heads = 2, MlpRatio = 2, Classes = 10 };
    public static readonly TemplateConfig Templates = new() { TemplateSize = 16, MatrixTemplates = 4, VectorTemplates = 2, EmbeddingTemplates = 4 };

    public static string TempFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "wavemesh-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    static readonly Lazy<TrainingData> fashion = new(() =>
    {
        var train = FashionMnist.Load(null, train: true);
        var test = FashionMnist.Load(null, train: false);
        return TrainingData.From(train, test);
    });

    /// <summary>Fashion-MNIST, loaded once per test run.</summary>
    public static TrainingData Fashion => fashion.Value;
}

static class TensorAssertions
{
    /// <summary>Same shape and bit-identical values.</summary>
    public static bool Same(this TorchSharp.torch.Tensor a, TorchSharp.torch.Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
